//! The simulated cloud API: find a resource, create/update it (a request, then a wait until it is
//! ready), delete it. Requests are recorded before they are waited for, so a killed run finds its
//! resources still creating, as in a real cloud.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use kat_provider::ratelimit::Limiter;
use kat_provider::wait::Backoff;
use kat_provider::{Change, ChangeAction, OpContext, ProviderError};
use serde_json::Value;

use crate::account::{Account, Kind};
use crate::faults::{Fault, Faults};
use crate::profile::Profile;
use crate::world::{now_ms, CallRecord, Status, World, WorldResource};

/// The profile operations that create, update and delete one kind of resource.
#[derive(Debug, Clone)]
pub struct Ops {
    pub create: String,
    pub update: String,
    pub delete: String,
}

impl Ops {
    /// `vpc` → `vpc.create`, `vpc.update`, `vpc.delete`.
    pub fn prefixed(prefix: &str) -> Ops {
        Ops {
            create: format!("{prefix}.create"),
            update: format!("{prefix}.update"),
            delete: format!("{prefix}.delete"),
        }
    }
}

/// One resource a component wants: its key (`kind/name`), spec, and operations.
#[derive(Debug, Clone)]
pub struct Want {
    pub key: String,
    pub kind: &'static str,
    pub spec: Value,
    pub ops: Ops,
}

impl Want {
    pub fn new(kind: &'static str, name: &str, spec: Value, ops: Ops) -> Want {
        Want {
            key: format!("{kind}/{name}"),
            kind,
            spec,
            ops,
        }
    }
}

/// A transient refusal's pause at real-world scale: 1 s, 2 s, 4 s … 30 s, drawn with full jitter.
const RETRY: Backoff = Backoff {
    first: Duration::from_secs(1),
    max: Duration::from_secs(30),
    factor: 2.0,
};

/// Operations on the cluster's workloads (`apply.X`, `delete.X`) go to the Kubernetes API, not the
/// cloud's: the account's rate limit does not apply to them.
fn cloud_api(op: &str) -> bool {
    !(op.starts_with("apply.") || op.starts_with("delete."))
}

pub struct Cloud {
    pub profile: Profile,
    pub faults: Faults,
    path: PathBuf,
    world: Mutex<World>,
}

impl Cloud {
    pub fn new(profile: Profile, faults: Faults, path: PathBuf) -> std::io::Result<Cloud> {
        let world = World::load(&path)?;
        Ok(Cloud {
            profile,
            faults,
            path,
            world: Mutex::new(world),
        })
    }

    fn with_world<T>(&self, f: impl FnOnce(&mut World) -> T) -> Result<T, ProviderError> {
        let mut w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        let out = f(&mut w);
        w.save(&self.path).map_err(|e| {
            ProviderError::Other(format!(
                "cannot write sim world {}: {e}",
                self.path.display()
            ))
        })?;
        Ok(out)
    }

    pub fn get(&self, key: &str) -> Option<WorldResource> {
        self.world
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .resources
            .get(key)
            .cloned()
    }

    pub fn tagged(&self, env: &str) -> Vec<(String, WorldResource)> {
        let w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        w.resources
            .iter()
            .filter(|(_, r)| r.tags.get("kat:environment").map(String::as_str) == Some(env))
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect()
    }

    /// What converging `want` would do, without doing it.
    pub fn diff(&self, want: &Want) -> Option<Change> {
        match self.get(&want.key) {
            None => Some(Change::new(ChangeAction::Create, &want.key)),
            Some(r) if r.status == Status::Deleting => Some(
                Change::new(ChangeAction::Create, &want.key)
                    .with_detail("after its deletion finishes"),
            ),
            Some(r) if r.spec != want.spec => Some(
                Change::new(ChangeAction::Update, &want.key)
                    .with_detail(format!("{} → {}", r.spec, want.spec)),
            ),
            Some(_) => None,
        }
    }

    /// Converge one resource; returns the change made, if any.
    pub async fn ensure(
        &self,
        cx: &OpContext,
        want: &Want,
        tags: &BTreeMap<String, String>,
    ) -> Result<Option<Change>, ProviderError> {
        self.describe(cx, &want.ops.create, &want.key).await?;
        // A deletion in progress (from an interrupted `down`) must end before re-creating.
        if let Some(r) = self.get(&want.key).filter(|r| r.status == Status::Deleting) {
            cx.step(format!("waiting for {} to finish deleting", want.key));
            self.wait(cx, &want.key, r.ready_at_ms, "to be deleted")
                .await?;
            self.finish_delete(&want.key)?;
        }
        let change = match self.get(&want.key) {
            None => {
                self.request(cx, &want.ops.create, want, tags, Status::Creating)
                    .await?;
                Some(Change::new(ChangeAction::Create, &want.key))
            }
            Some(r) if r.spec != want.spec && r.status == Status::Available => {
                self.request(cx, &want.ops.update, want, tags, Status::Updating)
                    .await?;
                Some(Change::new(ChangeAction::Update, &want.key))
            }
            Some(_) => None,
        };
        let current = self.get(&want.key).expect("just ensured");
        if current.status != Status::Available {
            cx.step(format!("waiting for {} ({:?})", want.key, current.status).to_lowercase());
            self.wait(cx, &want.key, current.ready_at_ms, "to become available")
                .await?;
            self.with_world(|w| {
                if let Some(r) = w.resources.get_mut(&want.key) {
                    r.status = Status::Available;
                }
            })?;
        }
        Ok(change)
    }

