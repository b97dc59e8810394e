//! Images built from source in the environment's own cluster: rootless BuildKit in a Job, the
//! git context fetched by BuildKit itself (no upload, no Docker), pushed to the environment's
//! registry, the digest pinned in kat.lock.

mod error;
pub mod job;
mod run;
mod source;

pub use error::BuildError;
pub use job::{BuildJob, Security, BUILDER_IMAGE, BUILD_NAMESPACE};
pub use run::{cleanup, run, Outcome};
pub use source::{line_of_build, BuildSource};
