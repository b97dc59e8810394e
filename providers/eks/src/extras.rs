//! EKS access entries and managed add-ons behind a small trait. They are real EKS calls in
//! production ([`EksExtras`]); the AWS emulator the tests run against (moto) answers 404 for both,
//! so the logic that decides what to create is tested against a fake instead, and the end-to-end
//! tests turn them off (`provider.eks.access_entry: false`, `addons: []`).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_eks::types::{AccessScope, AccessScopeType, ResolveConflicts};
use kat_provider::ProviderError;

use crate::error::pe;
use crate::shared::Shared;
use kat_provider::converge::Pass;

pub const ADMIN_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";

#[async_trait]
pub trait ClusterExtras: Send + Sync {
    /// Principal ARNs that have an access entry.
    async fn access_entries(&self, cluster: &str) -> Result<Vec<String>, ProviderError>;
    /// An access entry for `principal` with the cluster-admin access policy, cluster-wide.
    async fn create_admin_entry(&self, cluster: &str, principal: &str)
        -> Result<(), ProviderError>;
    /// Names of the managed add-ons installed.
    async fn addons(&self, cluster: &str) -> Result<Vec<String>, ProviderError>;
    async fn create_addon(&self, cluster: &str, addon: &str) -> Result<(), ProviderError>;
}

/// STS names a role session (`arn:aws:sts::1:assumed-role/R/session`); access entries need the
/// role (`arn:aws:iam::1:role/R`). A role path is not recoverable from the session ARN (eksctl has
/// the same limit): roles with a path need an entry made by hand.
pub fn principal_arn(caller: &str) -> String {
    let parts: Vec<&str> = caller.split(':').collect();
    if parts.len() == 6 && parts[2] == "sts" {
        if let Some(rest) = parts[5].strip_prefix("assumed-role/") {
            let role = rest.split('/').next().unwrap_or(rest);
            return format!("arn:{}:iam::{}:role/{role}", parts[1], parts[4]);
        }
    }
    caller.to_string()
}

pub async fn ensure_access(
    extras: &dyn ClusterExtras,
    pass: &mut Pass<'_>,
    cluster: &str,
    caller: &str,
) -> Result<(), ProviderError> {
    let principal = principal_arn(caller);
    let entries = extras.access_entries(cluster).await?;
    if !entries.contains(&principal)
        && pass.create(format!("access-entry/{cluster}/{principal}"))?
    {
        extras.create_admin_entry(cluster, &principal).await?;
    }
    Ok(())
}

pub async fn ensure_addons(
    extras: &dyn ClusterExtras,
    pass: &mut Pass<'_>,
    cluster: &str,
    wanted: &[String],
) -> Result<(), ProviderError> {
    if wanted.is_empty() {
        return Ok(());
    }
    let have = extras.addons(cluster).await?;
    for addon in wanted {
        if !have.contains(addon) && pass.create(format!("addon/{cluster}/{addon}"))? {
            extras.create_addon(cluster, addon).await?;
        }
    }
    Ok(())
}

/// The real calls.
pub struct EksExtras {
    pub shared: Arc<Shared>,
}

#[async_trait]
impl ClusterExtras for EksExtras {
    async fn access_entries(&self, cluster: &str) -> Result<Vec<String>, ProviderError> {
        let aws = self.shared.aws().await;
        let out = aws
            .eks
            .list_access_entries()
            .cluster_name(cluster)
            .send()
            .await
            .map_err(|e| pe("ListAccessEntries", &format!("cluster/{cluster}"), e))?;
        Ok(out.access_entries().to_vec())
    }

