//! Finding what Kubernetes made in AWS for a cluster, by the tags its controllers put on it: the
//! cloud controller (and the EBS CSI driver with `--k8s-tag-cluster-id`) tag
//! `kubernetes.io/cluster/<name>` (legacy: `KubernetesCluster=<name>`), the AWS Load Balancer
//! Controller tags `elbv2.k8s.aws/cluster=<name>`. Every list is paginated: an account may hold
//! hundreds of other load balancers.

use aws_sdk_ec2::types::{Filter, VolumeState};
use aws_sdk_elasticloadbalancingv2::types::LoadBalancerStateEnum;
use kat_provider::ProviderError;

use crate::clients::Aws;
use crate::error::{code, is_not_found, pe};
use crate::tags;

const LB_CONTROLLER: &str = "elbv2.k8s.aws/cluster";
const LEGACY: &str = "KubernetesCluster";
/// DescribeTags takes at most 20 resources (ELBv2 ARNs, classic names) per call.
const TAG_BATCH: usize = 20;

/// The tags that mark a resource as made by Kubernetes for one cluster.
#[derive(Debug, Clone)]
pub struct ClusterTags {
    pub cluster: String,
}

impl ClusterTags {
    pub fn new(cluster: &str) -> Self {
        ClusterTags {
            cluster: cluster.to_string(),
        }
    }

    /// `kubernetes.io/cluster/<name>`.
    pub fn owned_key(&self) -> String {
        format!("kubernetes.io/cluster/{}", self.cluster)
    }

    pub fn matches(&self, key: &str, value: Option<&str>) -> bool {
        // `shared` marks what the cluster uses but does not own (kat's subnets, a user's VPC).
        (key == self.owned_key() && value != Some("shared"))
            || ((key == LB_CONTROLLER || key == LEGACY) && value == Some(self.cluster.as_str()))
    }

    /// One EC2 filter per tag, each a call of its own. (EC2 ORs a filter's values, but moto
    /// misses a resource with other tags when `tag-key` has several values.)
    fn ec2_filters(&self) -> Vec<Filter> {
        vec![
            tags::filter("tag-key", &self.owned_key()),
            tags::filter(&format!("tag:{LB_CONTROLLER}"), &self.cluster),
            tags::filter(&format!("tag:{LEGACY}"), &self.cluster),
        ]
    }

