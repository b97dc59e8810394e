//! The EKS control plane, then what needs it to exist: the OIDC provider and the autoscaler's IRSA
//! role (see `oidc.rs`), the caller's access entry, and the database's admission of the cluster's
//! security group. `destroy` deletes the node groups still there (after what Kubernetes made was
//! released, see `teardown/leftovers.rs`), the cluster, then what only the cluster's departure
//! frees (load balancers' security groups, volumes that were attached), the OIDC provider, the
//! autoscaler role and the control-plane log group.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eks::types::{
    AuthenticationMode, Cluster as EksCluster, ClusterStatus, CreateAccessConfigRequest, LogSetup,
    LogType, Logging, VpcConfigRequest,
};
use kat_provider::contract::{AUTOSCALER_IDENTITY, CLUSTER_ENDPOINT, CLUSTER_VERSION};
use kat_provider::wait::{poll_until, Backoff};
use kat_provider::{OpContext, Outputs, ProviderError};
use serde_json::{json, Value};

use crate::clients::Aws;
use crate::error::{api, is_not_found, pe, EksError};
use crate::extras::ClusterExtras;
use crate::shared::Shared;
use kat_provider::converge::retrying;
use kat_provider::converge::{Converge, Pass};

/// Clusters take 8–15 minutes: the first look is soon (a resumed run may find it done), then the
/// interval grows to half a minute.
pub const CLUSTER_BACKOFF: Backoff = Backoff {
    first: Duration::from_secs(2),
    max: Duration::from_secs(30),
    factor: 1.5,
};

pub async fn describe(aws: &Aws, name: &str) -> Result<Option<EksCluster>, ProviderError> {
    match aws.eks.describe_cluster().name(name).send().await {
        Ok(out) => Ok(out.cluster().cloned()),
        Err(e) if is_not_found(crate::error::code(&e).as_deref()) => Ok(None),
        Err(e) => Err(pe("DescribeCluster", &format!("cluster/{name}"), e)),
    }
}

/// Waits until the cluster is ACTIVE (Some) or gone (None, when `gone_ok`).
pub async fn wait(
    aws: &Aws,
    pass: &Pass<'_>,
    name: &str,
    until_gone: bool,
) -> Result<Option<EksCluster>, ProviderError> {
    let what = if until_gone {
        format!("cluster {name} to be deleted")
    } else {
        format!("cluster {name} to become ACTIVE")
    };
    poll_until(pass.cx, &what, CLUSTER_BACKOFF, || async {
        let c = describe(aws, name).await?;
        let status = c.as_ref().and_then(|c| c.status().cloned());
        match (until_gone, status) {
            (true, None) => Ok(Some(None)),
            (false, Some(ClusterStatus::Active)) => Ok(Some(c)),
            (false, None) => Err(ProviderError::Other(format!(
                "cluster {name} disappeared while kat waited for it; run `kat up` again"
            ))),
            (false, Some(ClusterStatus::Failed)) => Err(EksError::BadState {
                resource: format!("cluster {name}"),
                state: "FAILED".into(),
                fix: "see its health in the EKS console, then `kat down` and `kat up`".into(),
            }
            .into()),
            (_, s) => {
                pass.cx.step(format!(
                    "waiting for cluster {name}: {}",
                    s.map(|s| s.to_string()).unwrap_or_else(|| "gone".into())
                ));
                Ok(None)
            }
        }
    })
    .await
}

fn gone(name: &str) -> ProviderError {
    ProviderError::Gone {
        what: format!("cluster {name}"),
    }
}

/// The group the database admits: EKS's own cluster security group, which is on every managed
/// node; the additional one kat made stands in where EKS reports none (the emulator).
pub fn security_group(cluster: &EksCluster) -> String {
    let vpc = cluster.resources_vpc_config();
    vpc.and_then(|v| v.cluster_security_group_id())
        .filter(|s| !s.is_empty())
        .or_else(|| vpc.and_then(|v| v.security_group_ids().first().map(String::as_str)))
        .unwrap_or_default()
        .to_string()
}

pub struct Cluster {
    pub s: Arc<Shared>,
    pub extras: Arc<dyn ClusterExtras>,
}

