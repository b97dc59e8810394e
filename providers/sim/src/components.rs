//! The roles of an EKS-shaped simulated environment. Each component is a list of resources created
//! in order and deleted in reverse, like one of kops' task files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kat_provider::contract::{
    CLUSTER_ENDPOINT, DATABASE_HOST, DATABASE_NAME, DATABASE_PORT, DATABASE_SECRET, DATABASE_USER,
    KUBECONFIG_CONTEXT, KUBECONFIG_PATH, REGISTRY_URL,
};
use kat_provider::{
    Applied, Change, ChangeAction, Component, OpContext, Outputs, ProviderError, Role, SecretRef,
    Verified,
};
use serde_json::{json, Value};

use crate::cloud::{Cloud, Want};
use crate::world::Status;

pub struct SimComponent {
    pub role: Role,
    pub cloud: Arc<Cloud>,
    pub wants: Vec<Want>,
    pub tags: BTreeMap<String, String>,
}

impl SimComponent {
    fn outputs(&self) -> Outputs {
        let mut o = Outputs::new();
        let id = |key: &str| self.cloud.get(key).map(|r| r.id).unwrap_or_default();
        for w in &self.wants {
            o.set(format!("{}_id", w.key.replace(['/', '-'], "_")), id(&w.key));
        }
        let first = self.wants.first().map(|w| id(&w.key)).unwrap_or_default();
        match self.role {
            Role::Network => {
                o.show("VPC", first);
            }
            Role::Cluster => {
                let endpoint = format!("https://{first}.sim.kat.local");
                o.put(&CLUSTER_ENDPOINT, &endpoint);
                o.show("Kubernetes API", endpoint);
            }
            Role::Nodes => {
                let spec = &self.wants[0].spec;
                o.show(
                    "Nodes",
                    format!(
                        "{} × {} (autoscaling {}–{})",
                        spec["count"],
                        spec["instance_type"].as_str().unwrap_or("?"),
                        spec["min"],
                        spec["max"]
                    ),
                );
            }
            Role::Registry => {
                let url = format!("{first}.registry.sim.kat.local");
                o.put(&REGISTRY_URL, &url);
                o.show("Registry", url);
            }
            Role::Database => {
                let db = self.wants.last().map(|w| id(&w.key)).unwrap_or_default();
                let host = format!("{db}.db.sim.kat.local");
                let secret = SecretRef {
                    store: crate::provider::SECRET_STORE.into(),
                    name: format!("{db}/master"),
                    key: Some("password".into()),
                };
                o.put(&DATABASE_HOST, &host)
                    .put(&DATABASE_PORT, 5432u16)
                    .put(&DATABASE_USER, "kat")
                    .put(&DATABASE_NAME, "app")
                    .put(&DATABASE_SECRET, secret.clone());
                o.show(
                    "Database",
                    format!(
                        "postgresql://{host}:5432/app (password in the simulated store {})",
                        secret.name
                    ),
                );
            }
            _ => {}
        }
        o
    }
}

#[async_trait]
impl Component for SimComponent {
    fn desired(&self) -> Value {
        Value::Array(
            self.wants
                .iter()
                .map(|w| json!({ "key": w.key, "spec": w.spec }))
                .collect(),
        )
    }

    async fn plan(&self, _cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        Ok(self
            .wants
            .iter()
            .filter_map(|w| self.cloud.diff(w))
            .collect())
    }

    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        let mut changes = Vec::new();
        for w in &self.wants {
            if let Some(c) = self.cloud.ensure(cx, w, &self.tags).await? {
                changes.push(c);
            }
        }
        Ok(Applied {
            changes,
            outputs: self.outputs(),
        })
    }

    async fn verify(&self, cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError> {
        for w in &self.wants {
            self.cloud.describe(cx, &w.ops.create, &w.key).await?;
            match self.cloud.get(&w.key) {
                None => return Ok(Verified::Drifted(format!("{} is gone", w.key))),
                Some(r) if r.status != Status::Available => {
                    return Ok(Verified::Drifted(
                        format!("{} is {:?}", w.key, r.status).to_lowercase(),
                    ))
                }
                Some(r) if r.spec != w.spec => {
                    return Ok(Verified::Drifted(format!(
                        "{} differs from the configuration",
                        w.key
                    )))
                }
                Some(_) => {}
            }
        }
        if self.outputs() != *recorded {
            return Ok(Verified::Drifted("recorded outputs are out of date".into()));
        }
        Ok(Verified::Intact)
    }

    async fn plan_destroy(&self, _cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        Ok(self
            .wants
            .iter()
            .rev()
            .filter(|w| self.cloud.get(&w.key).is_some())
            .map(|w| Change::new(ChangeAction::Delete, &w.key))
            .collect())
    }

    async fn destroy(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        let mut changes = Vec::new();
        for w in self.wants.iter().rev() {
            if let Some(c) = self.cloud.remove(cx, &w.key, &w.ops.delete).await? {
                changes.push(c);
            }
        }
        Ok(Applied {
            changes,
            outputs: Outputs::new(),
        })
    }

    fn nominal_duration(&self) -> Option<Duration> {
        Some(
            self.wants
                .iter()
                .map(|w| self.cloud.profile.latency(&w.ops.create))
                .sum(),
        )
    }
}

