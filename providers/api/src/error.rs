use std::time::Duration;

/// Every failure a provider reports. The engine turns `Config` and `Credentials` into exit code 2
/// (the user must change something), `Interrupted` into 130 and the rest into 1.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{message}; tried {tried}; {hint}")]
    Credentials {
        message: String,
        tried: String,
        hint: String,
    },
    #[error("{operation} {resource}: {message}")]
    Api {
        operation: String,
        resource: String,
        message: String,
        retryable: bool,
    },
    #[error("timed out after {} waiting for {what}", humantime::format_duration(*after))]
    Timeout { what: String, after: Duration },
    /// What the operation needs no longer exists (the cluster behind a teardown of its contents).
    #[error("{what} no longer exists")]
    Gone { what: String },
    #[error("interrupted before it finished; `kat up` resumes it")]
    Interrupted,
    #[error("{key}: {message}")]
    Config { key: String, message: String },
    /// A delete the cloud kept refusing because something still uses the resource.
    #[error("cannot delete {resource}: still in use by {blocker}; delete that (or wait for the cloud to release it) and run `kat down` again")]
    Blocked { resource: String, blocker: String },
    #[error("{what} is not supported by the {provider} provider")]
    Unsupported { provider: String, what: String },
    #[error("{0}")]
    Other(String),
}

impl ProviderError {
    pub fn api(
        operation: impl Into<String>,
        resource: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ProviderError::Api {
            operation: operation.into(),
            resource: resource.into(),
            message: message.into(),
            retryable: false,
        }
    }

    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        ProviderError::Config {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The user has to change configuration or credentials: exit code 2, not 1.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ProviderError::Config { .. }
                | ProviderError::Credentials { .. }
                | ProviderError::Unsupported { .. }
        )
    }

    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::Api {
                retryable: true,
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_delete_names_the_blocker_and_the_fix() {
        let text = ProviderError::Blocked {
            resource: "subnet/subnet-1".into(),
            blocker: "network interface eni-9 (ELB app/x)".into(),
        }
        .to_string();
        assert!(
            text.contains("subnet/subnet-1") && text.contains("eni-9") && text.contains("kat down")
        );
    }
}
