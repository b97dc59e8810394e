//! The VPC: found by its `Name` and `kat:environment` tags, created with DNS support and hostnames
//! (EKS nodes need both to join the cluster).

use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, VpcAttributeName};
use kat_provider::ProviderError;

use crate::clients::Aws;
use crate::error::pe;
use crate::shared::Shared;
use crate::tags;
use kat_provider::converge::Pass;

/// Every VPC tagged for this environment (more than one only if something made one by hand).
pub async fn find_all(aws: &Aws, s: &Shared) -> Result<Vec<String>, ProviderError> {
    let name = s.names.cluster();
    let out = aws
        .ec2
        .describe_vpcs()
        .set_filters(Some(tags::ec2_filters(&s.names.env, &name)))
        .send()
        .await
        .map_err(|e| pe("DescribeVpcs", &format!("vpc/{name}"), e))?;
    Ok(out
        .vpcs()
        .iter()
        .filter_map(|v| v.vpc_id().map(str::to_string))
        .collect())
}

pub async fn ensure(
    aws: &Aws,
    s: &Shared,
    pass: &mut Pass<'_>,
) -> Result<Option<String>, ProviderError> {
    let name = s.names.cluster();
    let resource = format!("vpc/{name}");
    let id = match find_all(aws, s).await?.into_iter().next() {
        Some(id) => id,
        None => {
            if !pass.create(&resource)? {
                return Ok(None);
            }
            let out = aws
                .ec2
                .create_vpc()
                .cidr_block(&s.req.config.eks.vpc_cidr)
                .tag_specifications(tags::ec2_spec(ResourceType::Vpc, &s.req.tags, &name, &[]))
                .send()
                .await
                .map_err(|e| pe("CreateVpc", &resource, e))?;
            out.vpc()
                .and_then(|v| v.vpc_id())
                .unwrap_or_default()
                .to_string()
        }
    };
    for attr in [
        VpcAttributeName::EnableDnsSupport,
        VpcAttributeName::EnableDnsHostnames,
    ] {
        let cur = aws
            .ec2
            .describe_vpc_attribute()
            .vpc_id(&id)
            .attribute(attr.clone())
            .send()
            .await
            .map_err(|e| pe("DescribeVpcAttribute", &resource, e))?;
        let on = match attr {
            VpcAttributeName::EnableDnsSupport => cur.enable_dns_support(),
            _ => cur.enable_dns_hostnames(),
        }
        .and_then(|a| a.value())
        .unwrap_or(false);
        if !on && pass.update(&resource, format!("{attr} on"))? {
            let yes = AttributeBooleanValue::builder().value(true).build();
            let call = aws.ec2.modify_vpc_attribute().vpc_id(&id);
            let call = match attr {
                VpcAttributeName::EnableDnsSupport => call.enable_dns_support(yes),
                _ => call.enable_dns_hostnames(yes),
            };
            call.send()
                .await
                .map_err(|e| pe("ModifyVpcAttribute", &resource, e))?;
        }
    }
    Ok(Some(id))
}
