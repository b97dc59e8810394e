//! The node group calls every part of the stage shares: describe, list, wait, delete.

use std::time::Duration;

use aws_sdk_eks::types::{Nodegroup, NodegroupStatus};
use kat_provider::wait::{poll_until, Backoff};
use kat_provider::ProviderError;

use crate::clients::Aws;
use crate::error::{api, is_not_found, pe};
use kat_provider::converge::retrying;
use kat_provider::converge::Pass;

const NODE_BACKOFF: Backoff = Backoff {
    first: Duration::from_secs(2),
    max: Duration::from_secs(30),
    factor: 1.5,
};

pub async fn describe(
    aws: &Aws,
    cluster: &str,
    name: &str,
) -> Result<Option<Nodegroup>, ProviderError> {
    match aws
        .eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.nodegroup().cloned()),
        Err(e) if is_not_found(crate::error::code(&e).as_deref()) => Ok(None),
        Err(e) => Err(pe("DescribeNodegroup", &format!("nodegroup/{name}"), e)),
    }
}

/// Waits until the group is ACTIVE (or gone, with `until_gone`), naming its status meanwhile.
pub async fn wait(
    aws: &Aws,
    pass: &Pass<'_>,
    cluster: &str,
    name: &str,
    until_gone: bool,
) -> Result<(), ProviderError> {
    let what = format!("node group {name}");
    poll_until(pass.cx, &what, NODE_BACKOFF, || async {
        let status = describe(aws, cluster, name)
            .await?
            .and_then(|n| n.status().cloned());
        match (until_gone, status) {
            (true, None) | (false, Some(NodegroupStatus::Active)) => Ok(Some(())),
            (false, Some(s @ (NodegroupStatus::CreateFailed | NodegroupStatus::Degraded))) => {
                Err(ProviderError::Other(format!(
                    "node group {name} is {s}; see its health issues in the EKS console (instance quota, subnet addresses), then `kat up` again"
                )))
            }
            (false, None) => Err(ProviderError::Other(format!(
                "node group {name} disappeared while kat waited for it; run `kat up` again"
            ))),
            (_, s) => {
                pass.cx.step(format!(
                    "waiting for node group {name}: {}",
                    s.map(|s| s.to_string()).unwrap_or_else(|| "gone".into())
                ));
                Ok(None)
            }
        }
    })
    .await
}

/// The cluster's node groups (none when the cluster is gone).
pub async fn list(aws: &Aws, cluster: &str) -> Result<Vec<String>, ProviderError> {
    match aws.eks.list_nodegroups().cluster_name(cluster).send().await {
        Ok(out) => Ok(out.nodegroups().to_vec()),
        Err(e) if is_not_found(crate::error::code(&e).as_deref()) => Ok(Vec::new()),
        Err(e) => Err(pe("ListNodegroups", &format!("cluster/{cluster}"), e)),
    }
}

/// Starts the delete of one group; EKS cordons and drains its nodes (respecting
/// PodDisruptionBudgets) before it terminates them.
pub async fn delete(
    aws: &Aws,
    pass: &Pass<'_>,
    cluster: &str,
    name: &str,
) -> Result<(), ProviderError> {
    let resource = format!("nodegroup/{name}");
    retrying(pass.cx, &format!("delete {resource}"), || async {
        match aws
            .eks
            .delete_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(crate::error::code(&e).as_deref()) => Ok(()),
            Err(e) => Err(api("DeleteNodegroup", &resource, e)),
        }
    })
    .await?;
    Ok(())
}

/// Deletes every node group of the cluster (kat's, and any a user added by hand: the cluster
/// cannot go while one exists) and waits until they are gone.
pub async fn delete_all(
    aws: &Aws,
    pass: &mut Pass<'_>,
    cluster: &str,
) -> Result<(), ProviderError> {
    let groups = list(aws, cluster).await?;
    for g in &groups {
        if pass.delete(format!("nodegroup/{g}"))? {
            delete(aws, pass, cluster, g).await?;
        }
    }
    if !pass.dry {
        for g in &groups {
            wait(aws, pass, cluster, g, true).await?;
        }
    }
    Ok(())
}
