//! `kat reap` on AWS: every kat environment in the region, found through the Resource Groups
//! Tagging API by the `kat:environment` tag key (any value) and grouped by what the tags say. No
//! journal is read: the machine that ran `up` may be long gone.

use std::collections::BTreeMap;

use aws_sdk_resourcegroupstagging::types::TagFilter;
use kat_provider::environments::gather;
use kat_provider::{ProviderError, TaggedEnvironment};

use crate::error::pe;
use crate::shared::Shared;
use crate::tags::ENV_TAG;

pub async fn environments(s: &Shared) -> Result<Vec<TaggedEnvironment>, ProviderError> {
    let aws = s.aws().await;
    let mut tag_sets: Vec<BTreeMap<String, String>> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let r = aws
            .tagging
            .get_resources()
            .tag_filters(TagFilter::builder().key(ENV_TAG).build())
            .set_pagination_token(token.take())
            .send()
            .await
            .map_err(|e| pe("GetResources", ENV_TAG, e))?;
        for m in r.resource_tag_mapping_list() {
            tag_sets.push(
                m.tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
            );
        }
        token = r
            .pagination_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(gather(&tag_sets))
}
