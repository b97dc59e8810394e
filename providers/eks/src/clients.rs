//! One SDK client per AWS service kat uses, built once per process from the default credential
//! chain. `AWS_ENDPOINT_URL` (moto in tests) is honoured by aws-config itself.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::calls::CallLog;

pub struct Aws {
    pub sdk: SdkConfig,
    pub region: String,
    pub sts: aws_sdk_sts::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub eks: aws_sdk_eks::Client,
    pub iam: aws_sdk_iam::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub rds: aws_sdk_rds::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub elb: aws_sdk_elasticloadbalancing::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
}

/// Builds each service's config from the shared one plus the call counter.
macro_rules! client {
    ($krate:ident, $sdk:expr, $log:expr, $region:expr) => {
        $krate::Client::from_conf(
            $krate::config::Builder::from($sdk)
                .interceptor($log.clone())
                .interceptor(crate::limiter::Classify {
                    region: $region.clone(),
                })
                .interceptor(crate::budget::Budget)
                .retry_classifier(crate::throttled::TooManyRequests)
                .retry_partition(crate::budget::partition(stringify!($krate)))
                .build(),
        )
    };
}

fn loader() -> aws_config::ConfigLoader {
    // rustls with ring: the SDK's default client uses aws-lc, a long C build on small machines.
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::limiter::limited(http))
        .retry_config(crate::budget::retry_config())
        .sleep_impl(crate::budget::StageSleep)
}

impl Aws {
    /// The default credential chain and endpoint resolution (`AWS_ENDPOINT_URL` included).
    pub async fn load(region: Option<&str>) -> Aws {
        let mut loader = loader();
        if let Some(r) = region {
            loader = loader.region(Region::new(r.to_string()));
        }
        Aws::from_sdk(loader.load().await)
    }

    /// For tests and tools that talk to an emulator: explicit endpoint, region and static keys,
    /// whatever the process environment says.
    pub async fn with_endpoint(endpoint: &str, region: &str) -> Aws {
        let creds =
            aws_credential_types::Credentials::new("testing", "testing", None, None, "kat-test");
        let sdk = loader()
            .endpoint_url(endpoint)
            .region(Region::new(region.to_string()))
            .credentials_provider(creds)
            .load()
            .await;
        Aws::from_sdk(sdk)
    }

    fn from_sdk(sdk: SdkConfig) -> Aws {
        let log = CallLog::from_env();
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
        Aws {
            region: region.clone(),
            sts: client!(aws_sdk_sts, &sdk, log, region),
            ec2: client!(aws_sdk_ec2, &sdk, log, region),
            eks: client!(aws_sdk_eks, &sdk, log, region),
            iam: client!(aws_sdk_iam, &sdk, log, region),
            ecr: client!(aws_sdk_ecr, &sdk, log, region),
            rds: client!(aws_sdk_rds, &sdk, log, region),
            secrets: client!(aws_sdk_secretsmanager, &sdk, log, region),
            elbv2: client!(aws_sdk_elasticloadbalancingv2, &sdk, log, region),
            elb: client!(aws_sdk_elasticloadbalancing, &sdk, log, region),
            logs: client!(aws_sdk_cloudwatchlogs, &sdk, log, region),
            tagging: client!(aws_sdk_resourcegroupstagging, &sdk, log, region),
            sdk,
        }
    }
}
