//! `Workloads` on a real API server: the addon and blueprint stages' view of the cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use async_trait::async_trait;
use futures::stream::{self, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Endpoints;
use kat_provider::{
    ApiVersions, Applied, Change, ChangeAction, ManifestSet, OpContext, Outputs, ProviderError,
    Verified, Workloads,
};
use kube::api::Api;
use kube::runtime::wait::await_condition;
use kube::Client;
use serde_json::Value;

use super::apply::{apply, labelled, Options};
use super::client::connect_client;
use super::delete::{delete_all, find_labelled, sleep_until};
use super::diagnose::explain;
use super::discovery::Resolver;
use super::error::{api_message, KubeError};
use super::inventory::{fingerprint, ObjectRef};
use super::object::{api_for, target, Target};
use super::order::{phase, Phase};
use super::ready::{address, awaited, is_ready_now, until_ready};
use super::{ENV_LABEL, STAGE_LABEL};

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Take over fields another field manager owns (`--force-conflicts`).
    pub force_conflicts: bool,
    /// Objects applied at once.
    pub concurrency: usize,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            force_conflicts: false,
            concurrency: 16,
        }
    }
}

pub struct KubeWorkloads {
    client: Client,
    resolver: Resolver,
    env: String,
    opts: ApplyOptions,
}

