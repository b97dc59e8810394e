//! Taking a set's objects off the cluster without taking anyone else's: what kat adopted is given
//! back (kat's labels removed) rather than deleted, and a namespace that holds objects kat did not
//! make is deleted only with `--force` (`down`, prune and the retired-stage sweep all come here).

use std::collections::{BTreeMap, HashSet};

use futures::{stream, StreamExt, TryStreamExt};
use kat_provider::{Change, ChangeAction, OpContext};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};

use super::apply::api_for;
use super::client::KubeWorkloads;
use super::delete::delete_all;
use super::error::{status_code, KubeError, Occupied};
use super::inventory::ObjectRef;
use super::labels::{ENVIRONMENT_LABEL, MANAGED_BY_LABEL, STAGE_LABEL};
use super::order::is_namespace;
use super::ownership::{foreign, Holder, ADOPTED_ANNOTATION, ADOPT_MANAGER};
use super::prune::Found;

/// What taking a list of objects off the cluster means.
pub struct Removal {
    pub delete: Vec<Found>,
    pub release: Vec<Found>,
    /// Objects kat did not make, in namespaces it would delete.
    pub foreign: Vec<(String, ObjectRef, Holder)>,
}

const RELEASED: &str = "given back: kat adopted it, so it stays, without kat's labels";

impl KubeWorkloads {
    pub(crate) async fn removal(&self, objects: Vec<Found>) -> Result<Removal, KubeError> {
        let (release, delete): (Vec<Found>, Vec<Found>) =
            objects.into_iter().partition(|f| f.adopted);
        let namespaces: Vec<String> = delete
            .iter()
            .filter(|f| is_namespace(&f.r))
            .map(|f| f.r.name.clone())
            .collect();
        let mut foreign = Vec::new();
        for ns in namespaces {
            foreign.extend(
                self.foreign_in(&ns)
                    .await?
                    .into_iter()
                    .map(|(r, h)| (ns.clone(), r, h)),
            );
        }
        Ok(Removal {
            delete,
            release,
            foreign,
        })
    }

    /// Removes `objects` (see the module); refuses before touching anything when a namespace
    /// holds foreign objects and `--force` was not given.
    pub(crate) async fn remove(
        &self,
        objects: Vec<Found>,
        cx: &OpContext,
    ) -> Result<Vec<Change>, KubeError> {
        let plan = self.removal(objects).await?;
        if !plan.foreign.is_empty() {
            if !self.opts.force_foreign {
                return Err(KubeError::Occupied {
                    namespaces: occupied(&plan.foreign),
                });
            }
            cx.step(format!(
                "deleting {} objects kat did not make with their namespace (--force)",
                plan.foreign.len()
            ));
        }
        let mut changes = Vec::new();
        for f in plan.release {
            self.release(&f).await?;
            let mut c = Change::new(ChangeAction::Update, f.r.to_string());
            c.detail = Some(RELEASED.to_string());
            changes.push(c);
        }
        changes.extend(delete_all(&self.client, plan.delete, cx, self.opts.concurrency).await?);
        Ok(changes)
    }

    /// What [`remove`](Self::remove) would do, foreign objects included as deletions that need
    /// `--force`.
    pub(crate) async fn plan_remove(&self, objects: Vec<Found>) -> Result<Vec<Change>, KubeError> {
        let plan = self.removal(objects).await?;
        let mut changes: Vec<Change> = plan
            .delete
            .iter()
            .map(|f| Change::new(ChangeAction::Delete, f.r.to_string()))
            .collect();
        for f in &plan.release {
            let mut c = Change::new(ChangeAction::Update, f.r.to_string());
            c.detail = Some(RELEASED.to_string());
            changes.push(c);
        }
        for (ns, r, h) in &plan.foreign {
            let mut c = Change::new(ChangeAction::Delete, r.to_string());
            c.detail = Some(format!(
                "not kat's ({h}): deleted with namespace {ns} only with --force; without it `down` refuses"
            ));
            changes.push(c);
        }
        Ok(changes)
    }

    /// Removes kat's labels and the adoption mark; what kat applied to the object stays.
    async fn release(&self, f: &Found) -> Result<(), KubeError> {
        let api = api_for(&self.client, &f.resolved, f.r.namespace.as_deref());
        let patch = serde_json::json!({"metadata": {
            "labels": {MANAGED_BY_LABEL: null, ENVIRONMENT_LABEL: null, STAGE_LABEL: null},
            "annotations": {ADOPTED_ANNOTATION: null},
        }});
        let params = PatchParams {
            field_manager: Some(ADOPT_MANAGER.to_string()),
            ..Default::default()
        };
        match api.patch(&f.r.name, &params, &Patch::Merge(&patch)).await {
            Ok(_) => Ok(()),
            Err(e) if status_code(&e) == Some(404) => Ok(()),
            Err(e) => Err(KubeError::api("give back", &f.r, None, e)),
        }
    }

    /// Every object in `namespace` that is foreign to this environment (see [`foreign`]): one
    /// metadata list per namespaced kind.
    async fn foreign_in(&self, namespace: &str) -> Result<Vec<(ObjectRef, Holder)>, KubeError> {
        let kinds: Vec<_> = self
            .discovery
            .listable()
            .await
            .into_iter()
            .filter(|r| r.namespaced)
            .collect();
        let lists: Vec<Vec<(String, ObjectRef, Holder)>> = stream::iter(kinds)
            .map(|resolved| async move {
                let api: Api<DynamicObject> =
                    Api::namespaced_with(self.client.clone(), namespace, &resolved.resource);
                let items = match api.list_metadata(&ListParams::default()).await {
                    Ok(l) => l.items,
                    // A kind whose API does not answer holds nothing kat can see either way.
                    Err(e) if matches!(status_code(&e), Some(403 | 404 | 405 | 503)) => Vec::new(),
                    Err(e) => {
                        return Err(KubeError::api(
                            "list",
                            format!("{} in namespace {namespace}", resolved.resource.plural),
                            None,
                            e,
                        ))
                    }
                };
                Ok(items
                    .into_iter()
                    .filter_map(|o| {
                        let h = foreign(&o.metadata, &self.env)?;
                        let r = ObjectRef {
                            api_version: resolved.resource.api_version.clone(),
                            kind: resolved.resource.kind.clone(),
                            namespace: Some(namespace.to_string()),
                            name: o.metadata.name.clone().unwrap_or_default(),
                        };
                        Some((o.metadata.uid.unwrap_or_default(), r, h))
                    })
                    .collect())
            })
            .buffer_unordered(self.opts.concurrency.max(1))
            .try_collect()
            .await?;
        // One object can be served by two groups (Ingress on 1.20); its uid tells.
        let mut seen = HashSet::new();
        let mut out: Vec<(ObjectRef, Holder)> = lists
            .into_iter()
            .flatten()
            .filter(|(uid, _, _)| seen.insert(uid.clone()))
            .map(|(_, r, h)| (r, h))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

fn occupied(foreign: &[(String, ObjectRef, Holder)]) -> Vec<Occupied> {
    let mut by_ns: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (ns, r, h) in foreign {
        by_ns
            .entry(ns)
            .or_default()
            .push(format!("{} {} ({h})", r.kind, r.name));
    }
    by_ns
        .into_iter()
        .map(|(ns, objects)| Occupied {
            namespace: ns.to_string(),
            objects,
        })
        .collect()
}
