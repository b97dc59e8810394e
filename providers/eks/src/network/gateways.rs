//! The internet gateway (public subnets' way out and in) and the NAT gateway(s) with their Elastic
//! IPs (private subnets' way out). One NAT by default; one per zone with `nat_per_az`.

use std::time::Duration;

use aws_sdk_ec2::types::{DomainType, NatGatewayState, ResourceType};
use kat_provider::wait::{poll_until, Backoff};
use kat_provider::ProviderError;

use crate::clients::Aws;
use crate::error::pe;
use crate::shared::Shared;
use crate::tags;
use kat_provider::converge::Pass;

pub async fn ensure_igw(
    aws: &Aws,
    s: &Shared,
    pass: &mut Pass<'_>,
    vpc: Option<&str>,
) -> Result<Option<String>, ProviderError> {
    let name = s.names.cluster();
    let resource = format!("internet-gateway/{name}");
    let out = aws
        .ec2
        .describe_internet_gateways()
        .set_filters(Some(tags::ec2_filters(&s.names.env, &name)))
        .send()
        .await
        .map_err(|e| pe("DescribeInternetGateways", &resource, e))?;
    let (id, attached) = match out.internet_gateways().first() {
        Some(g) => (
            g.internet_gateway_id().map(str::to_string),
            g.attachments()
                .iter()
                .any(|a| a.vpc_id().is_some() && a.vpc_id() == vpc),
        ),
        None => {
            let id = if pass.create(&resource)? {
                let out = aws
                    .ec2
                    .create_internet_gateway()
                    .tag_specifications(tags::ec2_spec(
                        ResourceType::InternetGateway,
                        &s.req.tags,
                        &name,
                        &[],
                    ))
                    .send()
                    .await
                    .map_err(|e| pe("CreateInternetGateway", &resource, e))?;
                out.internet_gateway()
                    .and_then(|g| g.internet_gateway_id())
                    .map(str::to_string)
            } else {
                None
            };
            (id, false)
        }
    };
    if !attached && pass.update(&resource, "attach to the VPC")? {
        if let (Some(id), Some(vpc)) = (&id, vpc) {
            aws.ec2
                .attach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(vpc)
                .send()
                .await
                .map_err(|e| pe("AttachInternetGateway", &resource, e))?;
        }
    }
    Ok(id)
}

/// NAT gateways that are, or will be, usable: anything but deleting/deleted/failed.
fn live(state: Option<&NatGatewayState>) -> bool {
    matches!(
        state,
        Some(NatGatewayState::Pending) | Some(NatGatewayState::Available)
    )
}

async fn ensure_eip(
    aws: &Aws,
    s: &Shared,
    pass: &mut Pass<'_>,
    name: &str,
) -> Result<Option<String>, ProviderError> {
    let resource = format!("elastic-ip/{name}");
    let out = aws
        .ec2
        .describe_addresses()
        .set_filters(Some(tags::ec2_filters(&s.names.env, name)))
        .send()
        .await
        .map_err(|e| pe("DescribeAddresses", &resource, e))?;
    if let Some(a) = out.addresses().first() {
        return Ok(a.allocation_id().map(str::to_string));
    }
    if !pass.create(&resource)? {
        return Ok(None);
    }
    let out = aws
        .ec2
        .allocate_address()
        .domain(DomainType::Vpc)
        .tag_specifications(tags::ec2_spec(
            ResourceType::ElasticIp,
            &s.req.tags,
            name,
            &[],
        ))
        .send()
        .await
        .map_err(|e| pe("AllocateAddress", &resource, e))?;
    Ok(out.allocation_id().map(str::to_string))
}

/// One NAT gateway per entry of `public` (subnet id, zone suffix); returns their ids in order.
pub async fn ensure_nats(
    aws: &Aws,
    s: &Shared,
    pass: &mut Pass<'_>,
    public: &[(Option<String>, char)],
) -> Result<Vec<Option<String>>, ProviderError> {
    let mut ids = Vec::new();
    for (subnet, suffix) in public {
        let name = s.names.of(&format!("nat-{suffix}"));
        let resource = format!("nat-gateway/{name}");
        let out = aws
            .ec2
            .describe_nat_gateways()
            .set_filter(Some(tags::ec2_filters(&s.names.env, &name)))
            .send()
            .await
            .map_err(|e| pe("DescribeNatGateways", &resource, e))?;
        // Tags checked here too: the emulator ignores tag filters on this call.
        let existing = out
            .nat_gateways()
            .iter()
            .find(|n| live(n.state()) && tags::has(n.tags(), "Name", &name))
            .and_then(|n| n.nat_gateway_id().map(str::to_string));
        let id = match existing {
            Some(id) => Some(id),
            None => {
                let eip = ensure_eip(aws, s, pass, &name).await?;
                if pass.create(&resource)? {
                    let out = aws
                        .ec2
                        .create_nat_gateway()
                        .subnet_id(subnet.clone().unwrap_or_default())
                        .set_allocation_id(eip)
                        .tag_specifications(tags::ec2_spec(
                            ResourceType::Natgateway,
                            &s.req.tags,
                            &name,
                            &[],
                        ))
                        .send()
                        .await
                        .map_err(|e| pe("CreateNatGateway", &resource, e))?;
                    out.nat_gateway()
                        .and_then(|n| n.nat_gateway_id())
                        .map(str::to_string)
                } else {
                    None
                }
            }
        };
        ids.push((id, resource));
    }
    // All created first, then waited for together: one per zone takes no longer than one.
    if !pass.dry {
        let waiting: Vec<(String, String)> = ids
            .iter()
            .filter_map(|(id, r)| id.clone().map(|id| (id, r.clone())))
            .collect();
        wait_available(aws, pass, &waiting).await?;
    }
    Ok(ids.into_iter().map(|(id, _)| id).collect())
}

/// Waits until every gateway of `gateways` (id, resource) is available, one call per look.
async fn wait_available(
    aws: &Aws,
    pass: &Pass<'_>,
    gateways: &[(String, String)],
) -> Result<(), ProviderError> {
    if gateways.is_empty() {
        return Ok(());
    }
    let backoff = Backoff {
        first: Duration::from_millis(500),
        max: Duration::from_secs(15),
        factor: 1.6,
    };
    let ids: Vec<String> = gateways.iter().map(|(id, _)| id.clone()).collect();
    let names = gateways
        .iter()
        .map(|(_, r)| r.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    poll_until(
        pass.cx,
        &format!("{names} to become available"),
        backoff,
        || async {
            let out = aws
                .ec2
                .describe_nat_gateways()
                .set_nat_gateway_ids(Some(ids.clone()))
                .send()
                .await
                .map_err(|e| pe("DescribeNatGateways", &names, e))?;
            let mut pending = Vec::new();
            for (id, resource) in gateways {
                let state = out
                    .nat_gateways()
                    .iter()
                    .find(|n| n.nat_gateway_id() == Some(id.as_str()))
                    .and_then(|n| n.state().cloned());
                match state {
                    Some(NatGatewayState::Available) => {}
                    Some(NatGatewayState::Pending) | None => pending.push(resource.as_str()),
                    Some(other) => {
                        return Err(ProviderError::Other(format!(
                            "{resource} is {other}; run `kat down` then `kat up` to replace it"
                        )))
                    }
                }
            }
            if pending.is_empty() {
                Ok(Some(()))
            } else {
                pass.cx.step(format!("waiting for {}", pending.join(", ")));
                Ok(None)
            }
        },
    )
    .await
}
