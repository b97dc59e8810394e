//! Fleets of the `clusters` shape (and microk8s `hosts`): many environments from one
//! configuration, run concurrently in one process. The `namespaces` shape is one environment and
//! does not come here.

mod members;
mod network;
mod record;
mod run;
mod view;

pub use members::{expand, member_name, uses_network, Member};
pub use network::known as network_known;
pub use record::{load as load_record, FleetRecord};
pub use run::{down, members_for_up, members_known, only, status, up, FleetArgs, Shown};
