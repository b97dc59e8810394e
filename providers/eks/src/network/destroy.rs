//! Deleting kat's VPC and everything in it, found by tags and VPC id alone. Order matters: ENIs and
//! NAT gateways hold addresses in the subnets, security groups may refer to each other, and a VPC
//! goes only when it is empty. A delete AWS keeps refusing is reported with what blocks it.

use std::time::Duration;

use aws_sdk_ec2::types::NatGatewayState;
use kat_provider::wait::{poll_until, Backoff};
use kat_provider::ProviderError;

use crate::clients::Aws;
use crate::error::{api, pe};
use crate::shared::Shared;
use crate::tags;
use crate::teardown::blocked::{delete_retried, Holder};
use kat_provider::converge::retrying;
use kat_provider::converge::Pass;

pub async fn run(s: &Shared, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
    if s.byo_vpc() {
        return Ok(());
    }
    let aws = s.aws().await;
    for vpc in super::find_vpcs(&aws, s).await? {
        nat_gateways(&aws, pass, &vpc).await?;
        crate::teardown::leftovers::enis(&aws, pass, &vpc).await?;
        addresses(&aws, s, pass).await?;
        security_groups(&aws, pass, &vpc).await?;
        subnets(&aws, pass, &vpc).await?;
        route_tables(&aws, pass, &vpc).await?;
        internet_gateways(&aws, s, pass, &vpc).await?;
        let resource = format!("vpc/{vpc}");
        let holder = Holder::Enis {
            filter: "vpc-id",
            value: &vpc,
        };
        delete_retried(&aws, pass, &resource, holder, || async {
            aws.ec2
                .delete_vpc()
                .vpc_id(&vpc)
                .send()
                .await
                .map_err(|e| api("DeleteVpc", &resource, e))
        })
        .await?;
    }
    // Addresses whose NAT gateway went with an earlier, interrupted `down`.
    addresses(&aws, s, pass).await
}

async fn nat_gateways(aws: &Aws, pass: &mut Pass<'_>, vpc: &str) -> Result<(), ProviderError> {
    let out = aws
        .ec2
        .describe_nat_gateways()
        .filter(tags::filter("vpc-id", vpc))
        .send()
        .await
        .map_err(|e| pe("DescribeNatGateways", vpc, e))?;
    let mut waiting = Vec::new();
    for n in out.nat_gateways() {
        let id = n.nat_gateway_id().unwrap_or_default().to_string();
        match n.state() {
            Some(NatGatewayState::Deleted) => continue,
            Some(NatGatewayState::Deleting) => {}
            _ => {
                let resource = format!("nat-gateway/{id}");
                if pass.delete(&resource)? {
                    aws.ec2
                        .delete_nat_gateway()
                        .nat_gateway_id(&id)
                        .send()
                        .await
                        .map_err(|e| pe("DeleteNatGateway", &resource, e))?;
                }
            }
        }
        waiting.push(id);
    }
    if pass.dry || waiting.is_empty() {
        return Ok(());
    }
    // The subnets and addresses are held until the gateways are really gone.
    let backoff = Backoff {
        first: Duration::from_secs(1),
        max: Duration::from_secs(15),
        factor: 1.6,
    };
    poll_until(pass.cx, "NAT gateways to be deleted", backoff, || async {
        let out = aws
            .ec2
            .describe_nat_gateways()
            .set_nat_gateway_ids(Some(waiting.clone()))
            .send()
            .await
            .map_err(|e| pe("DescribeNatGateways", vpc, e))?;
        let left = out
            .nat_gateways()
            .iter()
            .filter(|n| n.state() != Some(&NatGatewayState::Deleted))
            .count();
        if left == 0 {
            Ok(Some(()))
        } else {
            pass.cx
                .step(format!("waiting for {left} NAT gateway(s) to be deleted"));
            Ok(None)
        }
    })
    .await
}

async fn addresses(aws: &Aws, s: &Shared, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
    let out = aws
        .ec2
        .describe_addresses()
        .filters(tags::filter(
            &format!("tag:{}", tags::ENV_TAG),
            &s.names.env,
        ))
        .send()
        .await
        .map_err(|e| pe("DescribeAddresses", "elastic-ip", e))?;
    for a in out.addresses() {
        let id = a.allocation_id().unwrap_or_default().to_string();
        let resource = format!("elastic-ip/{id}");
        if pass.delete(&resource)? {
            // Released only once the NAT gateway's ENI lets go of it.
            retrying(pass.cx, &format!("release {resource}"), || async {
                aws.ec2
                    .release_address()
                    .allocation_id(&id)
                    .send()
                    .await
                    .map_err(|e| api("ReleaseAddress", &resource, e))
            })
            .await?;
        }
    }
    Ok(())
}

