//! What can go wrong building an image in the cluster, each naming the component and the Job.

use kat_provider::ProviderError;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("building {component}: the cluster refused a request ({message})")]
    Kube { component: String, message: String },
    #[error("building {component}: Job {job} failed: {reason}\n{last_lines}")]
    Failed {
        component: String,
        job: String,
        reason: String,
        last_lines: String,
    },
    #[error("building {component}: Job {job} succeeded but left no image digest in its termination message (BuildKit's metadata file); the image cannot be run by digest: check the builder image (`images.builder`) writes /dev/termination-log")]
    NoDigest { component: String, job: String },
    #[error("cleaning up build Job {job}: {message}; delete it with `kubectl -n kat-build delete job,secret -l kat.dev/role=build`")]
    Cleanup { job: String, message: String },
    #[error("building {component}: no credentials to push to {registry}: {message}")]
    Credentials {
        component: String,
        registry: String,
        message: String,
    },
}

impl From<BuildError> for ProviderError {
    fn from(e: BuildError) -> Self {
        ProviderError::Other(e.to_string())
    }
}
