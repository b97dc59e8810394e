//! Environments found by their tags alone, for `kat reap`: no journal, only what every resource
//! kat makes carries (`kat:environment`, `kat:managed`, `kat:created-at`, `kat:expires-at`,
//! `kat:owner`).

use std::collections::BTreeMap;

use serde::Serialize;

pub const ENVIRONMENT_TAG: &str = "kat:environment";
pub const MANAGED_TAG: &str = "kat:managed";
/// RFC 3339, set at the environment's first `up` and kept in its journal, so later runs do not
/// retag (a tag changing every run would be drift).
pub const CREATED_AT_TAG: &str = "kat:created-at";
/// RFC 3339, `kat:created-at` plus `ttl` (kat.yaml) or `up --ttl`.
pub const EXPIRES_AT_TAG: &str = "kat:expires-at";
/// Who ran the first `up`, from the credential, when the provider can tell cheaply.
pub const OWNER_TAG: &str = "kat:owner";

/// One environment as its resources' tags describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaggedEnvironment {
    pub env: String,
    /// The earliest `kat:created-at` among its resources.
    pub created_at: Option<String>,
    /// The earliest `kat:expires-at` among its resources.
    pub expires_at: Option<String>,
    pub owner: Option<String>,
    /// How many tagged resources were found.
    pub resources: usize,
}

/// Groups resources' tag sets by environment; only those kat manages (`kat:managed: "true"`)
/// count, so a resource someone else tagged `kat:environment` is never taken for kat's.
pub fn gather<'a>(
    tag_sets: impl IntoIterator<Item = &'a BTreeMap<String, String>>,
) -> Vec<TaggedEnvironment> {
    let mut found: BTreeMap<String, TaggedEnvironment> = BTreeMap::new();
    for tags in tag_sets {
        if tags.get(MANAGED_TAG).map(String::as_str) != Some("true") {
            continue;
        }
        let Some(env) = tags.get(ENVIRONMENT_TAG) else {
            continue;
        };
        let e = found
            .entry(env.clone())
            .or_insert_with(|| TaggedEnvironment {
                env: env.clone(),
                created_at: None,
                expires_at: None,
                owner: None,
                resources: 0,
            });
        e.resources += 1;
        earliest(&mut e.created_at, tags.get(CREATED_AT_TAG));
        earliest(&mut e.expires_at, tags.get(EXPIRES_AT_TAG));
        if e.owner.is_none() {
            e.owner = tags.get(OWNER_TAG).cloned();
        }
    }
    found.into_values().collect()
}

/// RFC 3339 in UTC with the same precision sorts as text; kat writes them so.
fn earliest(slot: &mut Option<String>, value: Option<&String>) {
    if let Some(v) = value {
        if slot.as_ref().is_none_or(|s| v < s) {
            *slot = Some(v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_kat_managed_resources_make_an_environment() {
        let sets = [
            tags(&[
                (ENVIRONMENT_TAG, "a"),
                (MANAGED_TAG, "true"),
                (CREATED_AT_TAG, "2026-01-02T00:00:00Z"),
            ]),
            tags(&[
                (ENVIRONMENT_TAG, "a"),
                (MANAGED_TAG, "true"),
                (CREATED_AT_TAG, "2026-01-01T00:00:00Z"),
                (OWNER_TAG, "arn:aws:iam::1:user/ann"),
            ]),
            tags(&[(ENVIRONMENT_TAG, "theirs")]),
        ];
        let found = gather(&sets);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].env, "a");
        assert_eq!(found[0].resources, 2);
        assert_eq!(found[0].created_at.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(found[0].owner.as_deref(), Some("arn:aws:iam::1:user/ann"));
    }
}
