//! Telling created, updated and unchanged apart without reading each object before applying it.
//!
//! A server-side apply answers 201 when it created the object, and does not write at all when
//! it changed nothing (the resourceVersion stays). What the object looked like before comes from
//! one labelled list per kind and phase instead of a GET per object: an object missing from that
//! list either does not exist (the apply answers 201) or lacks kat's labels for this set, which
//! the apply then adds, so it is an update.

use std::collections::{HashMap, HashSet};

use futures::{stream, StreamExt, TryStreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kat_provider::ChangeAction;
use kube::Client;

use super::apply::{is_kat_apply, Prepared};
use super::discovery::Resolved;
use super::error::KubeError;
use super::inventory::ObjectRef;
use super::prune::list_labelled;

/// What tells whether an apply by kat wrote: kat's own managedFields entry (its time moves
/// when kat's apply changed the object) and the generation. The resourceVersion alone is not
/// enough: a controller may write between the list and the apply (the token controller adds a
/// ServiceAccount's secret), which is not a change kat made.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteMark {
    resource_version: Option<String>,
    generation: Option<i64>,
    kat_entry: Option<(Option<String>, Option<String>)>,
}

pub fn write_mark(meta: &ObjectMeta) -> WriteMark {
    let kat_entry = meta.managed_fields.as_ref().and_then(|fields| {
        fields.iter().find(|f| is_kat_apply(f)).map(|f| {
            (
                f.time.as_ref().map(|t| t.0.to_string()),
                f.fields_v1.as_ref().map(|v| v.0.to_string()),
            )
        })
    });
    WriteMark {
        resource_version: meta.resource_version.clone(),
        generation: meta.generation,
        kat_entry,
    }
}

/// What one apply did, from whether the server created the object, its mark before (None: not
/// among kat's objects of this set) and after.
pub fn change(
    created: bool,
    before: Option<&WriteMark>,
    after: &WriteMark,
) -> Option<ChangeAction> {
    match before {
        _ if created => Some(ChangeAction::Create),
        None => Some(ChangeAction::Update),
        Some(b) if b.resource_version == after.resource_version => None,
        Some(b) if b.kat_entry != after.kat_entry || b.generation != after.generation => {
            Some(ChangeAction::Update)
        }
        Some(_) => None,
    }
}

/// An object's identity in a list: kind, namespace, name.
pub type Key = (String, Option<String>, String);

/// The marks of every object of the kinds in `batch` that `selector` (this set's labels)
/// selects, one metadata-only list per kind, `concurrency` at a time.
pub async fn existing(
    client: &Client,
    batch: &[Prepared],
    selector: &str,
    concurrency: usize,
) -> Result<HashMap<Key, WriteMark>, KubeError> {
    Ok(labelled_metas(client, batch, selector, concurrency)
        .await?
        .into_iter()
        .map(|(k, meta)| (k, write_mark(&meta)))
        .collect())
}

/// The metadata of every object of the kinds in `batch` that `selector` selects, by identity.
pub async fn labelled_metas(
    client: &Client,
    batch: &[Prepared],
    selector: &str,
    concurrency: usize,
) -> Result<HashMap<Key, ObjectMeta>, KubeError> {
    let mut seen = HashSet::new();
    let kinds: Vec<(ObjectRef, Resolved)> = batch
        .iter()
        .filter_map(|p| Some((p.r.clone(), p.resolved.clone()?)))
        .filter(|(_, r)| seen.insert((r.resource.group.clone(), r.resource.plural.clone())))
        .collect();
    let lists: Vec<Vec<(Key, ObjectMeta)>> = stream::iter(kinds)
        .map(|(r, resolved)| async move {
            let items = list_labelled(client, &resolved, selector).await?;
            Ok::<_, KubeError>(
                items
                    .into_iter()
                    .map(|o| {
                        let key = (
                            r.kind.clone(),
                            o.metadata.namespace.clone(),
                            o.metadata.name.clone().unwrap_or_default(),
                        );
                        (key, o.metadata)
                    })
                    .collect(),
            )
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok(lists.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(rv: &str, generation: i64, kat_time: &str) -> WriteMark {
        WriteMark {
            resource_version: Some(rv.into()),
            generation: Some(generation),
            kat_entry: Some((Some(kat_time.into()), Some("{}".into()))),
        }
    }

    #[test]
    fn created_updated_and_unchanged_are_told_apart() {
        let before = mark("10", 1, "t1");
        assert_eq!(
            change(true, None, &mark("11", 1, "t2")),
            Some(ChangeAction::Create)
        );
        // Not among kat's objects of the set: the apply added kat's labels.
        assert_eq!(
            change(false, None, &mark("11", 1, "t2")),
            Some(ChangeAction::Update)
        );
        assert_eq!(change(false, Some(&before), &before), None);
        assert_eq!(
            change(false, Some(&before), &mark("12", 2, "t2")),
            Some(ChangeAction::Update)
        );
        // Only a controller wrote in between (same generation, kat's entry untouched).
        assert_eq!(change(false, Some(&before), &mark("12", 1, "t1")), None);
    }
}
