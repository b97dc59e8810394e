//! Deleting objects in order: cloud-backed ones first and waited for until gone, namespaces last
//! and waited for. Already gone is success, so a destroy can be repeated.

use std::collections::BTreeMap;

use either::Either;
use futures::{stream, StreamExt, TryStreamExt};
use kat_provider::{Change, ChangeAction, OpContext};
use kube::api::DeleteParams;
use kube::Client;

use super::apply::api_for;
use super::error::{is_not_found, KubeError};
use super::order::{delete_rank, holds_cloud_resource, is_namespace};
use super::prune::Found;
use super::wait::wait_gone;
use super::workloads::guard;

/// Deletes `objects` rank by rank (see [`delete_rank`]), each rank concurrently. Returns a Delete
/// change for each object that existed.
pub async fn delete_all(
    client: &Client,
    objects: Vec<Found>,
    cx: &OpContext,
    concurrency: usize,
) -> Result<Vec<Change>, KubeError> {
    let mut ranks: BTreeMap<u8, Vec<Found>> = BTreeMap::new();
    for f in objects {
        ranks.entry(delete_rank(&f.r, None)).or_default().push(f);
    }
    let mut changes = Vec::new();
    for (_, batch) in ranks {
        let done: Vec<Option<Change>> = stream::iter(batch)
            .map(|f| delete_one(client, f, cx))
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        changes.extend(done.into_iter().flatten());
    }
    changes.sort_by(|a, b| a.resource.cmp(&b.resource));
    Ok(changes)
}

async fn delete_one(
    client: &Client,
    f: Found,
    cx: &OpContext,
) -> Result<Option<Change>, KubeError> {
    cx.check(&format!("deleting {}", f.r))
        .map_err(|_| KubeError::Interrupted)?;
    let api = api_for(client, &f.resolved, f.r.namespace.as_deref());
    let pending = match api.delete(&f.r.name, &DeleteParams::background()).await {
        Ok(Either::Left(obj)) => obj
            .metadata
            .uid
            .map(|uid| (uid, obj.metadata.finalizers.unwrap_or_default())),
        Ok(Either::Right(_)) => None,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(KubeError::api("delete", &f.r, None, e)),
    };
    // Still there with finalizers: wait where something outside the API server must finish (a
    // load balancer, a disk, a namespace's contents).
    if let Some((uid, finalizers)) = pending {
        if holds_cloud_resource(&f.r, None) || is_namespace(&f.r) {
            let what = if finalizers.is_empty() {
                format!("{} to be deleted", f.r)
            } else {
                format!(
                    "{} to be deleted; it had finalizers {} that its controllers must clear",
                    f.r,
                    finalizers.join(", ")
                )
            };
            guard(cx, &what, wait_gone(client, &f.resolved, &f.r, &uid)).await?;
        }
    }
    Ok(Some(Change::new(ChangeAction::Delete, f.r.to_string())))
}
