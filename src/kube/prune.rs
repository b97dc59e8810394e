//! Finding kat's objects by label across every kind the server serves: what prune removes, what
//! `destroy` deletes when no inventory was recorded, and what `leftovers` reports; and the volume
//! claims of kat's StatefulSets, which kat did not apply but which hold disks.

use std::collections::HashSet;

use futures::{stream, StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject, ListParams, PartialObjectMeta};
use kube::Client;

use super::apply::is_kat_apply;
use super::discovery::{DiscoveryCache, Resolved};
use super::error::{status_code, KubeError};
use super::inventory::ObjectRef;
use super::labels::{claims_selector, CLAIM_OF_LABEL};
use super::ownership::is_adopted;

/// An object found by label.
#[derive(Debug, Clone)]
pub struct Found {
    pub r: ObjectRef,
    pub resolved: Resolved,
    /// kat adopted it (`--adopt`): removing it gives it back instead of deleting it.
    pub adopted: bool,
}

/// Every object matching `selector` that kat applied, once each. Labels alone are not proof:
/// controllers copy them (the endpoints controller gives a Service's labels to its Endpoints), so
/// an object counts only when field manager `kat` applied it. Objects a controller owns go with
/// their owner and are left out too.
pub async fn find_labelled(
    client: &Client,
    discovery: &DiscoveryCache,
    selector: &str,
    concurrency: usize,
) -> Result<Vec<Found>, KubeError> {
    let kinds = discovery.listable().await;
    let lists: Vec<Vec<(String, Found)>> = stream::iter(kinds)
        .map(|resolved| list_kind(client, resolved, selector))
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    // The same object can be served by two groups (Ingress in extensions and networking.k8s.io
    // on 1.20); its uid tells.
    let mut seen = HashSet::new();
    let mut out: Vec<Found> = lists
        .into_iter()
        .flatten()
        .filter(|(uid, _)| seen.insert(uid.clone()))
        .map(|(_, f)| f)
        .collect();
    out.sort_by(|a, b| a.r.cmp(&b.r));
    Ok(out)
}

/// The metadata of every object of one kind, in every namespace, that `selector` selects.
pub async fn list_labelled(
    client: &Client,
    resolved: &Resolved,
    selector: &str,
) -> Result<Vec<PartialObjectMeta<DynamicObject>>, KubeError> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resolved.resource);
    match api
        .list_metadata(&ListParams::default().labels(selector))
        .await
    {
        Ok(l) => Ok(l.items),
        // An aggregated API whose backend is down (503), a kind removed since discovery or one
        // whose CRD was only just established (404) holds nothing we can reach either way.
        Err(e) if matches!(status_code(&e), Some(404 | 503)) => Ok(Vec::new()),
        Err(e) => Err(KubeError::api(
            "list",
            format!("{} labelled {selector}", resolved.resource.plural),
            None,
            e,
        )),
    }
}

async fn list_kind(
    client: &Client,
    resolved: Resolved,
    selector: &str,
) -> Result<Vec<(String, Found)>, KubeError> {
    Ok(list_labelled(client, &resolved, selector)
        .await?
        .into_iter()
        .filter(|o| {
            o.metadata
                .managed_fields
                .as_ref()
                .is_some_and(|fields| fields.iter().any(is_kat_apply))
        })
        .filter(|o| {
            !o.metadata
                .owner_references
                .as_ref()
                .is_some_and(|refs| refs.iter().any(|r| r.controller == Some(true)))
        })
        .map(|o| {
            let uid = o.metadata.uid.clone().unwrap_or_default();
            let found = Found {
                r: ObjectRef {
                    api_version: resolved.resource.api_version.clone(),
                    kind: resolved.resource.kind.clone(),
                    namespace: o.metadata.namespace.clone(),
                    name: o.metadata.name.clone().unwrap_or_default(),
                },
                resolved: resolved.clone(),
                adopted: is_adopted(&o.metadata),
            };
            (uid, found)
        })
        .collect())
}

/// The volume claims a StatefulSet controller made from the templates of kat's StatefulSets
/// matching `selector` (see [`CLAIM_OF_LABEL`]), each with the name of its StatefulSet.
pub async fn find_claims(
    client: &Client,
    discovery: &DiscoveryCache,
    selector: &str,
) -> Result<Vec<(Found, String)>, KubeError> {
    let Some(resolved) = discovery.resolve("v1", "PersistentVolumeClaim").await else {
        return Ok(Vec::new());
    };
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resolved.resource);
    let list = api
        .list_metadata(&ListParams::default().labels(&claims_selector(selector)))
        .await
        .map_err(|e| KubeError::api("list", "persistentvolumeclaims", None, e))?;
    Ok(list
        .items
        .into_iter()
        .map(|o| {
            let of = o
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(CLAIM_OF_LABEL))
                .cloned()
                .unwrap_or_default();
            let found = Found {
                r: ObjectRef {
                    api_version: "v1".into(),
                    kind: "PersistentVolumeClaim".into(),
                    namespace: o.metadata.namespace.clone(),
                    name: o.metadata.name.clone().unwrap_or_default(),
                },
                resolved: resolved.clone(),
                adopted: false,
            };
            (found, of)
        })
        .collect())
}
