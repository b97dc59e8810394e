//! `kat reap` on Azure: every environment kat made in the subscription, found by the tags of its
//! resource groups alone (`kat:managed`, ARM's `$filter` on a tag name), whatever the location:
//! ARM's request limits and kat's environments are both per subscription.

use kat_provider::environments::{gather, MANAGED_TAG};
use kat_provider::{OpContext, ProviderError, TaggedEnvironment};
use serde_json::Value;

use crate::arm::encode;
use crate::shared::{Shared, API_GROUPS};

pub async fn environments(
    s: &Shared,
    cx: &OpContext,
) -> Result<Vec<TaggedEnvironment>, ProviderError> {
    let path = format!(
        "{}/resourcegroups?$filter={}",
        s.sub_path(),
        encode(&format!(
            "tagName eq '{MANAGED_TAG}' and tagValue eq 'true'"
        ))
    );
    let groups = s
        .arm
        .list(cx, &path, API_GROUPS, "resource groups kat manages")
        .await?;
    Ok(gather(
        groups.iter().filter_map(tags).collect::<Vec<_>>().iter(),
    ))
}

/// A listed group's tags as a map (ARM leaves `tags` out when there are none).
fn tags(group: &Value) -> Option<std::collections::BTreeMap<String, String>> {
    let tags = group["tags"].as_object()?;
    Some(
        tags.iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect(),
    )
}