    async fn create_admin_entry(
        &self,
        cluster: &str,
        principal: &str,
    ) -> Result<(), ProviderError> {
        let aws = self.shared.aws().await;
        let resource = format!("access-entry/{cluster}/{principal}");
        aws.eks
            .create_access_entry()
            .cluster_name(cluster)
            .principal_arn(principal)
            .set_tags(Some(crate::tags::map(&self.shared.req.tags)))
            .send()
            .await
            .map_err(|e| pe("CreateAccessEntry", &resource, e))?;
        aws.eks
            .associate_access_policy()
            .cluster_name(cluster)
            .principal_arn(principal)
            .policy_arn(ADMIN_POLICY)
            .access_scope(
                AccessScope::builder()
                    .r#type(AccessScopeType::Cluster)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| pe("AssociateAccessPolicy", &resource, e))?;
        Ok(())
    }

    async fn addons(&self, cluster: &str) -> Result<Vec<String>, ProviderError> {
        let aws = self.shared.aws().await;
        let out = aws
            .eks
            .list_addons()
            .cluster_name(cluster)
            .send()
            .await
            .map_err(|e| pe("ListAddons", &format!("cluster/{cluster}"), e))?;
        Ok(out.addons().to_vec())
    }

    async fn create_addon(&self, cluster: &str, addon: &str) -> Result<(), ProviderError> {
        let aws = self.shared.aws().await;
        // Overwrite: the self-managed copies EKS installs at creation become managed ones.
        aws.eks
            .create_addon()
            .cluster_name(cluster)
            .addon_name(addon)
            .resolve_conflicts(ResolveConflicts::Overwrite)
            .set_tags(Some(crate::tags::map(&self.shared.req.tags)))
            .send()
            .await
            .map_err(|e| pe("CreateAddon", &format!("addon/{cluster}/{addon}"), e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use kat_provider::OpContext;

    use super::*;

    #[derive(Default)]
    struct Fake {
        entries: Mutex<Vec<String>>,
        addons: Mutex<Vec<String>>,
        calls: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl ClusterExtras for Fake {
        async fn access_entries(&self, _: &str) -> Result<Vec<String>, ProviderError> {
            Ok(self.entries.lock().unwrap().clone())
        }
        async fn create_admin_entry(&self, c: &str, p: &str) -> Result<(), ProviderError> {
            self.calls.lock().unwrap().push(format!("entry {c} {p}"));
            self.entries.lock().unwrap().push(p.to_string());
            Ok(())
        }
        async fn addons(&self, _: &str) -> Result<Vec<String>, ProviderError> {
            Ok(self.addons.lock().unwrap().clone())
        }
        async fn create_addon(&self, c: &str, a: &str) -> Result<(), ProviderError> {
            self.calls.lock().unwrap().push(format!("addon {c} {a}"));
            self.addons.lock().unwrap().push(a.to_string());
            Ok(())
        }
    }

    #[test]
    fn session_arns_become_role_arns() {
        assert_eq!(
            principal_arn("arn:aws:sts::123456789012:assumed-role/Admin/alice"),
            "arn:aws:iam::123456789012:role/Admin"
        );
        assert_eq!(
            principal_arn("arn:aws:iam::123456789012:user/bob"),
            "arn:aws:iam::123456789012:user/bob"
        );
    }

    #[tokio::test]
    async fn access_entry_is_created_once_for_the_role_behind_the_session() {
        let fake = Fake::default();
        let cx = OpContext::detached("e", "cluster");
        let caller = "arn:aws:sts::1:assumed-role/Admin/alice";
        let mut pass = Pass::new(&cx, false);
        ensure_access(&fake, &mut pass, "kat-e", caller)
            .await
            .unwrap();
        assert_eq!(pass.changes.len(), 1);
        let mut again = Pass::new(&cx, false);
        ensure_access(&fake, &mut again, "kat-e", caller)
            .await
            .unwrap();
        assert!(again.changes.is_empty());
        assert_eq!(
            *fake.calls.lock().unwrap(),
            vec!["entry kat-e arn:aws:iam::1:role/Admin".to_string()]
        );
    }

    #[tokio::test]
    async fn missing_addons_only_are_created_and_a_plan_creates_none() {
        let fake = Fake::default();
        fake.addons.lock().unwrap().push("vpc-cni".into());
        let cx = OpContext::detached("e", "nodes");
        let want: Vec<String> = ["vpc-cni", "coredns"].map(String::from).to_vec();
        let mut plan = Pass::new(&cx, true);
        ensure_addons(&fake, &mut plan, "kat-e", &want)
            .await
            .unwrap();
        assert_eq!(plan.changes.len(), 1);
        assert!(fake.calls.lock().unwrap().is_empty());
        let mut pass = Pass::new(&cx, false);
        ensure_addons(&fake, &mut pass, "kat-e", &want)
            .await
            .unwrap();
        assert_eq!(
            *fake.calls.lock().unwrap(),
            vec!["addon kat-e coredns".to_string()]
        );
    }
}
