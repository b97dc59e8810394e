//! Preflight: the credential chain resolves and AWS accepts it (STS GetCallerIdentity), before any
//! resource is touched. A failure is one line naming the chain and the fix.

use kat_provider::ProviderError;

use crate::budget::Halt;
use crate::clients::Aws;
use crate::error::EksError;

/// How long the credentials check retries a throttled or failing STS: it runs before any stage,
/// so it has no stage budget of its own.
pub const CHECK_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

pub const CHAIN: &str = "the AWS default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws/config incl. SSO, web identity, ECS/EC2 instance role)";

/// The caller's ARN (for the cluster access entry).
pub struct Caller {
    pub arn: String,
}

pub async fn caller(aws: &Aws) -> Result<Caller, ProviderError> {
    if aws.region.is_empty() {
        return Err(ProviderError::config(
            "provider.region",
            "no AWS region: set `provider.region` in kat.yaml, pass --region, or set AWS_REGION",
        ));
    }
    // The SDK has already retried anything transient (throttling, 5xx, resets) within the
    // stage's budget; what arrives here is an answer, or the budget running out.
    match aws.sts.get_caller_identity().send().await {
        Ok(out) => Ok(Caller {
            arn: out.arn().unwrap_or_default().to_string(),
        }),
        Err(e) => {
            let missing = crate::error::halted(&e).is_none() && no_credentials(&e);
            Err(classify(
                crate::error::api("GetCallerIdentity", "sts", e),
                missing,
            ))
        }
    }
}

/// What AWS says when it refuses the credentials themselves (every service's spelling).
const REJECTED: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "MissingAuthenticationToken",
    "AuthFailure",
];

/// The chain found nothing to sign with: the SDK reports it as a failure to build the request.
fn no_credentials(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
            || s.to_string().contains("no credentials found")
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// Only an authentication answer (or no credentials at all) is the user's to fix (exit 2);
/// anything else is AWS failing, and is reported as that (exit 1), never as bad credentials.
fn classify(detail: EksError, missing: bool) -> ProviderError {
    let (message, hint) = match &detail {
        EksError::Api { code, .. } if REJECTED.contains(&code.as_str()) => (
            format!("AWS rejected the credentials ({})", one_line(&detail.to_string())),
            "refresh them (`aws sso login`, new keys) or use ones allowed to call sts:GetCallerIdentity, and run again",
        ),
        _ if missing => (
            "no AWS credentials found".to_string(),
            "run `aws configure` or `aws sso login`, or export AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ),
        EksError::Api {
            operation,
            resource,
            code,
            message,
            ..
        } => {
            return ProviderError::Api {
                operation: operation.clone(),
                resource: resource.clone(),
                message: format!(
                    "AWS answered with an error that is not about the credentials ({code}: {}); the credentials were not judged: run again",
                    one_line(message)
                ),
                retryable: true,
            }
        }
        EksError::Halted {
            operation,
            resource,
            halt: Halt::OutOfTime { after, last },
        } => {
            return ProviderError::Api {
                operation: operation.clone(),
                resource: resource.clone(),
                message: format!(
                    "AWS kept answering with a transient error ({}) for {} s; the credentials were not judged: try again in a minute",
                    last.as_deref().unwrap_or("no answer"),
                    after.as_secs()
                ),
                retryable: true,
            }
        }
        // Ctrl-C.
        _ => return detail.into(),
    };
    ProviderError::Credentials {
        message,
        tried: CHAIN.into(),
        hint: hint.into(),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str) -> EksError {
        EksError::Api {
            operation: "GetCallerIdentity".into(),
            resource: "sts".into(),
            code: code.into(),
            message: "m".into(),
            retryable: false,
        }
    }

    #[test]
    fn only_an_authentication_answer_means_bad_credentials() {
        for code in [
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
            "ExpiredToken",
            "AccessDenied",
        ] {
            assert!(classify(api(code), false).is_usage(), "{code}");
        }
        for code in [
            "Throttling",
            "ServiceUnavailable",
            "InternalFailure",
            "request failed",
        ] {
            let e = classify(api(code), false);
            assert!(!e.is_usage(), "{code}: {e}");
            assert!(!e.to_string().contains("no usable AWS credentials"), "{e}");
        }
        assert!(classify(api("request failed"), true).is_usage());
    }

    #[test]
    fn a_halted_check_is_an_interrupt_or_a_timeout() {
        let e = EksError::Halted {
            operation: "GetCallerIdentity".into(),
            resource: "sts".into(),
            halt: crate::budget::Halt::Interrupted,
        };
        assert!(matches!(classify(e, false), ProviderError::Interrupted));
    }
}
