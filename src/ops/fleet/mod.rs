//! Fleets of the `clusters` shape (and microk8s `hosts`): many environments from one
//! configuration, run concurrently in one process. The `namespaces` shape is one environment and
//! does not come here.

mod members;
mod record;
mod run;
mod shared;
mod view;

pub use members::{expand, member_name, uses_shared, Member, SHARED_SUFFIX};
pub use record::{load as load_record, FleetRecord};
pub use run::{down, members_for_up, members_known, only, status, up, FleetArgs, Shown};
pub use shared::known as shared_known;
