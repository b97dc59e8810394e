use kat_provider::ProviderError;

/// What can go wrong talking to a cluster. Each names the object (and the manifest it came from)
/// and, where the user can act, what to do.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error("cannot reach the API server: {0}")]
    Connect(String),
    #[error("{source_name}: {message}")]
    Malformed {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: the cluster serves no kind `{kind}` in `{api_version}`; check apiVersion/kind, or install the CRD that defines it")]
    UnknownKind {
        source_name: String,
        api_version: String,
        kind: String,
    },
    #[error("{object} ({source_name}): field {fields} is owned by field manager `{manager}`; change it there, or run again with --force-conflicts to take it over")]
    Conflict {
        object: String,
        source_name: String,
        manager: String,
        fields: String,
    },
    #[error("{object} ({source_name}): the API server rejected it: {message}")]
    Rejected {
        object: String,
        source_name: String,
        message: String,
    },
    #[error("{verb} {object}: {message}")]
    Api {
        verb: String,
        object: String,
        message: String,
    },
}

impl From<KubeError> for ProviderError {
    fn from(e: KubeError) -> Self {
        match e {
            KubeError::Kubeconfig { .. } => ProviderError::Config {
                key: "provider.kubeconfig".into(),
                message: e.to_string(),
            },
            KubeError::Malformed {
                ref source_name, ..
            }
            | KubeError::UnknownKind {
                ref source_name, ..
            } => ProviderError::Config {
                key: source_name.clone(),
                message: e.to_string(),
            },
            other => ProviderError::Other(other.to_string()),
        }
    }
}

/// The message of an API error, without kube's wrapping.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}