    /// Delete one resource if it exists; returns the change made, if any.
    pub async fn remove(
        &self,
        cx: &OpContext,
        key: &str,
        op: &str,
    ) -> Result<Option<Change>, ProviderError> {
        self.describe(cx, op, key).await?;
        let Some(existing) = self.get(key) else {
            return Ok(None);
        };
        let mut change = None;
        let ready_at = if existing.status == Status::Deleting {
            existing.ready_at_ms
        } else {
            cx.check(&format!("deleting {key}"))?;
            let latency = self.admit(cx, op, key).await?;
            let ready = ready_at(latency);
            self.with_world(|w| {
                w.calls.push(CallRecord {
                    op: op.to_string(),
                    resource: key.to_string(),
                    at_ms: now_ms(),
                });
                if let Some(r) = w.resources.get_mut(key) {
                    r.status = Status::Deleting;
                    r.ready_at_ms = ready;
                }
            })?;
            change = Some(Change::new(ChangeAction::Delete, key));
            ready
        };
        cx.step(format!("waiting for {key} to be deleted"));
        self.wait(cx, key, ready_at, "to be deleted").await?;
        self.finish_delete(key)?;
        Ok(change)
    }

    fn finish_delete(&self, key: &str) -> Result<(), ProviderError> {
        self.with_world(|w| {
            w.resources.remove(key);
        })
    }

    /// One describe call of `key` (before `op`), under the account's rate limit.
    pub async fn describe(&self, cx: &OpContext, op: &str, key: &str) -> Result<(), ProviderError> {
        if !cloud_api(op) {
            return Ok(());
        }
        let mut retries = 0;
        while !self.answered(cx, Kind::Read).await? {
            retries += 1;
            self.throttled(cx, &format!("describe {key}"), retries)
                .await?;
        }
        Ok(())
    }

    /// Takes a token of kat's limiter, then asks the account: `false` when it throttled.
    async fn answered(&self, cx: &OpContext, kind: Kind) -> Result<bool, ProviderError> {
        Limiter::global().acquire(cx, &kind.limit_key()).await?;
        Ok(Account::global().answer(kind))
    }

    async fn throttled(
        &self,
        cx: &OpContext,
        call: &str,
        retries: u32,
    ) -> Result<(), ProviderError> {
        self.retry_after(
            cx,
            call,
            "Throttling: Rate exceeded (the profile's api_rate_limit)",
            retries,
        )
        .await
    }

    /// The pause after a transient refusal, said in the progress line.
    async fn retry_after(
        &self,
        cx: &OpContext,
        call: &str,
        message: &str,
        retries: u32,
    ) -> Result<(), ProviderError> {
        cx.step(format!("{call}: {message}; retry {retries}"));
        cx.sleep(
            self.profile.scaled(RETRY.full_jitter(retries - 1)),
            &format!("{call} to be accepted ({retries} retries so far)"),
        )
        .await
    }

    /// Applies the rate limit and fault injection to one mutating call; returns its latency. A
    /// transient fault or a throttle is retried with exponential backoff and full jitter until
    /// the stage's deadline, each retry said in the progress line.
    async fn admit(
        &self,
        cx: &OpContext,
        op: &str,
        key: &str,
    ) -> Result<Option<Duration>, ProviderError> {
        let mut retries: u32 = 0;
        loop {
            if cloud_api(op) && !self.answered(cx, Kind::Mutate).await? {
                retries += 1;
                self.throttled(cx, &format!("{op} {key}"), retries).await?;
                continue;
            }
            match self.faults.on_call(op) {
                Fault::Fail(message) => return Err(ProviderError::api(op, key, message)),
                Fault::Hang => return Ok(None),
                Fault::None => return Ok(Some(self.profile.latency(op))),
                Fault::Transient(message) => {
                    retries += 1;
                    self.retry_after(cx, &format!("{op} {key}"), &message, retries)
                        .await?;
                }
            }
        }
    }

    async fn request(
        &self,
        cx: &OpContext,
        op: &str,
        want: &Want,
        tags: &BTreeMap<String, String>,
        status: Status,
    ) -> Result<(), ProviderError> {
        cx.check(&format!("{op} {}", want.key))?;
        let latency = self.admit(cx, op, &want.key).await?;
        tracing::debug!(op, resource = %want.key, ?latency, "sim: request accepted");
        let ready = ready_at(latency);
        self.with_world(|w| {
            w.calls.push(CallRecord {
                op: op.to_string(),
                resource: want.key.clone(),
                at_ms: now_ms(),
            });
            let id = match w.resources.get(&want.key) {
                Some(r) => r.id.clone(),
                None => {
                    w.next_id += 1;
                    format!("{}-{:06}", want.kind, w.next_id)
                }
            };
            w.resources.insert(
                want.key.clone(),
                WorldResource {
                    kind: want.kind.to_string(),
                    id,
                    status,
                    ready_at_ms: ready,
                    spec: want.spec.clone(),
                    tags: tags.clone(),
                },
            );
        })
    }

    async fn wait(
        &self,
        cx: &OpContext,
        key: &str,
        ready_at_ms: u64,
        what: &str,
    ) -> Result<(), ProviderError> {
        let label = format!("{key} {what}");
        if ready_at_ms == u64::MAX {
            // A hung operation: only the deadline or Ctrl-C ends the wait.
            loop {
                cx.sleep(Duration::from_secs(3600), &label).await?;
            }
        }
        let remaining = ready_at_ms.saturating_sub(now_ms());
        cx.sleep(Duration::from_millis(remaining), &label).await
    }
}

fn ready_at(latency: Option<Duration>) -> u64 {
    match latency {
        Some(d) => now_ms() + d.as_millis() as u64,
        None => u64::MAX,
    }
}
