//! `ProviderRequest.tags` in each service's shape. Every resource kat creates carries them; `down`
//! and `sweep` find resources by `kat:environment`.

use kat_provider::config::Tags;

pub const ENV_TAG: &str = "kat:environment";

pub fn ec2(tags: &Tags, name: &str, extra: &[(String, String)]) -> Vec<aws_sdk_ec2::types::Tag> {
    let mut all: Vec<(String, String)> = tags.clone().into_iter().collect();
    all.push(("Name".into(), name.into()));
    all.extend(extra.iter().cloned());
    all.into_iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

pub fn ec2_spec(
    kind: aws_sdk_ec2::types::ResourceType,
    tags: &Tags,
    name: &str,
    extra: &[(String, String)],
) -> aws_sdk_ec2::types::TagSpecification {
    aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(ec2(tags, name, extra)))
        .build()
}

/// The filters that find kat's EC2 resource of this name in this environment.
pub fn ec2_filters(env: &str, name: &str) -> Vec<aws_sdk_ec2::types::Filter> {
    vec![
        filter(&format!("tag:{ENV_TAG}"), env),
        filter("tag:Name", name),
    ]
}

pub fn filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(name)
        .values(value)
        .build()
}

pub fn iam(tags: &Tags) -> Vec<aws_sdk_iam::types::Tag> {
    tags.iter()
        .filter_map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .ok()
        })
        .collect()
}

pub fn ecr(tags: &Tags) -> Vec<aws_sdk_ecr::types::Tag> {
    tags.iter()
        .filter_map(|(k, v)| {
            aws_sdk_ecr::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .ok()
        })
        .collect()
}

pub fn rds(tags: &Tags) -> Vec<aws_sdk_rds::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
        .collect()
}

pub fn map(tags: &Tags) -> std::collections::HashMap<String, String> {
    tags.clone().into_iter().collect()
}

/// Whether EC2 tags hold `key=value` (for checks the server-side filter may not have made).
pub fn has(tags: &[aws_sdk_ec2::types::Tag], key: &str, value: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some(key) && t.value() == Some(value))
}