impl Cluster {
    /// Subnets the network has that the control plane is not in (a zone added by raising
    /// `az_count`). EKS moves a running control plane only between subnets of the zones it was
    /// made in, so kat cannot make this change: it says so, every run, rather than report the
    /// cluster as matching kat.yaml.
    fn zones_left_out(&self, pass: &Pass<'_>, cluster: &aws_sdk_eks::types::Cluster) {
        let wanted = (|| -> Result<Vec<String>, ProviderError> {
            let mut v: Vec<String> = pass.cx.input("network", "private_subnet_ids")?;
            v.extend(
                pass.cx
                    .input::<Vec<String>>("network", "public_subnet_ids")?,
            );
            Ok(v)
        })();
        let Ok(wanted) = wanted else { return };
        let have = cluster
            .resources_vpc_config()
            .map(|v| v.subnet_ids().to_vec())
            .unwrap_or_default();
        let missing: Vec<&String> = wanted.iter().filter(|s| !have.contains(s)).collect();
        if have.is_empty() || missing.is_empty() || self.s.req.config.eks.vpc_id.is_some() {
            return;
        }
        pass.cx.warn(format!(
            "cluster/{}: the control plane stays in subnets {} and cannot use {}: EKS cannot add a zone to a running cluster's control plane, so the new subnets serve nodes, load balancers and the database only; to spread the control plane too, recreate the cluster (`kat down`, then `kat up`)",
            cluster.name().unwrap_or_default(),
            have.join(", "),
            missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }

    async fn create(
        &self,
        aws: &Aws,
        pass: &mut Pass<'_>,
        name: &str,
    ) -> Result<bool, ProviderError> {
        let cx = pass.cx;
        // A plan before the network exists has no subnets yet: it still says "create".
        let inputs = (|| -> Result<_, ProviderError> {
            let public: Vec<String> = cx.input("network", "public_subnet_ids")?;
            let private: Vec<String> = cx.input("network", "private_subnet_ids")?;
            let sg: Option<String> = cx.input("network", "cluster_security_group_id").ok();
            let role: String = cx.input("identity", "cluster_role_arn")?;
            Ok((public, private, sg, role))
        })();
        let (public, private, sg, role) = match inputs {
            Ok(i) => i,
            Err(_) if pass.dry => {
                pass.create(format!("cluster/{name}"))?;
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        if !pass.create(format!("cluster/{name}"))? {
            return Ok(false);
        }
        let eks = &self.s.req.config.eks;
        let subnets: Vec<String> = private.into_iter().chain(public).collect();
        let vpc = VpcConfigRequest::builder()
            .set_subnet_ids(Some(subnets))
            .set_security_group_ids(sg.filter(|s| !s.is_empty()).map(|s| vec![s]))
            .endpoint_public_access(true)
            .endpoint_private_access(true)
            .build();
        let logging = Logging::builder()
            .cluster_logging(
                LogSetup::builder()
                    .set_types(Some(
                        eks.log_types
                            .iter()
                            .map(|t| LogType::from(t.as_str()))
                            .collect(),
                    ))
                    .enabled(!eks.log_types.is_empty())
                    .build(),
            )
            .build();
        aws.eks
            .create_cluster()
            .name(name)
            .role_arn(role)
            .resources_vpc_config(vpc)
            .set_version(match &self.s.req.config.kubernetes_version {
                Some(v) => Some(v.clone()),
                None => newest_version(aws, cx).await?,
            })
            .logging(logging)
            .access_config(
                CreateAccessConfigRequest::builder()
                    .authentication_mode(AuthenticationMode::ApiAndConfigMap)
                    .bootstrap_cluster_creator_admin_permissions(true)
                    .build(),
            )
            .set_tags(Some(crate::tags::map(&self.s.req.tags)))
            .send()
            .await
            .map_err(|e| pe("CreateCluster", &format!("cluster/{name}"), e))?;
        Ok(true)
    }

    async fn build(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        let aws = self.s.aws().await;
        let name = self.s.names.cluster();
        let mut found = describe(&aws, &name).await?;
        if let Some(ClusterStatus::Deleting) = found.as_ref().and_then(|c| c.status()) {
            // An interrupted `down`: let it finish, then build anew.
            if pass.dry {
                found = None;
            } else {
                wait(&aws, pass, &name, true).await?;
                found = None;
            }
        }
        let cluster = match found {
            Some(c) if c.status() == Some(&ClusterStatus::Active) => c,
            Some(c) if c.status() == Some(&ClusterStatus::Failed) => {
                return Err(EksError::BadState {
                    resource: format!("cluster {name}"),
                    state: "FAILED".into(),
                    fix: "run `kat down` to delete it, then `kat up`".into(),
                }
                .into())
            }
            Some(c) if pass.dry => c,
            Some(_) => wait(&aws, pass, &name, false)
                .await?
                .ok_or_else(|| gone(&name))?,
            None => {
                if !self.create(&aws, pass, &name).await? {
                    return Ok(Outputs::new());
                }
                wait(&aws, pass, &name, false)
                    .await?
                    .ok_or_else(|| gone(&name))?
            }
        };
        self.zones_left_out(pass, &cluster);
        if let Some(want) = &self.s.req.config.kubernetes_version {
            let have = cluster.version().unwrap_or_default();
            if have != want
                && pass.update(
                    format!("cluster/{name}"),
                    format!("version {have} → {want}"),
                )?
            {
                aws.eks
                    .update_cluster_version()
                    .name(&name)
                    .version(want)
                    .send()
                    .await
                    .map_err(|e| pe("UpdateClusterVersion", &format!("cluster/{name}"), e))?;
                tokio::time::sleep(Duration::from_secs(1)).await;
                wait(&aws, pass, &name, false).await?;
            }
        }
        let issuer = cluster
            .identity()
            .and_then(|i| i.oidc())
            .and_then(|o| o.issuer())
            .unwrap_or_default()
            .to_string();
        let oidc = crate::oidc::ensure_provider(&aws, &self.s, pass, &issuer).await?;
        let autoscaler =
            crate::oidc::ensure_autoscaler_role(&aws, &self.s, pass, oidc.as_deref(), &issuer)
                .await?;
        if self.s.req.config.eks.access_entry {
            let caller = crate::credentials::caller(&aws).await?;
            crate::extras::ensure_access(self.extras.as_ref(), pass, &name, &caller.arn).await?;
        }
        let cluster_sg = security_group(&cluster);
        if !cluster_sg.is_empty() {
            crate::database::admit(&aws, &self.s, pass, &cluster_sg).await?;
        }
        let mut o = Outputs::new();
        o.set("name", &name)
            .set("arn", cluster.arn().unwrap_or_default())
            .put(&CLUSTER_ENDPOINT, cluster.endpoint().unwrap_or_default())
            .put(&CLUSTER_VERSION, cluster.version().unwrap_or_default())
            .set("oidc_issuer", &issuer)
            .set("oidc_provider_arn", oidc.unwrap_or_default())
            .put(&AUTOSCALER_IDENTITY, autoscaler.unwrap_or_default())
            .set("security_group_id", &cluster_sg);
        o.show(
            "EKS cluster",
            format!("{name} (Kubernetes {})", cluster.version().unwrap_or("?")),
        );
        Ok(o)
    }

    async fn delete(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        let aws = self.s.aws().await;
        let name = self.s.names.cluster();
        let resource = format!("cluster/{name}");
        if describe(&aws, &name).await?.is_some() {
            // Node groups the nodes stage did not delete (`down --only cluster`, one added by
            // hand): what Kubernetes made is released first here too.
            if !crate::nodegroup::list(&aws, &name).await?.is_empty() {
                crate::teardown::leftovers::released(&aws, &self.s, pass).await?;
            }
            crate::nodegroup::delete_all(&aws, pass, &name).await?;
            if pass.delete(&resource)? {
                // ResourceInUse while a node group is still going: retried.
                retrying(pass.cx, &format!("delete {resource}"), || async {
                    match aws.eks.delete_cluster().name(&name).send().await {
                        Ok(_) => Ok(()),
                        Err(e) if is_not_found(crate::error::code(&e).as_deref()) => Ok(()),
                        Err(e) => Err(api("DeleteCluster", &resource, e)),
                    }
                })
                .await?;
                wait(&aws, pass, &name, true).await?;
            }
        }
        // What only the nodes' and the control plane's departure frees (load balancers'
        // security groups, volumes that were attached).
        crate::teardown::leftovers::kubernetes(&aws, &self.s, pass).await?;
        crate::oidc::delete_tagged(&aws, &self.s, pass).await?;
        crate::identity::delete_role(&aws, pass, &self.s.names.autoscaler_role()).await?;
        let group = self.s.names.log_group();
        let exists = aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix(&group)
            .send()
            .await
            .map_err(|e| pe("DescribeLogGroups", &group, e))?
            .log_groups()
            .iter()
            .any(|g| g.log_group_name() == Some(group.as_str()));
        if exists && pass.delete(format!("log-group/{group}"))? {
            match aws
                .logs
                .delete_log_group()
                .log_group_name(&group)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(crate::error::code(&e).as_deref()) => {}
                Err(e) => return Err(pe("DeleteLogGroup", &group, e)),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Converge for Cluster {
    fn nominal(&self) -> Option<std::time::Duration> {
        // CreateCluster to ACTIVE: "typically 10 to 15 minutes" (EKS API reference).
        Some(std::time::Duration::from_secs(15 * 60))
    }

    fn desired(&self) -> Value {
        let c = &self.s.req.config;
        json!({"version": c.kubernetes_version, "logs": c.eks.log_types,
               "access_entry": c.eks.access_entry, "tags": self.s.req.tags})
    }

    async fn converge(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        self.build(pass).await
    }

    async fn teardown(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        self.delete(pass).await
    }
}

/// The newest Kubernetes version EKS offers in standard support, for a cluster whose version
/// kat.yaml leaves open. `None` (EKS then picks its default) only where the API does not exist:
/// emulators and older partitions lack DescribeClusterVersions. Any other failure (AccessDenied,
/// throttling past its retries) stops the create, rather than silently building another version.
async fn newest_version(aws: &Aws, cx: &OpContext) -> Result<Option<String>, ProviderError> {
    let out = match aws.eks.describe_cluster_versions().send().await {
        Ok(out) => out,
        Err(e) if unknown_operation(&e) => {
            let msg = format!(
                "EKS here has no DescribeClusterVersions ({}), so the cluster gets EKS's default version; set `provider.kubernetes_version` to choose",
                crate::error::api("DescribeClusterVersions", "eks", e)
            );
            // Once, as a warning event (not a progress line, not also a log line).
            cx.warn(msg);
            return Ok(None);
        }
        Err(e) => return Err(pe("DescribeClusterVersions", "eks", e)),
    };
    Ok(newest(out.cluster_versions().iter().filter_map(|v| {
        let supported = v
            .version_status()
            .is_none_or(|s| s.as_str() == "STANDARD_SUPPORT");
        v.cluster_version().filter(|_| supported)
    })))
}

/// The service does not know the operation: an HTTP 404 (no such route) or a code that says so.
fn unknown_operation<E: ProvideErrorMetadata>(
    e: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> bool {
    match e {
        SdkError::ServiceError(s) => {
            s.raw().status().as_u16() == 404 || is_unknown_code(s.err().code())
        }
        _ => false,
    }
}

fn is_unknown_code(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("UnknownOperation" | "UnknownOperationException" | "InvalidAction" | "NotImplemented")
    )
}

/// The highest `major.minor` of `versions` (numerically: 1.10 is above 1.9).
fn newest<'a>(versions: impl Iterator<Item = &'a str>) -> Option<String> {
    versions
        .filter_map(|v| {
            let (major, minor) = v.split_once('.')?;
            Some(((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?), v))
        })
        .max_by_key(|(k, _)| *k)
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_an_unknown_operation_falls_back_to_the_default_version() {
        for c in [
            "UnknownOperation",
            "UnknownOperationException",
            "InvalidAction",
        ] {
            assert!(super::is_unknown_code(Some(c)), "{c}");
        }
        for c in [
            "AccessDeniedException",
            "ThrottlingException",
            "ServerException",
        ] {
            assert!(!super::is_unknown_code(Some(c)), "{c}");
        }
        assert!(!super::is_unknown_code(None));
    }

    #[test]
    fn newest_version_compares_numerically() {
        let got = super::newest(["1.9", "1.31", "1.10", "x"].into_iter());
        assert_eq!(got.as_deref(), Some("1.31"));
        assert_eq!(super::newest(std::iter::empty()), None);
    }
}
