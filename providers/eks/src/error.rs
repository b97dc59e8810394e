//! AWS failures as typed errors, mapped to [`ProviderError`] with the resource named and the fix.

use std::error::Error as StdError;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use kat_provider::ProviderError;

use crate::budget::Halt;

#[derive(Debug, thiserror::Error)]
pub enum EksError {
    #[error("{operation} {resource}: {code}: {message}")]
    Api {
        operation: String,
        resource: String,
        code: String,
        message: String,
        retryable: bool,
    },
    /// kat stopped the request (Ctrl-C, or the stage's budget ran out while AWS kept failing).
    #[error("{operation} {resource}: {halt}")]
    Halted {
        operation: String,
        resource: String,
        halt: crate::budget::Halt,
    },
    #[error("{resource} is {state}; {fix}")]
    BadState {
        resource: String,
        state: String,
        fix: String,
    },
}

impl From<EksError> for ProviderError {
    fn from(e: EksError) -> Self {
        match e {
            EksError::Api {
                operation,
                resource,
                code,
                message,
                retryable,
            } => ProviderError::Api {
                operation,
                resource,
                message: format!("{code}: {message}"),
                retryable,
            },
            EksError::Halted {
                halt: Halt::Interrupted,
                ..
            } => ProviderError::Interrupted,
            EksError::Halted {
                operation,
                resource,
                halt: Halt::OutOfTime { after, .. },
            } => ProviderError::Timeout {
                what: format!("{operation} {resource} (AWS kept failing it)"),
                after,
            },
            other => ProviderError::Other(other.to_string()),
        }
    }
}

/// The AWS error code of a failed call (`InvalidVpcID.NotFound`), when the service sent one.
pub fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<String> {
    match e {
        SdkError::ServiceError(s) => s.err().code().map(str::to_string),
        _ => None,
    }
}

pub fn is_not_found(code: Option<&str>) -> bool {
    code.is_some_and(|c| {
        c.contains("NotFound")
            || c == "NoSuchEntity"
            || c.ends_with("NotFoundException")
            || c.ends_with("NotFoundFault")
    })
}

pub fn is_throttle(code: Option<&str>) -> bool {
    code.is_some_and(|c| {
        c.contains("Throttl") || c == "RequestLimitExceeded" || c == "TooManyRequestsException"
    })
}

/// Converts any SDK failure. Transport failures (no service code) and throttling are retryable.
pub fn api<E, R>(operation: &str, resource: &str, e: SdkError<E, R>) -> EksError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if let Some(halt) = halted(&e) {
        return EksError::Halted {
            operation: operation.to_string(),
            resource: resource.to_string(),
            halt,
        };
    }
    let c = code(&e);
    let retryable = c.is_none() || is_throttle(c.as_deref());
    let message = match &e {
        SdkError::ServiceError(s) => s.err().message().unwrap_or("no message").to_string(),
        other => {
            let mut text = other.to_string();
            let mut source = other.source();
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    };
    EksError::Api {
        operation: operation.to_string(),
        resource: resource.to_string(),
        code: c.unwrap_or_else(|| "request failed".into()),
        message,
        retryable,
    }
}

/// The stop kat's budget put on this request, if that is why it failed.
pub fn halted(e: &(dyn StdError + 'static)) -> Option<Halt> {
    let mut source: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<Halt>() {
            return Some(h.clone());
        }
        source = s.source();
    }
    None
}

/// [`api`] straight into the provider's error.
pub fn pe<E, R>(operation: &str, resource: &str, e: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    api(operation, resource, e).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_codes_of_every_service_are_recognised() {
        for c in [
            "InvalidVpcID.NotFound",
            "NoSuchEntity",
            "ResourceNotFoundException",
            "RepositoryNotFoundException",
            "DBInstanceNotFound",
            "DBSubnetGroupNotFoundFault",
        ] {
            assert!(is_not_found(Some(c)), "{c}");
        }
        assert!(!is_not_found(Some("DependencyViolation")));
        assert!(!is_not_found(None));
        assert!(is_throttle(Some("Throttling")) && is_throttle(Some("RequestLimitExceeded")));
    }
}
