//! What holds an AWS resource whose delete AWS keeps refusing: the converge kit's `blocked` names
//! it in the error, so the user knows what to delete (or wait for) before `kat down` again.

use kat_provider::converge::{self, Pass, RetryError};
use kat_provider::ProviderError;

use crate::clients::Aws;
use crate::error::{pe, EksError};
use crate::tags;

/// Where to look for what holds a resource.
pub enum Holder<'a> {
    /// Network interfaces matching an EC2 filter (`vpc-id`, `group-id`, `subnet-id`).
    Enis { filter: &'a str, value: &'a str },
    /// The instances the volume is attached to.
    Volume(&'a str),
    /// The load balancers the target group still serves.
    TargetGroup(&'a str),
    /// The refusal's own message is all AWS says.
    Unnamed,
}

pub async fn blocked<T>(
    aws: &Aws,
    r: Result<T, RetryError<EksError>>,
    resource: &str,
    holder: Holder<'_>,
) -> Result<(), ProviderError> {
    converge::blocked(r, resource, || holders(aws, resource, holder)).await
}

async fn holders(
    aws: &Aws,
    resource: &str,
    holder: Holder<'_>,
) -> Result<Vec<String>, ProviderError> {
    Ok(match holder {
        Holder::Enis { filter, value } => enis(aws, resource, filter, value).await?,
        Holder::Volume(id) => {
            let out = aws
                .ec2
                .describe_volumes()
                .volume_ids(id)
                .send()
                .await
                .map_err(|e| pe("DescribeVolumes", resource, e))?;
            out.volumes()
                .iter()
                .flat_map(|v| v.attachments())
                .filter_map(|a| a.instance_id())
                .map(|i| format!("instance {i}"))
                .collect()
        }
        Holder::TargetGroup(arn) => {
            let out = aws
                .elbv2
                .describe_target_groups()
                .target_group_arns(arn)
                .send()
                .await
                .map_err(|e| pe("DescribeTargetGroups", resource, e))?;
            out.target_groups()
                .iter()
                .flat_map(|g| g.load_balancer_arns())
                .map(|l| format!("load balancer {l}"))
                .collect()
        }
        Holder::Unnamed => Vec::new(),
    })
}

async fn enis(
    aws: &Aws,
    resource: &str,
    filter: &str,
    value: &str,
) -> Result<Vec<String>, ProviderError> {
    let out = aws
        .ec2
        .describe_network_interfaces()
        .filters(tags::filter(filter, value))
        .send()
        .await
        .map_err(|e| pe("DescribeNetworkInterfaces", resource, e))?;
    Ok(out
        .network_interfaces()
        .iter()
        .map(|n| {
            format!(
                "network interface {} ({})",
                n.network_interface_id().unwrap_or("?"),
                n.description().unwrap_or("no description")
            )
        })
        .collect())
}

/// Deletes `resource` when the pass allows, retrying what AWS refuses for a while (in use,
/// throttled), and names what still holds it when the refusal persists.
pub async fn delete_retried<T, F, Fut>(
    aws: &Aws,
    pass: &mut Pass<'_>,
    resource: &str,
    holder: Holder<'_>,
    call: F,
) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, EksError>>,
{
    converge::delete_retried(pass, resource, call, || holders(aws, resource, holder)).await
}