impl KubeWorkloads {
    pub async fn connect(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
        env: &str,
        opts: ApplyOptions,
    ) -> Result<KubeWorkloads, KubeError> {
        let client = connect_client(kubeconfig, context).await?;
        client
            .apiserver_version()
            .await
            .map_err(|e| KubeError::Connect(api_message(&e)))?;
        Ok(KubeWorkloads {
            resolver: Resolver::new(client.clone()),
            client,
            env: env.to_string(),
            opts,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn selector(&self, stage: Option<&str>) -> String {
        match stage {
            Some(s) => format!("{ENV_LABEL}={},{STAGE_LABEL}={s}", self.env),
            None => format!("{ENV_LABEL}={}", self.env),
        }
    }

    /// Identities of the set's objects. Custom resources whose CRD is in the same set cannot be
    /// resolved before the CRD exists; they are returned separately, to resolve later.
    async fn targets(
        &self,
        set: &ManifestSet,
    ) -> Result<(Vec<Target>, Vec<(String, Value)>), KubeError> {
        let defined: BTreeSet<(String, String)> = set
            .manifests
            .iter()
            .filter(|m| m.object["kind"] == "CustomResourceDefinition")
            .map(|m| {
                let group = m
                    .object
                    .pointer("/spec/group")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let kind = m
                    .object
                    .pointer("/spec/names/kind")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                (group, kind)
            })
            .collect();
        let mut now = Vec::new();
        let mut later = Vec::new();
        for m in &set.manifests {
            let group = m.object["apiVersion"]
                .as_str()
                .and_then(|v| v.rsplit_once('/'))
                .map(|(g, _)| g)
                .unwrap_or("");
            let kind = m.object["kind"].as_str().unwrap_or("");
            if defined.contains(&(group.to_string(), kind.to_string())) {
                later.push((m.source.clone(), m.object.clone()));
            } else {
                now.push(target(&self.resolver, &m.source, m.object.clone()).await?);
            }
        }
        Ok((now, later))
    }

    async fn apply_batch(
        &self,
        set: &str,
        batch: &[Target],
        dry_run: bool,
    ) -> Result<Vec<ObjectRef>, KubeError> {
        let opts = Options {
            force: self.opts.force_conflicts,
            dry_run,
        };
        let client = &self.client;
        let opts = &opts;
        stream::iter(batch.to_vec())
            .map(|t: Target| {
                let body = labelled(&t, &self.env, set);
                async move { apply(client, &t, &body, opts).await }
            })
            .buffer_unordered(self.opts.concurrency.max(1))
            .try_collect()
            .await
    }

    /// Waits for `targets` to be ready, within the stage's deadline; on timeout, explains.
    async fn await_ready(
        &self,
        targets: &[&Target],
        cx: &OpContext,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        let client = &self.client;
        let owned: Vec<Target> = targets.iter().copied().cloned().collect();
        let waits = stream::iter(owned)
            .map(|t: Target| async move {
                let r = until_ready(client, &t).await;
                (t, r)
            })
            .buffer_unordered(64)
            .collect::<Vec<_>>();
        let finished = tokio::select! {
            done = waits => done,
            _ = cx.cancel.cancelled() => return Err(ProviderError::Interrupted),
            _ = sleep_until(cx.deadline) => {
                let mut why = Vec::new();
                for t in targets {
                    if !is_ready_now(&self.client, t).await.unwrap_or(false) {
                        why.push(explain(&self.client, t).await);
                    }
                }
                return Err(ProviderError::Timeout {
                    what: format!("readiness:\n{}", why.join("\n")),
                    after: cx.timeout.unwrap_or_default(),
                });
            }
        };
        let mut addresses = BTreeMap::new();
        for (t, r) in finished {
            let obj = r.map_err(ProviderError::from)?;
            if let Some(a) = address(&obj) {
                addresses.insert(
                    format!(
                        "Load balancer {}",
                        t.reference.namespace.as_deref().unwrap_or("")
                    ) + "/"
                        + &t.reference.name,
                    a,
                );
            }
        }
        Ok(addresses)
    }

    /// Before objects that a webhook admits are applied, the webhook's Service must have a ready
    /// endpoint, or the API server refuses them ("failed calling webhook").
    async fn await_webhooks(
        &self,
        targets: &[Target],
        cx: &OpContext,
    ) -> Result<(), ProviderError> {
        let services: BTreeSet<(String, String)> = targets
            .iter()
            .filter(|t| t.reference.kind.ends_with("WebhookConfiguration"))
            .flat_map(|t| t.object["webhooks"].as_array().cloned().unwrap_or_default())
            .filter_map(|w| {
                let s = w.pointer("/clientConfig/service")?;
                Some((
                    s["namespace"].as_str()?.to_string(),
                    s["name"].as_str()?.to_string(),
                ))
            })
            .collect();
        for (ns, name) in services {
            cx.step(format!(
                "waiting for webhook Service {ns}/{name} to have a ready endpoint"
            ));
            let api: Api<Endpoints> = Api::namespaced(self.client.clone(), &ns);
            let ready = |e: Option<&Endpoints>| {
                e.and_then(|e| e.subsets.as_ref()).is_some_and(|s| {
                    s.iter()
                        .any(|s| s.addresses.as_ref().is_some_and(|a| !a.is_empty()))
                })
            };
            tokio::select! {
                r = await_condition(api, &name, ready) => { r.map_err(|e| ProviderError::Other(format!("watching endpoints {ns}/{name}: {e}")))?; }
                _ = cx.cancel.cancelled() => return Err(ProviderError::Interrupted),
                _ = sleep_until(cx.deadline) => return Err(ProviderError::Timeout {
                    what: format!("webhook Service {ns}/{name} to have a ready endpoint (its pods are not ready)"),
                    after: cx.timeout.unwrap_or_default(),
                }),
            }
        }
        Ok(())
    }
}

fn inventory_of(outputs: &Outputs) -> Vec<ObjectRef> {
    outputs
        .get::<Vec<ObjectRef>>("inventory")
        .unwrap_or_default()
}

#[async_trait]
impl Workloads for KubeWorkloads {
    async fn api_versions(&self, _cx: &OpContext) -> Result<ApiVersions, ProviderError> {
        let hpa = if self.resolver.serves("autoscaling", "v2").await? {
            "autoscaling/v2"
        } else {
            "autoscaling/v2beta2"
        };
        let pdb = if self.resolver.serves("policy", "v1").await? {
            "policy/v1"
        } else {
            "policy/v1beta1"
        };
        Ok(ApiVersions {
            hpa: hpa.into(),
            pdb: pdb.into(),
        })
    }

    async fn plan(&self, set: &ManifestSet, _cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        let (targets, later) = self.targets(set).await?;
        let mut changes = Vec::new();
        for t in &targets {
            let api = api_for(&self.client, &t.resolved, t.reference.namespace.as_deref());
            let current = api
                .get_opt(&t.reference.name)
                .await
                .map_err(|e| ProviderError::Other(api_message(&e)))?;
            let Some(current) = current else {
                changes.push(Change::new(ChangeAction::Create, t.reference.to_string()));
                continue;
            };
            let dry = apply(
                &self.client,
                t,
                &labelled(t, &self.env, &set.name),
                &Options {
                    force: self.opts.force_conflicts,
                    dry_run: true,
                },
            )
            .await;
            match dry {
                Err(e) => changes.push(
                    Change::new(ChangeAction::Update, t.reference.to_string())
                        .with_detail(format!("would fail: {e}")),
                ),
                Ok(_) => {
                    let after = api
                        .patch(
                            &t.reference.name,
                            &kube::api::PatchParams::apply(super::FIELD_MANAGER).dry_run(),
                            &kube::api::Patch::Apply(&labelled(t, &self.env, &set.name)),
                        )
                        .await;
                    if let Ok(after) = after {
                        if strip(&after.data) != strip(&current.data)
                            || after.metadata.labels != current.metadata.labels
                        {
                            changes
                                .push(Change::new(ChangeAction::Update, t.reference.to_string()));
                        }
                    }
                }
            }
        }
        for (source, obj) in later {
            let kind = obj["kind"].as_str().unwrap_or("?");
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("?");
            changes.push(
                Change::new(ChangeAction::Create, format!("{kind}/{name}"))
                    .with_detail(format!("{source}, after its CRD")),
            );
        }
        Ok(changes)
    }

    async fn apply(&self, set: &ManifestSet, cx: &OpContext) -> Result<Applied, ProviderError> {
        let (mut targets, later) = self.targets(set).await?;
        let previous: BTreeMap<_, _> = inventory_of(&cx.previous)
            .into_iter()
            .map(|r| (r.key(), r))
            .collect();
        let mut applied: Vec<ObjectRef> = Vec::new();

        let foundations: Vec<Target> = targets
            .iter()
            .filter(|t| phase(t) == Phase::Foundations)
            .cloned()
            .collect();
        if !foundations.is_empty() {
            cx.check("applying namespaces and CRDs")?;
            applied.extend(self.apply_batch(&set.name, &foundations, false).await?);
            let crds: Vec<&Target> = foundations
                .iter()
                .filter(|t| t.reference.kind == "CustomResourceDefinition")
                .collect();
            if !crds.is_empty() {
                cx.step(format!(
                    "waiting for {} CRD(s) to be established",
                    crds.len()
                ));
                self.await_ready(&crds, cx).await?;
                self.resolver.refresh().await?;
            }
        }
        for (source, obj) in later {
            targets.push(target(&self.resolver, &source, obj).await?);
        }
        for p in [Phase::ClusterScoped, Phase::Namespaced] {
            let batch: Vec<Target> = targets.iter().filter(|t| phase(t) == p).cloned().collect();
            if !batch.is_empty() {
                cx.check("applying")?;
                cx.step(format!("applying {} object(s)", batch.len()));
                applied.extend(self.apply_batch(&set.name, &batch, false).await?);
            }
        }
        let custom: Vec<Target> = targets
            .iter()
            .filter(|t| phase(t) == Phase::CustomResources)
            .cloned()
            .collect();
        if !custom.is_empty() {
            self.await_webhooks(&targets, cx).await?;
            cx.check("applying custom resources")?;
            applied.extend(self.apply_batch(&set.name, &custom, false).await?);
        }

        let awaited_targets: Vec<&Target> = targets
            .iter()
            .filter(|t| awaited(t) && t.reference.kind != "CustomResourceDefinition")
            .collect();
        if !awaited_targets.is_empty() {
            cx.step(format!(
                "waiting for {} object(s) to be ready",
                awaited_targets.len()
            ));
        }
        let addresses = self.await_ready(&awaited_targets, cx).await?;

        let mut changes = Vec::new();
        for r in &applied {
            match previous.get(&r.key()) {
                None => changes.push(Change::new(ChangeAction::Create, r.to_string())),
                Some(p) if p.fingerprint != r.fingerprint => {
                    changes.push(Change::new(ChangeAction::Update, r.to_string()))
                }
                Some(_) => {}
            }
        }
        let current: BTreeSet<_> = applied.iter().map(ObjectRef::key).collect();
        let stale: Vec<ObjectRef> = previous
            .values()
            .filter(|r| !current.contains(&r.key()))
            .cloned()
            .collect();
        if !stale.is_empty() {
            cx.step(format!(
                "pruning {} object(s) no longer in the set",
                stale.len()
            ));
            changes.extend(delete_all(&self.client, &self.resolver, &stale, cx).await?);
        }
        applied.sort();
        let mut outputs = Outputs::new();
        outputs.set("inventory", &applied);
        for (label, a) in addresses {
            outputs.show(label, a);
        }
        Ok(Applied { changes, outputs })
    }

    async fn verify(
        &self,
        set: &ManifestSet,
        _cx: &OpContext,
        recorded: &Outputs,
    ) -> Result<Verified, ProviderError> {
        let inventory = inventory_of(recorded);
        let recorded_keys: BTreeSet<_> = inventory.iter().map(ObjectRef::key).collect();
        let (targets, later) = self.targets(set).await?;
        if !later.is_empty()
            || targets.len() != recorded_keys.len()
            || targets
                .iter()
                .any(|t| !recorded_keys.contains(&t.reference.key()))
        {
            return Ok(Verified::Drifted("the set of objects changed".into()));
        }
        for t in &targets {
            let api = api_for(&self.client, &t.resolved, t.reference.namespace.as_deref());
            let recorded_print = inventory
                .iter()
                .find(|r| r.key() == t.reference.key())
                .and_then(|r| r.fingerprint.clone());
            match api.get_opt(&t.reference.name).await {
                Ok(Some(o)) if Some(fingerprint(&o.metadata)) != recorded_print => {
                    return Ok(Verified::Drifted(format!("{} was changed", t.reference)))
                }
                Ok(Some(_)) => {}
                Ok(None) => return Ok(Verified::Drifted(format!("{} is gone", t.reference))),
                Err(e) => return Err(ProviderError::Other(api_message(&e))),
            }
            if awaited(t) && !is_ready_now(&self.client, t).await? {
                return Ok(Verified::Drifted(format!("{} is not ready", t.reference)));
            }
        }
        Ok(Verified::Intact)
    }

    async fn plan_destroy(
        &self,
        set_name: &str,
        _cx: &OpContext,
        recorded: &Outputs,
    ) -> Result<Vec<Change>, ProviderError> {
        let refs = self.refs_of(set_name, recorded).await?;
        Ok(refs
            .iter()
            .map(|r| Change::new(ChangeAction::Delete, r.to_string()))
            .collect())
    }

    async fn destroy(
        &self,
        set_name: &str,
        cx: &OpContext,
        recorded: &Outputs,
    ) -> Result<Applied, ProviderError> {
        let refs = self.refs_of(set_name, recorded).await?;
        let changes = delete_all(&self.client, &self.resolver, &refs, cx).await?;
        Ok(Applied {
            changes,
            outputs: Outputs::new(),
        })
    }

    async fn leftovers(&self, _cx: &OpContext) -> Result<Vec<String>, ProviderError> {
        let found = find_labelled(&self.client, &self.resolver, &self.selector(None)).await?;
        Ok(found.iter().map(ObjectRef::to_string).collect())
    }
}

impl KubeWorkloads {
    /// The recorded inventory, or, without one, whatever carries the set's labels.
    async fn refs_of(
        &self,
        set_name: &str,
        recorded: &Outputs,
    ) -> Result<Vec<ObjectRef>, KubeError> {
        let inventory = inventory_of(recorded);
        if !inventory.is_empty() {
            return Ok(inventory);
        }
        find_labelled(&self.client, &self.resolver, &self.selector(Some(set_name))).await
    }
}

/// An object's content without what the server maintains, for plan comparisons.
fn strip(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}
