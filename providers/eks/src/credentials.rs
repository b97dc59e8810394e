//! Preflight: the credential chain resolves and AWS accepts it (STS GetCallerIdentity), before any
//! resource is touched. A failure is one line naming the chain and the fix.

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use kat_provider::ProviderError;

use crate::clients::Aws;

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
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let e = match aws.sts.get_caller_identity().send().await {
            Ok(out) => {
                return Ok(Caller {
                    arn: out.arn().unwrap_or_default().to_string(),
                })
            }
            Err(e) => e,
        };
        // Throttling, a 5xx or a dropped connection says nothing about the credentials: asked
        // again, after a pause, as every other AWS call (the SDK has already tried three times).
        if is_transient(&e) {
            let detail = crate::error::api("GetCallerIdentity", "sts", e);
            if attempt >= STS_ATTEMPTS {
                return Err(ProviderError::Api {
                    operation: "check the AWS credentials with".into(),
                    resource: "STS GetCallerIdentity".into(),
                    message: format!(
                        "AWS kept answering with a transient error ({}) after {attempt} attempts; the credentials were not judged, try again in a minute",
                        one_line(&detail.to_string())
                    ),
                    retryable: true,
                });
            }
            tracing::debug!("GetCallerIdentity: {detail}; attempt {attempt}, retrying");
            tokio::time::sleep(std::time::Duration::from_millis(500 << attempt.min(5))).await;
            continue;
        }
        return Err(credentials_error(e));
    }
}

/// Attempts of the STS check before a transient failure is reported (about 30 s of pauses).
const STS_ATTEMPTS: u32 = 5;

fn is_transient<E: ProvideErrorMetadata, R: HttpStatus>(e: &SdkError<E, R>) -> bool {
    match e {
        SdkError::ServiceError(s) => {
            crate::error::is_throttle(s.err().code()) || s.raw().status_code() >= 500
        }
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        // A connection refused or reset; a missing credential fails before dispatch.
        SdkError::DispatchFailure(d) => d.is_io() || d.is_timeout(),
        _ => false,
    }
}

/// The HTTP status of a raw answer.
trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

fn credentials_error<E, R>(e: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let detail = crate::error::api("GetCallerIdentity", "sts", e);
    let (message, hint) = match &detail {
        crate::error::EksError::Api { code, .. }
            if code.contains("Expired") || code == "InvalidClientTokenId" || code == "SignatureDoesNotMatch" =>
        {
            (
                format!("AWS rejected the credentials ({detail})"),
                "refresh them (`aws sso login`, new keys) and run again",
            )
        }
        _ if detail.to_string().contains("no credentials found") => (
            "no AWS credentials found".to_string(),
            "run `aws configure` or `aws sso login`, or export AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ),
        _ => (
            // One line: the SDK's own report spans several.
            format!("no usable AWS credentials ({})", one_line(&detail.to_string())),
            "run `aws configure` or `aws sso login`, or export AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ),
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