    /// Why kat thinks Kubernetes made it, for the line that says kat deletes it.
    pub fn describe(&self) -> String {
        format!(
            "tagged {} or {LB_CONTROLLER}={}",
            self.owned_key(),
            self.cluster
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancer {
    pub arn: String,
    /// Still being made: a Service created just before `down`.
    pub provisioning: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub id: String,
    /// Attached (to the node its pod ran on), or changing state: the CSI driver may still be at it.
    pub busy: bool,
    pub attached_to: Vec<String>,
}

/// ELBv2 load balancers and target groups made for the cluster.
pub async fn elbv2(
    aws: &Aws,
    t: &ClusterTags,
) -> Result<(Vec<LoadBalancer>, Vec<String>), ProviderError> {
    let mut lbs = Vec::new();
    let mut marker = None;
    loop {
        let out = aws
            .elbv2
            .describe_load_balancers()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| pe("DescribeLoadBalancers", "elbv2", e))?;
        lbs.extend(out.load_balancers().iter().filter_map(|l| {
            Some(LoadBalancer {
                arn: l.load_balancer_arn()?.to_string(),
                provisioning: l.state().and_then(|s| s.code())
                    == Some(&LoadBalancerStateEnum::Provisioning),
            })
        }));
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    let mut tgs = Vec::new();
    let mut marker = None;
    loop {
        let out = aws
            .elbv2
            .describe_target_groups()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| pe("DescribeTargetGroups", "elbv2", e))?;
        tgs.extend(
            out.target_groups()
                .iter()
                .filter_map(|g| g.target_group_arn().map(str::to_string)),
        );
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    let all: Vec<String> = lbs
        .iter()
        .map(|l| l.arn.clone())
        .chain(tgs.clone())
        .collect();
    let tagged = tagged_among(&all, |chunk| async move {
        let out = aws
            .elbv2
            .describe_tags()
            .set_resource_arns(Some(chunk))
            .send()
            .await
            .map_err(|e| (code(&e), pe("DescribeTags", "elbv2", e)))?;
        Ok(out
            .tag_descriptions()
            .iter()
            .filter(|d| {
                d.tags()
                    .iter()
                    .any(|g| t.matches(g.key().unwrap_or_default(), g.value()))
            })
            .filter_map(|d| d.resource_arn().map(str::to_string))
            .collect())
    })
    .await?;
    lbs.retain(|l| tagged.contains(&l.arn));
    tgs.retain(|a| tagged.contains(a));
    Ok((lbs, tgs))
}

/// Classic load balancers (names) made for the cluster.
pub async fn classic(aws: &Aws, t: &ClusterTags) -> Result<Vec<String>, ProviderError> {
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let out = aws
            .elb
            .describe_load_balancers()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| pe("DescribeLoadBalancers", "elb", e))?;
        names.extend(
            out.load_balancer_descriptions()
                .iter()
                .filter_map(|l| l.load_balancer_name().map(str::to_string)),
        );
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    let tagged = tagged_among(&names, |chunk| async move {
        let out = aws
            .elb
            .describe_tags()
            .set_load_balancer_names(Some(chunk))
            .send()
            .await
            .map_err(|e| (code(&e), pe("DescribeTags", "elb", e)))?;
        Ok(out
            .tag_descriptions()
            .iter()
            .filter(|d| d.tags().iter().any(|g| t.matches(g.key(), g.value())))
            .filter_map(|d| d.load_balancer_name().map(str::to_string))
            .collect())
    })
    .await?;
    Ok(tagged)
}

/// A failed DescribeTags call: the AWS error code beside the error to report.
type TagsFailure = (Option<String>, ProviderError);

/// The resources among `all` whose tags mark them as the cluster's, asked in batches of
/// [`TAG_BATCH`]. A load balancer deleted between the list and DescribeTags (its controller, or
/// kat's own earlier pass, is deleting them) fails its whole batch with `LoadBalancerNotFound`:
/// that batch is asked again one resource at a time, and what is gone is left out.
async fn tagged_among<F, Fut>(all: &[String], describe: F) -> Result<Vec<String>, ProviderError>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>, TagsFailure>>,
{
    let mut tagged = Vec::new();
    for chunk in all.chunks(TAG_BATCH) {
        match describe(chunk.to_vec()).await {
            Ok(found) => tagged.extend(found),
            Err((c, _)) if is_not_found(c.as_deref()) => {
                for one in chunk {
                    match describe(vec![one.clone()]).await {
                        Ok(found) => tagged.extend(found),
                        Err((c, _)) if is_not_found(c.as_deref()) => {}
                        Err((_, e)) => return Err(e),
                    }
                }
            }
            Err((_, e)) => return Err(e),
        }
    }
    Ok(tagged)
}

/// Checked here too: the server-side filter cannot tell `owned` from `shared`, and emulators
/// ignore some filters.
fn ec2_tagged(t: &ClusterTags, tags: &[aws_sdk_ec2::types::Tag]) -> bool {
    tags.iter()
        .any(|x| t.matches(x.key().unwrap_or_default(), x.value()))
}

/// Security groups made for the cluster's load balancers, as (id, name). EKS's own cluster
/// security group carries the cluster tag too, but EKS deletes it with the cluster, and while
/// the cluster exists it cannot go: it is left out.
pub async fn security_groups(
    aws: &Aws,
    t: &ClusterTags,
) -> Result<Vec<(String, String)>, ProviderError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for f in t.ec2_filters() {
        let mut token = None;
        loop {
            let r = aws
                .ec2
                .describe_security_groups()
                .filters(f.clone())
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| pe("DescribeSecurityGroups", &t.owned_key(), e))?;
            for g in r.security_groups() {
                let eks_own = g
                    .tags()
                    .iter()
                    .any(|x| x.key() == Some("aws:eks:cluster-name"));
                let id = g.group_id().unwrap_or_default().to_string();
                if !eks_own && ec2_tagged(t, g.tags()) && !out.iter().any(|(i, _)| *i == id) {
                    out.push((id, g.group_name().unwrap_or_default().to_string()));
                }
            }
            token = r.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(out)
}

/// EBS volumes made for the cluster's PersistentVolumeClaims.
pub async fn volumes(aws: &Aws, t: &ClusterTags) -> Result<Vec<Volume>, ProviderError> {
    let mut out: Vec<Volume> = Vec::new();
    for f in t.ec2_filters() {
        let mut token = None;
        loop {
            let r = aws
                .ec2
                .describe_volumes()
                .filters(f.clone())
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| pe("DescribeVolumes", &t.owned_key(), e))?;
            for v in r.volumes() {
                let id = v.volume_id().unwrap_or_default().to_string();
                if !ec2_tagged(t, v.tags()) || out.iter().any(|o| o.id == id) {
                    continue;
                }
                let attached_to: Vec<String> = v
                    .attachments()
                    .iter()
                    .filter_map(|a| a.instance_id().map(str::to_string))
                    .collect();
                let busy = !attached_to.is_empty() || v.state() != Some(&VolumeState::Available);
                out.push(Volume {
                    id,
                    busy,
                    attached_to,
                });
            }
            token = r.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{tagged_among, ClusterTags, TagsFailure};
    use kat_provider::ProviderError;
    use std::sync::Mutex;

    fn failure(code: &str) -> TagsFailure {
        (
            Some(code.to_string()),
            ProviderError::Other(format!("DescribeTags: {code}")),
        )
    }

    /// A fake DescribeTags: names starting `k` are the cluster's, `gone*` no longer exist (the
    /// whole call fails, as AWS does), `deny*` are refused. Every call's batch is recorded.
    fn fake(
        calls: &Mutex<Vec<Vec<String>>>,
        batch: Vec<String>,
    ) -> Result<Vec<String>, TagsFailure> {
        calls.lock().unwrap().push(batch.clone());
        if batch.iter().any(|n| n.starts_with("gone")) {
            return Err(failure("LoadBalancerNotFound"));
        }
        if batch.iter().any(|n| n.starts_with("deny")) {
            return Err(failure("AccessDenied"));
        }
        Ok(batch.into_iter().filter(|n| n.starts_with('k')).collect())
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn a_load_balancer_deleted_during_the_scan_is_left_out_and_the_rest_still_found() {
        let calls = Mutex::new(Vec::new());
        let all = names(&["k1", "other", "gone", "k2"]);
        let found = tagged_among(&all, |b| {
            let r = fake(&calls, b);
            async move { r }
        })
        .await
        .unwrap();
        assert_eq!(found, names(&["k1", "k2"]));
        let calls = calls.into_inner().unwrap();
        assert_eq!(calls[0], all, "one batched call first");
        assert_eq!(calls.len(), 5, "then one call per name: {calls:?}");
    }

    #[tokio::test]
    async fn batches_hold_twenty_and_other_failures_are_reported() {
        let calls = Mutex::new(Vec::new());
        let all: Vec<String> = (0..45).map(|i| format!("k{i}")).collect();
        let found = tagged_among(&all, |b| {
            let r = fake(&calls, b);
            async move { r }
        })
        .await
        .unwrap();
        assert_eq!(found, all);
        let sizes: Vec<usize> = calls.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![20, 20, 5]);

        let err = tagged_among(&names(&["k1", "deny"]), |b| {
            let r = fake(&calls, b);
            async move { r }
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("AccessDenied"), "{err}");
        let err = tagged_among(&names(&["gone", "deny"]), |b| {
            let r = fake(&calls, b);
            async move { r }
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("AccessDenied"), "{err}");
    }

    #[test]
    fn both_controllers_tags_match_and_shared_does_not() {
        let t = ClusterTags::new("kat-x");
        assert!(t.matches("kubernetes.io/cluster/kat-x", Some("owned")));
        assert!(t.matches("elbv2.k8s.aws/cluster", Some("kat-x")));
        assert!(t.matches("KubernetesCluster", Some("kat-x")));
        assert!(!t.matches("kubernetes.io/cluster/kat-x", Some("shared")));
        assert!(!t.matches("elbv2.k8s.aws/cluster", Some("kat-y")));
        assert!(!t.matches("kubernetes.io/cluster/kat-xy", Some("owned")));
    }
}
