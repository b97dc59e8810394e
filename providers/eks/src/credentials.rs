//! Preflight: the credential chain resolves and AWS accepts it (STS GetCallerIdentity), before any
//! resource is touched. A failure is one line naming the chain and the fix.

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
    match aws.sts.get_caller_identity().send().await {
        Ok(out) => Ok(Caller {
            arn: out.arn().unwrap_or_default().to_string(),
        }),
        Err(e) => {
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
            Err(ProviderError::Credentials {
                message,
                tried: CHAIN.into(),
                hint: hint.into(),
            })
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