async fn security_groups(aws: &Aws, pass: &mut Pass<'_>, vpc: &str) -> Result<(), ProviderError> {
    let out = aws
        .ec2
        .describe_security_groups()
        .filters(tags::filter("vpc-id", vpc))
        .send()
        .await
        .map_err(|e| pe("DescribeSecurityGroups", vpc, e))?;
    let groups: Vec<_> = out
        .security_groups()
        .iter()
        .filter(|g| g.group_name() != Some("default"))
        .cloned()
        .collect();
    // Rules naming other groups first: two groups that admit each other block each other's delete.
    for g in &groups {
        let id = g.group_id().unwrap_or_default();
        let refs: Vec<_> = g
            .ip_permissions()
            .iter()
            .filter(|p| !p.user_id_group_pairs().is_empty())
            .cloned()
            .collect();
        if !refs.is_empty()
            && pass.update(
                format!("security-group/{id}"),
                "remove rules naming other groups",
            )?
        {
            aws.ec2
                .revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(refs))
                .send()
                .await
                .map_err(|e| pe("RevokeSecurityGroupIngress", id, e))?;
        }
    }
    for g in &groups {
        let id = g.group_id().unwrap_or_default().to_string();
        let resource = format!("security-group/{id} ({})", g.group_name().unwrap_or("?"));
        let holder = Holder::Enis {
            filter: "group-id",
            value: &id,
        };
        delete_retried(aws, pass, &resource, holder, || async {
            aws.ec2
                .delete_security_group()
                .group_id(&id)
                .send()
                .await
                .map_err(|e| api("DeleteSecurityGroup", &resource, e))
        })
        .await?;
    }
    Ok(())
}

async fn subnets(aws: &Aws, pass: &mut Pass<'_>, vpc: &str) -> Result<(), ProviderError> {
    let out = aws
        .ec2
        .describe_subnets()
        .filters(tags::filter("vpc-id", vpc))
        .send()
        .await
        .map_err(|e| pe("DescribeSubnets", vpc, e))?;
    for sn in out.subnets() {
        let id = sn.subnet_id().unwrap_or_default().to_string();
        let resource = format!("subnet/{id}");
        let holder = Holder::Enis {
            filter: "subnet-id",
            value: &id,
        };
        delete_retried(aws, pass, &resource, holder, || async {
            aws.ec2
                .delete_subnet()
                .subnet_id(&id)
                .send()
                .await
                .map_err(|e| api("DeleteSubnet", &resource, e))
        })
        .await?;
    }
    Ok(())
}

async fn route_tables(aws: &Aws, pass: &mut Pass<'_>, vpc: &str) -> Result<(), ProviderError> {
    let out = aws
        .ec2
        .describe_route_tables()
        .filters(tags::filter("vpc-id", vpc))
        .send()
        .await
        .map_err(|e| pe("DescribeRouteTables", vpc, e))?;
    for t in out.route_tables() {
        // The main table goes with the VPC.
        if t.associations().iter().any(|a| a.main() == Some(true)) {
            continue;
        }
        let id = t.route_table_id().unwrap_or_default().to_string();
        let resource = format!("route-table/{id}");
        if pass.delete(&resource)? {
            for a in t.associations() {
                if let Some(assoc) = a.route_table_association_id() {
                    let r = aws
                        .ec2
                        .disassociate_route_table()
                        .association_id(assoc)
                        .send()
                        .await;
                    if let Err(e) = r {
                        let c = crate::error::code(&e);
                        if !crate::error::is_not_found(c.as_deref()) {
                            return Err(pe("DisassociateRouteTable", &resource, e));
                        }
                    }
                }
            }
            retrying(pass.cx, &format!("delete {resource}"), || async {
                aws.ec2
                    .delete_route_table()
                    .route_table_id(&id)
                    .send()
                    .await
                    .map_err(|e| api("DeleteRouteTable", &resource, e))
            })
            .await?;
        }
    }
    Ok(())
}

/// By tag, not attachment: a gateway created by a run killed before it attached it goes too.
async fn internet_gateways(
    aws: &Aws,
    s: &Shared,
    pass: &mut Pass<'_>,
    vpc: &str,
) -> Result<(), ProviderError> {
    let out = aws
        .ec2
        .describe_internet_gateways()
        .filters(tags::filter(
            &format!("tag:{}", tags::ENV_TAG),
            &s.names.env,
        ))
        .send()
        .await
        .map_err(|e| pe("DescribeInternetGateways", vpc, e))?;
    for g in out.internet_gateways() {
        let id = g.internet_gateway_id().unwrap_or_default().to_string();
        let resource = format!("internet-gateway/{id}");
        let attached = g.attachments().iter().any(|a| a.vpc_id() == Some(vpc));
        if pass.delete(&resource)? && attached {
            // Detaching fails while public addresses are mapped in the VPC: retried.
            retrying(pass.cx, &format!("detach {resource}"), || async {
                aws.ec2
                    .detach_internet_gateway()
                    .internet_gateway_id(&id)
                    .vpc_id(vpc)
                    .send()
                    .await
                    .map_err(|e| api("DetachInternetGateway", &resource, e))
            })
            .await?;
        }
        if !pass.dry {
            aws.ec2
                .delete_internet_gateway()
                .internet_gateway_id(&id)
                .send()
                .await
                .map_err(|e| pe("DeleteInternetGateway", &resource, e))?;
        }
    }
    Ok(())
}
