//! Route tables: one public (default route to the internet gateway) for all public subnets, and
//! one private per NAT gateway (default route through it) for the private subnets it serves.

use aws_sdk_ec2::types::{ResourceType, RouteTable};
use kat_provider::ProviderError;

use crate::clients::Aws;
use crate::error::pe;
use crate::shared::Shared;
use crate::tags;
use kat_provider::converge::Pass;

pub enum Target {
    Igw(Option<String>),
    Nat(Option<String>),
}

pub struct Want {
    pub name: String,
    pub target: Target,
    pub subnets: Vec<Option<String>>,
}

async fn find(aws: &Aws, s: &Shared, name: &str) -> Result<Option<RouteTable>, ProviderError> {
    let out = aws
        .ec2
        .describe_route_tables()
        .set_filters(Some(tags::ec2_filters(&s.names.env, name)))
        .send()
        .await
        .map_err(|e| pe("DescribeRouteTables", &format!("route-table/{name}"), e))?;
    Ok(out.route_tables().first().cloned())
}

pub async fn ensure(
    aws: &Aws,
    s: &Shared,
    pass: &mut Pass<'_>,
    vpc: Option<&str>,
    want: &Want,
) -> Result<(), ProviderError> {
    let resource = format!("route-table/{}", want.name);
    let table = match vpc {
        Some(_) => find(aws, s, &want.name).await?,
        None => None,
    };
    let id = match &table {
        Some(t) => t.route_table_id().map(str::to_string),
        None if pass.create(&resource)? => {
            let out = aws
                .ec2
                .create_route_table()
                .vpc_id(vpc.unwrap_or_default())
                .tag_specifications(tags::ec2_spec(
                    ResourceType::RouteTable,
                    &s.req.tags,
                    &want.name,
                    &[],
                ))
                .send()
                .await
                .map_err(|e| pe("CreateRouteTable", &resource, e))?;
            out.route_table()
                .and_then(|t| t.route_table_id())
                .map(str::to_string)
        }
        None => None,
    };
    let default = table.as_ref().and_then(|t| {
        t.routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .cloned()
    });
    let (target, is_right) = match &want.target {
        Target::Igw(g) => (
            g.clone(),
            default
                .as_ref()
                .is_some_and(|r| r.gateway_id().is_some() && r.gateway_id() == g.as_deref()),
        ),
        Target::Nat(n) => (
            n.clone(),
            default.as_ref().is_some_and(|r| {
                r.nat_gateway_id().is_some() && r.nat_gateway_id() == n.as_deref()
            }),
        ),
    };
    if !is_right && pass.update(&resource, "default route")? {
        let id = id.clone().unwrap_or_default();
        let target = target.unwrap_or_default();
        // A route to a deleted NAT gateway (blackhole) is replaced, not added beside.
        if default.is_some() {
            let call = aws
                .ec2
                .replace_route()
                .route_table_id(&id)
                .destination_cidr_block("0.0.0.0/0");
            let call = match want.target {
                Target::Igw(_) => call.gateway_id(&target),
                Target::Nat(_) => call.nat_gateway_id(&target),
            };
            call.send()
                .await
                .map_err(|e| pe("ReplaceRoute", &resource, e))?;
        } else {
            let call = aws
                .ec2
                .create_route()
                .route_table_id(&id)
                .destination_cidr_block("0.0.0.0/0");
            let call = match want.target {
                Target::Igw(_) => call.gateway_id(&target),
                Target::Nat(_) => call.nat_gateway_id(&target),
            };
            call.send()
                .await
                .map_err(|e| pe("CreateRoute", &resource, e))?;
        }
    }
    for subnet in &want.subnets {
        let associated = match (&table, subnet) {
            (Some(t), Some(sn)) => t
                .associations()
                .iter()
                .any(|a| a.subnet_id() == Some(sn.as_str())),
            _ => false,
        };
        if !associated
            && pass.update(
                &resource,
                format!("associate {}", subnet.as_deref().unwrap_or("new subnet")),
            )?
        {
            aws.ec2
                .associate_route_table()
                .route_table_id(id.clone().unwrap_or_default())
                .subnet_id(subnet.clone().unwrap_or_default())
                .send()
                .await
                .map_err(|e| pe("AssociateRouteTable", &resource, e))?;
        }
    }
    Ok(())
}
