//! Before the first write of a set: whose its existing objects are (kat adopts nothing without
//! `--adopt`), and whether the server accepts every object (a server-side dry run), so that a set
//! goes in whole or not at all rather than failing on its fifteenth object.

use std::collections::HashSet;

use futures::{stream, StreamExt, TryStreamExt};
use kat_provider::OpContext;
use kube::api::{Patch, PatchParams};
use serde_json::{json, Value};

use super::apply::{api_for, Prepared, DEFAULT_NAMESPACE, FIELD_MANAGER};
use super::client::KubeWorkloads;
use super::error::{status_code, Held, KubeError, Rejection};
use super::inventory::ObjectRef;
use super::labels::env_selector;
use super::marks::{labelled_metas, Key};
use super::ownership::{holder, is_adopted, Holder, ADOPTED_ANNOTATION, ADOPT_MANAGER};

fn key(p: &Prepared) -> Key {
    (p.r.kind.clone(), p.r.namespace.clone(), p.r.name.clone())
}

impl KubeWorkloads {
    /// Checks the set before anything is written; returns the objects kat holds by adoption.
    /// `validate`: dry-run every object (skipped when the set is the one the server already took).
    pub(crate) async fn preflight(
        &self,
        prepared: &[Prepared],
        validate: bool,
        cx: &OpContext,
    ) -> Result<Vec<ObjectRef>, KubeError> {
        let ours = labelled_metas(
            &self.client,
            prepared,
            &env_selector(&self.env),
            self.opts.concurrency,
        )
        .await?;
        let mut adopted: Vec<ObjectRef> = prepared
            .iter()
            .filter(|p| ours.get(&key(p)).is_some_and(is_adopted))
            .map(|p| p.r.clone())
            .collect();
        let unknown: Vec<&Prepared> = prepared
            .iter()
            .filter(|p| p.resolved.is_some() && !ours.contains_key(&key(p)))
            .collect();
        // Futures made up front: a closure over borrowed objects trips the Send check of the
        // async trait that calls this.
        let lookups: Vec<_> = unknown.into_iter().map(|p| self.holder_of(p)).collect();
        let held: Vec<(&Prepared, Holder)> = stream::iter(lookups)
            .buffer_unordered(self.opts.concurrency.max(1))
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .flatten()
            .collect();
        if !held.is_empty() && !self.opts.adopt {
            return Err(KubeError::NotOurs {
                objects: held
                    .into_iter()
                    .map(|(p, h)| Held {
                        object: p.r.to_string(),
                        source_ref: p.source.clone(),
                        other_environment: matches!(h, Holder::Environment { .. }),
                        holder: h.to_string(),
                    })
                    .collect(),
            });
        }
        if validate {
            self.validate(prepared).await?;
        }
        for (p, h) in held {
            cx.step(format!("adopting {} ({h})", p.r));
            if let Holder::Made { .. } = h {
                self.mark_adopted(p, &h).await?;
                adopted.push(p.r.clone());
            }
        }
        Ok(adopted)
    }

