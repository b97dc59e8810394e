//! Taking a set out of the cluster: load balancers and volumes first, and waited for, so the cloud
//! releases them before the cluster is deleted; namespaces last, waited for until finalized.

use std::time::Duration;

use futures::stream::{self, StreamExt};
use kat_provider::{Change, ChangeAction, OpContext, ProviderError};
use kube::api::{DeleteParams, DynamicObject, ListParams};
use kube::runtime::wait::await_condition;
use kube::Client;
use serde_json::Value;

use super::discovery::{Resolved, Resolver};
use super::error::{api_message, is_not_found, KubeError};
use super::inventory::ObjectRef;
use super::object::api_for;
use super::order::delete_rank;

/// Objects labelled with `selector`, found across every listable kind (used when there is no
/// inventory: state lost, or `kat down` from another machine).
pub async fn find_labelled(
    client: &Client,
    resolver: &Resolver,
    selector: &str,
) -> Result<Vec<ObjectRef>, KubeError> {
    let kinds = resolver.listable().await?;
    let lists = stream::iter(kinds)
        .map(|r: Resolved| async move {
            let api = api_for(client, &r, None);
            let found = api.list(&ListParams::default().labels(selector)).await;
            (r, found)
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let mut refs = Vec::new();
    for (r, found) in lists {
        // A kind that cannot be listed (aggregated API down) hides nothing kat made with a label.
        let Ok(list) = found else { continue };
        for o in list.items {
            refs.push(ObjectRef {
                api_version: r.resource.api_version.clone(),
                kind: r.resource.kind.clone(),
                namespace: o.metadata.namespace.clone(),
                name: o.metadata.name.clone().unwrap_or_default(),
                fingerprint: None,
            });
        }
    }
    refs.sort();
    Ok(refs)
}

#[derive(Clone)]
struct Doomed {
    reference: ObjectRef,
    resolved: Resolved,
    rank: u8,
}

/// Deletes `refs` in teardown order; returns what was actually deleted.
pub async fn delete_all(
    client: &Client,
    resolver: &Resolver,
    refs: &[ObjectRef],
    cx: &OpContext,
) -> Result<Vec<Change>, ProviderError> {
    let mut doomed = Vec::new();
    for r in refs {
        // A kind the server no longer serves (its CRD went first) has nothing left to delete.
        let Ok(resolved) = resolver
            .resolve(&r.api_version, &r.kind, &r.to_string())
            .await
        else {
            continue;
        };
        let api = api_for(client, &resolved, r.namespace.as_deref());
        let current = match api.get_opt(&r.name).await {
            Ok(Some(o)) => o,
            Ok(None) => continue,
            Err(e) => {
                return Err(KubeError::Api {
                    verb: "get".into(),
                    object: r.to_string(),
                    message: api_message(&e),
                }
                .into())
            }
        };
        let lb = r.kind == "Service"
            && current.data.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer");
        doomed.push(Doomed {
            reference: r.clone(),
            resolved,
            rank: delete_rank(&r.kind, lb),
        });
    }
    let mut changes = Vec::new();
    for rank in 0..=5u8 {
        let batch: Vec<&Doomed> = doomed.iter().filter(|d| d.rank == rank).collect();
        if batch.is_empty() {
            continue;
        }
        cx.check("deleting Kubernetes objects")?;
        // Cloud-backed objects and namespaces must be gone before the next step; the rest is
        // left to the garbage collector and namespace finalization.
        let wait = rank == 0 || rank == 5;
        if wait {
            cx.step(format!("deleting {} and waiting until gone", names(&batch)));
        }
        let results = stream::iter(batch.into_iter().cloned())
            .map(|d: Doomed| async move { delete_one(client, &d, wait, cx).await })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
        for r in results {
            if let Some(c) = r? {
                changes.push(c);
            }
        }
    }
    Ok(changes)
}

fn names(batch: &[&Doomed]) -> String {
    let mut n: Vec<String> = batch
        .iter()
        .take(3)
        .map(|d| d.reference.to_string())
        .collect();
    if batch.len() > 3 {
        n.push(format!("{} more", batch.len() - 3));
    }
    n.join(", ")
}

async fn delete_one(
    client: &Client,
    d: &Doomed,
    wait: bool,
    cx: &OpContext,
) -> Result<Option<Change>, ProviderError> {
    let r = &d.reference;
    let api = api_for(client, &d.resolved, r.namespace.as_deref());
    match api.delete(&r.name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => {
            return Err(KubeError::Api {
                verb: "delete".into(),
                object: r.to_string(),
                message: api_message(&e),
            }
            .into())
        }
    }
    if wait {
        let gone = await_condition(api, &r.name, |o: Option<&DynamicObject>| o.is_none());
        let what = format!("{r} to be deleted");
        tokio::select! {
            res = gone => { res.map_err(|e| ProviderError::Other(format!("watching {r}: {e}")))?; }
            _ = cx.cancel.cancelled() => return Err(ProviderError::Interrupted),
            _ = sleep_until(cx.deadline) => return Err(ProviderError::Timeout { what, after: cx.timeout.unwrap_or_default() }),
        }
    }
    Ok(Some(Change::new(ChangeAction::Delete, r.to_string())))
}

/// Sleeps until the deadline, or forever without one.
pub async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => tokio::time::sleep(Duration::from_secs(u32::MAX as u64)).await,
    }
}
