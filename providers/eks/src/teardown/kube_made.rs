//! Finding what Kubernetes made in AWS for a cluster, by the tags its controllers put on it: the
//! cloud controller (and the EBS CSI driver with `--k8s-tag-cluster-id`) tag
//! `kubernetes.io/cluster/<name>` (legacy: `KubernetesCluster=<name>`), the AWS Load Balancer
//! Controller tags `elbv2.k8s.aws/cluster=<name>`. Every list is paginated: an account may hold
//! hundreds of other load balancers.

use aws_sdk_ec2::types::{Filter, VolumeState};
use aws_sdk_elasticloadbalancingv2::types::LoadBalancerStateEnum;
use kat_provider::ProviderError;

use crate::clients::Aws;
use crate::error::pe;
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
    let mut tagged = Vec::new();
    for chunk in all.chunks(TAG_BATCH) {
        let out = aws
            .elbv2
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| pe("DescribeTags", "elbv2", e))?;
        for d in out.tag_descriptions() {
            if d.tags()
                .iter()
                .any(|g| t.matches(g.key().unwrap_or_default(), g.value()))
            {
                tagged.extend(d.resource_arn().map(str::to_string));
            }
        }
    }
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
    let mut tagged = Vec::new();
    for chunk in names.chunks(TAG_BATCH) {
        let out = aws
            .elb
            .describe_tags()
            .set_load_balancer_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| pe("DescribeTags", "elb", e))?;
        for d in out.tag_descriptions() {
            if d.tags().iter().any(|g| t.matches(g.key(), g.value())) {
                tagged.extend(d.load_balancer_name().map(str::to_string));
            }
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
    use super::ClusterTags;

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
