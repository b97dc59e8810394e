//! What can go wrong talking to Azure, typed, and how each becomes a [`ProviderError`]: ARM's own
//! code and message quoted with the resource named, usage errors (credential, subscription,
//! unregistered namespace) as exit code 2.

use kat_provider::ProviderError;

#[derive(Debug, thiserror::Error)]
pub enum AksError {
    /// ARM answered with an error body (or an operation ended Failed / Canceled).
    #[error("{operation} {resource}: Azure answered {status} {code}: {message}")]
    Arm {
        operation: String,
        resource: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot reach {url}: {message}")]
    Transport { url: String, message: String },
    #[error("refusing to send credentials to {0}: only https, or http on a loopback address (a test fake), is allowed")]
    Insecure(String),
    #[error("{resource}: unexpected answer from Azure: {message}")]
    Decode { resource: String, message: String },
    #[error("{message}")]
    Credential { message: String },
    /// Interrupted, past the deadline, or a failure kat already phrased for the user.
    #[error(transparent)]
    Stopped(#[from] ProviderError),
}

impl AksError {
    pub fn code(&self) -> Option<&str> {
        match self {
            AksError::Arm { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            AksError::Arm { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Worth retrying as is: throttling, a server error, a connection that failed, or ARM saying
    /// another operation on the resource is still running.
    pub fn is_transient(&self) -> bool {
        match self {
            AksError::Transport { .. } => true,
            AksError::Arm { status, code, .. } => {
                *status == 429
                    || *status >= 500
                    || (*status == 409
                        && matches!(
                            code.as_str(),
                            "OperationNotAllowed"
                                | "AnotherOperationInProgress"
                                | "Conflict"
                                | "RetryableError"
                        ))
            }
            _ => false,
        }
    }

    /// The user must change something (log in, pick another subscription, register a namespace).
    fn is_usage(&self) -> bool {
        match self {
            AksError::Credential { .. } | AksError::Insecure(_) => true,
            AksError::Arm { status, code, .. } => {
                *status == 401
                    || matches!(
                        code.as_str(),
                        "SubscriptionNotFound"
                            | "InvalidSubscriptionId"
                            | "MissingSubscriptionRegistration"
                            | "AuthorizationFailed"
                            | "LocationNotAvailableForResourceType"
                            | "NoRegisteredProviderFound"
                            | "InvalidAuthenticationToken"
                            | "InvalidAuthenticationTokenTenant"
                    )
            }
            _ => false,
        }
    }
}

impl From<AksError> for ProviderError {
    fn from(e: AksError) -> Self {
        if let AksError::Stopped(p) = e {
            return p;
        }
        if let AksError::Credential { message } = e {
            return ProviderError::Credentials {
                message,
                tried: crate::credential::CHAIN.into(),
                hint: "log in with `az login`, or set a service principal's AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_TENANT_ID".into(),
            };
        }
        if e.is_usage() {
            let key = match &e {
                AksError::Arm { code, .. } if code.contains("Subscription") => {
                    "provider.aks.subscription"
                }
                AksError::Arm { code, .. } if code.contains("Location") => "provider.region",
                _ => "azure credentials",
            };
            return ProviderError::config(key, e.to_string());
        }
        let retryable = e.is_transient();
        match e {
            AksError::Arm {
                operation,
                resource,
                status,
                code,
                message,
            } => ProviderError::Api {
                operation,
                resource,
                message: format!("Azure answered {status} {code}: {message}"),
                retryable,
            },
            other => ProviderError::Other(other.to_string()),
        }
    }
}

/// For the converge kit's `retrying` / `delete_retried`: broader than what one ARM request
/// retries on its own (a subnet still in use, a new identity not yet propagated).
impl kat_provider::converge::Transient for AksError {
    fn transient(&self) -> bool {
        self.is_transient() || self.in_use() || self.code() == Some("PrincipalNotFound")
    }

    fn in_use(&self) -> bool {
        self.code()
            .is_some_and(|c| c.starts_with("InUse") || c == "ResourceInUse")
    }

    fn not_found(&self) -> bool {
        self.is_not_found()
    }

    fn throttled(&self) -> bool {
        self.status() == Some(429)
    }
}
