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
use super::namespace_gone::wait_namespace_gone;
use super::order::{delete_rank, holds_cloud_resource, is_namespace};
use super::prune::Found;
use super::wait::wait_gone;
use super::workloads::guard;

/// Deletes `objects` rank by rank (see [`delete_rank`]), each rank concurrently. Returns a Delete
/// change for each object that existed.
///
/// Volume claims are sent first with the load balancers but waited for only once the rest is
/// gone and before the namespaces: a claim a pod still mounts stays (its protection finalizer)
/// until that pod is deleted, so waiting for it before the workloads would wait forever.
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
    let mut claims: Vec<Pending> = Vec::new();
    for (_, batch) in ranks {
        if batch.iter().any(|f| is_namespace(&f.r)) {
            wait_all(client, std::mem::take(&mut claims), cx, concurrency).await?;
        }
        let done: Vec<(Option<Change>, Option<Pending>)> = stream::iter(batch)
            .map(|f| delete_one(client, f, cx))
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        for (change, pending) in done {
            changes.extend(change);
            claims.extend(pending);
        }
    }
    wait_all(client, claims, cx, concurrency).await?;
    changes.sort_by(|a, b| a.resource.cmp(&b.resource));
    Ok(changes)
}

/// A deleted object still there, with what its finalizers are.
struct Pending {
    f: Found,
    uid: String,
    finalizers: Vec<String>,
}

async fn wait_all(
    client: &Client,
    pending: Vec<Pending>,
    cx: &OpContext,
    concurrency: usize,
) -> Result<(), KubeError> {
    stream::iter(pending)
        .map(|p| wait_deleted(client, p, cx))
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
}

async fn wait_deleted(client: &Client, p: Pending, cx: &OpContext) -> Result<(), KubeError> {
    let what = if p.finalizers.is_empty() {
        format!("{} to be deleted", p.f.r)
    } else {
        format!(
            "{} to be deleted; it had finalizers {} that its controllers must clear",
            p.f.r,
            p.finalizers.join(", ")
        )
    };
    cx.step(format!("waiting for {what}"));
    guard(cx, &what, wait_gone(client, &p.f.resolved, &p.f.r, &p.uid)).await
}

fn is_claim(f: &Found) -> bool {
    f.r.kind == "PersistentVolumeClaim" && f.r.group().is_empty()
}

/// Sends the delete; waits where something outside the API server must finish (a load balancer,
/// a namespace's contents), or hands a claim back to be waited for later.
async fn delete_one(
    client: &Client,
    f: Found,
    cx: &OpContext,
) -> Result<(Option<Change>, Option<Pending>), KubeError> {
    cx.check(&format!("deleting {}", f.r))
        .map_err(|_| KubeError::Interrupted)?;
    let api = api_for(client, &f.resolved, f.r.namespace.as_deref());
    let still_there = match api.delete(&f.r.name, &DeleteParams::background()).await {
        Ok(Either::Left(obj)) => obj
            .metadata
            .uid
            .map(|uid| (uid, obj.metadata.finalizers.unwrap_or_default())),
        Ok(Either::Right(_)) => None,
        Err(e) if is_not_found(&e) => return Ok((None, None)),
        Err(e) => return Err(KubeError::api("delete", &f.r, None, e)),
    };
    let change = Some(Change::new(ChangeAction::Delete, f.r.to_string()));
    let Some((uid, finalizers)) = still_there else {
        return Ok((change, None));
    };
    let pending = Pending { f, uid, finalizers };
    if is_claim(&pending.f) {
        return Ok((change, Some(pending)));
    }
    if is_namespace(&pending.f.r) {
        wait_namespace_gone(client, &pending.f, &pending.uid, cx).await?;
    } else if holds_cloud_resource(&pending.f.r, None) {
        wait_deleted(client, pending, cx).await?;
    }
    Ok((change, None))
}