    /// Who holds `p`'s object when it exists and is not this environment's.
    async fn holder_of<'a>(
        &self,
        p: &'a Prepared,
    ) -> Result<Option<(&'a Prepared, Holder)>, KubeError> {
        let resolved = p.resolved.as_ref().expect("filtered to resolved kinds");
        let api = api_for(&self.client, resolved, p.r.namespace.as_deref());
        let live = api
            .get_metadata_opt(&p.r.name)
            .await
            .map_err(|e| KubeError::api("get", &p.r, Some(&p.source), e))?;
        Ok(live.and_then(|m| holder(&m.metadata, &self.env).map(|h| (p, h))))
    }

    /// Notes on the object whose it was. Written by its own field manager: kat's applies do not
    /// name the annotation, and so never remove it.
    async fn mark_adopted(&self, p: &Prepared, h: &Holder) -> Result<(), KubeError> {
        let resolved = p.resolved.as_ref().expect("held objects are resolved");
        let api = api_for(&self.client, resolved, p.r.namespace.as_deref());
        let mark = json!({"metadata": {"annotations": {ADOPTED_ANNOTATION: h.to_string()}}});
        let params = PatchParams {
            field_manager: Some(ADOPT_MANAGER.to_string()),
            ..Default::default()
        };
        api.patch(&p.r.name, &params, &Patch::Merge(&mark))
            .await
            .map_err(|e| KubeError::api("mark as adopted", &p.r, Some(&p.source), e))?;
        Ok(())
    }

    /// A server-side dry run of every object; all refusals at once.
    async fn validate(&self, prepared: &[Prepared]) -> Result<(), KubeError> {
        let made_here: HashSet<&str> = prepared
            .iter()
            .filter(|p| p.r.kind == "Namespace" && p.r.group().is_empty())
            .map(|p| p.r.name.as_str())
            .collect();
        let made_here = &made_here;
        let checks: Vec<_> = prepared
            .iter()
            .filter(|p| p.resolved.is_some())
            .map(|p| self.validate_one(p, made_here))
            .collect();
        let mut problems: Vec<Rejection> = stream::iter(checks)
            .buffer_unordered(self.opts.concurrency.max(1))
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .flatten()
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        problems.sort_by(|a, b| a.object.cmp(&b.object));
        Err(KubeError::Rejected { problems })
    }

    async fn validate_one(
        &self,
        p: &Prepared,
        made_here: &HashSet<&str>,
    ) -> Result<Option<Rejection>, KubeError> {
        let rejection = |message: String| {
            Some(Rejection {
                object: p.r.to_string(),
                source_ref: p.source.clone(),
                message,
            })
        };
        let ns = p.r.namespace.as_deref();
        let err = match self.dry_apply(p, ns, &p.object).await {
            Ok(()) => return Ok(None),
            Err(e) => e,
        };
        if is_refusal(&err) {
            return Ok(rejection(message_of(&err)));
        }
        let Some(missing) = ns.filter(|_| namespace_missing(&err)) else {
            // Not the object's fault (a webhook not serving yet, a quota): the apply will tell.
            return Ok(None);
        };
        if !made_here.contains(missing) {
            return Ok(rejection(format!(
                "its namespace {missing} does not exist and the set does not make it; add the Namespace to the set or create it first"
            )));
        }
        // Its namespace comes with the set. The server checks an object the same way in any
        // namespace, so `default` stands in, unless an object of that name already lives there.
        let mut object = p.object.clone();
        object["metadata"]["namespace"] = Value::String(DEFAULT_NAMESPACE.to_string());
        match self.dry_apply(p, Some(DEFAULT_NAMESPACE), &object).await {
            Err(e) if is_refusal(&e) => {
                let resolved = p.resolved.as_ref().expect("filtered to resolved kinds");
                let there = api_for(&self.client, resolved, Some(DEFAULT_NAMESPACE))
                    .get_metadata_opt(&p.r.name)
                    .await
                    .map_err(|e| KubeError::api("get", &p.r, Some(&p.source), e))?;
                Ok(there.is_none().then(|| message_of(&e)).and_then(rejection))
            }
            _ => Ok(None),
        }
    }

    async fn dry_apply(
        &self,
        p: &Prepared,
        namespace: Option<&str>,
        object: &Value,
    ) -> Result<(), kube::Error> {
        let resolved = p.resolved.as_ref().expect("filtered to resolved kinds");
        let api = api_for(&self.client, resolved, namespace);
        // Not forced: a conflict is for the apply to settle (it may take back a person's edit).
        api.patch(
            &p.r.name,
            &PatchParams::apply(FIELD_MANAGER).dry_run(),
            &Patch::Apply(object),
        )
        .await
        .map(|_| ())
    }
}

/// The server refused the object itself: malformed (400) or invalid (422); before Kubernetes 1.2x
/// a value of the wrong type answers 500 "failed to create typed patch object". A webhook that
/// does not support dry runs also answers 400, which says nothing about the object.
fn is_refusal(e: &kube::Error) -> bool {
    let message = message_of(e);
    match status_code(e) {
        Some(400 | 422) => !message.contains("dry run"),
        Some(500) => message.contains("failed to create typed patch object"),
        _ => false,
    }
}

fn namespace_missing(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => {
            s.code == 404 && s.details.as_ref().is_some_and(|d| d.kind == "namespaces")
        }
        _ => false,
    }
}

fn message_of(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => s.message.clone(),
        other => other.to_string(),
    }
}
