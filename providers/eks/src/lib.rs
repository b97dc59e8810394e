//! kat's AWS provider. One component per role of the graph; each file holds one kind of AWS
//! resource and follows kops' model: find the actual resource by name and tags, diff it against
//! the desired one, converge. `down` finds everything again by name and tags, so it needs no local
//! state, and ends with what Kubernetes made behind kat's back (load balancers, volumes, ENIs).

mod calls;
mod clients;
mod cluster;
mod credentials;
mod database;
mod error;
mod extras;
mod identity;
mod kubeconfig;
mod names;
mod network;
mod nodegroup;
mod oidc;
mod provider;
mod registry;
mod retry;
mod step;
mod tags;
mod teardown;
mod token;

pub use extras::{ClusterExtras, EksExtras};
pub use kubeconfig::exec_kubeconfig;
pub use provider::EksProvider;
pub use token::presigned_token;
