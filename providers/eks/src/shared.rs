//! What every eks component shares: the request, the names, and the AWS clients. Its own module so
//! that the components and the provider that assembles them do not import each other.

use std::sync::Arc;

use kat_provider::ProviderRequest;
use tokio::sync::OnceCell;

use crate::clients::Aws;
use crate::names::Names;

/// What every component shares: the request, the names, and the AWS clients (built on first use,
/// because loading the credential chain is async and `new` is not).
pub struct Shared {
    pub req: ProviderRequest,
    pub names: Names,
    /// ECR's push token, asked for once and renewed before its end.
    pub ecr_tokens: crate::ecr_auth::Tokens,
    aws: OnceCell<Arc<Aws>>,
}

impl Shared {
    pub async fn aws(&self) -> Arc<Aws> {
        self.aws
            .get_or_init(|| async { Arc::new(Aws::load(self.req.config.region.as_deref()).await) })
            .await
            .clone()
    }

    pub fn new(req: ProviderRequest, names: Names) -> Shared {
        Shared {
            req,
            names,
            ecr_tokens: Default::default(),
            aws: OnceCell::new(),
        }
    }

    /// Clients given rather than loaded (tests against an emulator, tools).
    pub fn set_aws(&self, aws: Aws) {
        let _ = self.aws.set(Arc::new(aws));
    }

    pub fn byo_vpc(&self) -> bool {
        self.req.config.eks.vpc_id.is_some()
    }
}
