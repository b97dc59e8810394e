//! The security group kat attaches to the control plane (as an additional group). The database
//! admits it when EKS reports no cluster security group of its own.

use aws_sdk_ec2::types::ResourceType;
use kat_provider::ProviderError;

use crate::clients::Aws;
use crate::error::pe;
use crate::shared::Shared;
use crate::tags;
use kat_provider::converge::Pass;

pub async fn find(
    aws: &Aws,
    s: &Shared,
    vpc: &str,
    name: &str,
) -> Result<Option<String>, ProviderError> {
    let out = aws
        .ec2
        .describe_security_groups()
        .filters(tags::filter("vpc-id", vpc))
        .filters(tags::filter("group-name", name))
        .send()
        .await
        .map_err(|e| {
            pe(
                "DescribeSecurityGroups",
                &format!("security-group/{name}"),
                e,
            )
        })?;
    let _ = s;
    Ok(out
        .security_groups()
        .first()
        .and_then(|g| g.group_id().map(str::to_string)))
}

pub async fn ensure(
    aws: &Aws,
    s: &Shared,
    pass: &mut Pass<'_>,
    vpc: Option<&str>,
    name: &str,
    description: &str,
) -> Result<Option<String>, ProviderError> {
    let resource = format!("security-group/{name}");
    if let Some(vpc) = vpc {
        if let Some(id) = find(aws, s, vpc, name).await? {
            return Ok(Some(id));
        }
    }
    if !pass.create(&resource)? {
        return Ok(None);
    }
    let out = aws
        .ec2
        .create_security_group()
        .group_name(name)
        .description(description)
        .vpc_id(vpc.unwrap_or_default())
        .tag_specifications(tags::ec2_spec(
            ResourceType::SecurityGroup,
            &s.req.tags,
            name,
            &[],
        ))
        .send()
        .await
        .map_err(|e| pe("CreateSecurityGroup", &resource, e))?;
    Ok(out.group_id().map(str::to_string))
}