/// The kubeconfig role: a local file (mode 0600) with the context `kat-<env>`. The simulated API
/// server does not exist, so nothing can connect with it; the Kubernetes-layer stages use the
/// simulated workload target instead.
pub struct SimKubeconfig {
    pub cloud: Arc<Cloud>,
    pub path: PathBuf,
    pub env: String,
}

impl SimKubeconfig {
    fn context(&self) -> String {
        format!("kat-{}", self.env)
    }

    fn content(&self, endpoint: &str) -> String {
        let ctx = self.context();
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {ctx}\n  cluster:\n    server: {endpoint}\ncontexts:\n- name: {ctx}\n  context:\n    cluster: {ctx}\n    user: {ctx}\nusers:\n- name: {ctx}\n  user: {{}}\ncurrent-context: {ctx}\n"
        )
    }

    fn outputs(&self) -> Outputs {
        let mut o = Outputs::new();
        o.put(&KUBECONFIG_PATH, self.path.display().to_string())
            .put(&KUBECONFIG_CONTEXT, self.context());
        o.show(
            "kubeconfig",
            format!("{} (context {})", self.path.display(), self.context()),
        );
        o
    }
}

#[async_trait]
impl Component for SimKubeconfig {
    fn desired(&self) -> Value {
        json!({ "path": self.path, "context": self.context() })
    }

    async fn plan(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        let endpoint: String = cx.input("cluster", "endpoint").unwrap_or_default();
        let written = std::fs::read_to_string(&self.path).ok();
        Ok(match written {
            Some(text) if text == self.content(&endpoint) => vec![],
            Some(_) => vec![Change::new(
                ChangeAction::Update,
                format!("kubeconfig/{}", self.context()),
            )],
            None => vec![Change::new(
                ChangeAction::Create,
                format!("kubeconfig/{}", self.context()),
            )],
        })
    }

    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        let endpoint: String = cx.input("cluster", "endpoint")?;
        let content = self.content(&endpoint);
        let mut changes = vec![];
        let written = std::fs::read_to_string(&self.path).ok();
        if written.as_deref() != Some(content.as_str()) {
            cx.sleep(
                self.cloud.profile.latency("kubeconfig.write"),
                "writing kubeconfig",
            )
            .await?;
            kat_provider::fsutil::write_private(&self.path, content.as_bytes()).map_err(|e| {
                ProviderError::Other(format!("cannot write {}: {e}", self.path.display()))
            })?;
            let action = if written.is_some() {
                ChangeAction::Update
            } else {
                ChangeAction::Create
            };
            changes.push(Change::new(
                action,
                format!("kubeconfig/{}", self.context()),
            ));
        }
        Ok(Applied {
            changes,
            outputs: self.outputs(),
        })
    }

    async fn verify(&self, _cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError> {
        Ok(if self.path.exists() && *recorded == self.outputs() {
            Verified::Intact
        } else {
            Verified::Drifted(format!("{} is missing", self.path.display()))
        })
    }

    async fn plan_destroy(&self, _cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        Ok(if self.path.exists() {
            vec![Change::new(
                ChangeAction::Delete,
                format!("kubeconfig/{}", self.context()),
            )]
        } else {
            vec![]
        })
    }

    async fn destroy(&self, _cx: &OpContext) -> Result<Applied, ProviderError> {
        let changes = match std::fs::remove_file(&self.path) {
            Ok(()) => vec![Change::new(
                ChangeAction::Delete,
                format!("kubeconfig/{}", self.context()),
            )],
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
            Err(e) => {
                return Err(ProviderError::Other(format!(
                    "cannot delete {}: {e}",
                    self.path.display()
                )))
            }
        };
        Ok(Applied {
            changes,
            outputs: Outputs::new(),
        })
    }

    fn nominal_duration(&self) -> Option<Duration> {
        Some(self.cloud.profile.latency("kubeconfig.write"))
    }
}
