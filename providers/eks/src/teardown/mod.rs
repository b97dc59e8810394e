//! What `down` must find without kat's state: what Kubernetes made behind kat's back, and the
//! final sweep for anything still tagged with the environment.

pub mod blocked;
pub mod kube_made;
pub mod leftovers;
pub mod sweep;
