//! The `build` stage: every image the blueprint builds from source (`build:`), built in the
//! environment's own cluster by rootless BuildKit Jobs (concurrently), pushed to its registry and
//! pinned in kat.lock by source. A source whose digest kat.lock pins and the registry still
//! holds is not built again. Its output `images` (rendered reference → `<registry>/<repo>@sha256:…`)
//! is what the blueprint's manifests then run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::contract::REGISTRY_URL;
use kat_provider::{
    Applied, Change, ChangeAction, KubeAccess, OpContext, Outputs, ProviderError, Verified,
};
use oci_client::secrets::RegistryAuth;
use serde_json::{json, Value};

use crate::addons::LockFile;
use crate::engine::Stage;
use crate::images::build::{self, BuildError, BuildJob, BuildSource, Security};
use crate::images::{self, reference, Cache, Credentials, Mirror};
use crate::kube::{ApplyOptions, KubeWorkloads};
use crate::state::Turn;

pub const BUILD_STAGE: &str = "build";

/// One image to build.
pub struct Built {
    /// The image's key in blueprint.yaml.
    pub key: String,
    /// `repository:tag` under the registry (blueprint.yaml's `ref`).
    pub reference: String,
    pub source: BuildSource,
}

pub struct BuildStage {
    pub builds: Vec<Built>,
    pub lock_file: PathBuf,
    /// kat.yaml's `registry.url`.
    pub own_registry: Option<String>,
    pub builder: String,
    /// `images.build_resources`.
    pub resources: Option<crate::config::BuildResources>,
    pub cache_dir: PathBuf,
    pub provider: Arc<dyn kat_provider::Provider>,
    /// A fleet member building into a registry the members share: where they take turns, so
    /// each source is built once and the others find it pinned and pushed.
    pub turns: Option<PathBuf>,
}

fn failed(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Other(e.to_string())
}

/// Where the environment's nodes pull from and where pods push to (microk8s: its registry's
/// in-cluster Service; elsewhere the same registry).
struct Registries {
    pull: String,
    push: String,
    /// The push address speaks plain HTTP (an in-cluster Service, a loopback registry).
    insecure: bool,
}

impl BuildStage {
    fn registries(&self, cx: &OpContext) -> Option<Registries> {
        let pull = cx
            .read(&REGISTRY_URL)
            .ok()
            .or_else(|| self.own_registry.clone())?
            .trim_end_matches('/')
            .to_string();
        let in_cluster: Option<String> = cx.input("registry", "push_url").ok();
        let push = in_cluster.clone().unwrap_or_else(|| pull.clone());
        let host = push.split('/').next().unwrap_or_default();
        let insecure =
            in_cluster.is_some() || host.starts_with("localhost") || host.starts_with("127.");
        Some(Registries {
            pull,
            push,
            insecure,
        })
    }

    fn mirror(&self, registry: &str) -> Result<Mirror, ProviderError> {
        Ok(Mirror::new(
            Cache::open(&self.cache_dir).map_err(failed)?,
            self.credentials()?,
            &[registry.split('/').next().unwrap_or_default().to_string()],
        ))
    }

    fn credentials(&self) -> Result<Credentials, ProviderError> {
        Credentials::with_docker_config(Some(Arc::new(images::ProviderCredentials(
            self.provider.clone(),
        ))))
        .map_err(failed)
    }

    fn locked(&self) -> Result<BTreeMap<String, String>, ProviderError> {
        LockFile::load(&self.lock_file)
            .map(|l| l.builds)
            .map_err(failed)
    }

    /// `<pull>/<repo>` of a built image: its reference without the tag.
    fn repository(&self, pull: &str, b: &Built) -> String {
        let repo = match b.reference.rsplit_once(':') {
            Some((r, tag)) if !tag.contains('/') => r,
            _ => b.reference.as_str(),
        };
        format!("{pull}/{repo}")
    }

    /// Whether the registry still holds `digest` for this image; a registry kat cannot reach
    /// from here (microk8s on another host) is trusted.
    async fn present(&self, cx: &OpContext, mirror: &Mirror, repo: &str, digest: &str) -> bool {
        let Ok(target) = reference::parse(&format!("{repo}:kat")) else {
            return false;
        };
        match mirror.present(&target, digest).await {
            Ok(there) => there,
            Err(e) => {
                cx.warn(format!(
                    "could not ask the registry whether it holds {repo}@{digest} ({e}); trusting kat.lock"
                ));
                true
            }
        }
    }

    /// The builds whose digest kat.lock does not pin, or the registry no longer holds.
    async fn todo<'a>(
        &'a self,
        cx: &OpContext,
        regs: &Registries,
    ) -> Result<Vec<&'a Built>, ProviderError> {
        let mirror = self.mirror(&regs.pull)?;
        let locked = self.locked()?;
        let mut todo = Vec::new();
        for b in &self.builds {
            let repo = self.repository(&regs.pull, b);
            match locked.get(&b.source.key()) {
                Some(d) if self.present(cx, &mirror, &repo, d).await => {}
                _ => todo.push(b),
            }
        }
        Ok(todo)
    }

    async fn cluster(&self, cx: &OpContext) -> Result<KubeWorkloads, ProviderError> {
        let recorded = cx.upstream.get("kubeconfig").cloned().unwrap_or_default();
        match self.provider.kube_access(&recorded).await? {
            KubeAccess::Kubeconfig { path, context } => Ok(KubeWorkloads::connect_within(
                path.as_deref(),
                context.as_deref(),
                cx,
                ApplyOptions::default(),
            )
            .await?),
            KubeAccess::Workloads(_) => Err(ProviderError::Other(
                "this provider's cluster runs no pods: images cannot be built in it".into(),
            )),
        }
    }

    /// The push credentials as a dockerconfigjson entry (user, password).
    async fn push_auth(
        &self,
        b: &Built,
        registry: &str,
    ) -> Result<Option<(String, String)>, ProviderError> {
        let host = registry.split('/').next().unwrap_or_default();
        let auth =
            self.credentials()?
                .for_registry(host)
                .await
                .map_err(|e| BuildError::Credentials {
                    component: b.key.clone(),
                    registry: host.to_string(),
                    message: e.to_string(),
                })?;
        Ok(match auth {
            RegistryAuth::Basic(u, p) => Some((u, p)),
            // An identity token is exchanged by the registry's token service under the
            // conventional user `<token>` (as `docker login` stores it).
            RegistryAuth::Bearer(t) => Some(("<token>".to_string(), t)),
            RegistryAuth::Anonymous => None,
        })
    }

    async fn build_one(
        &self,
        cx: &OpContext,
        kube: &KubeWorkloads,
        security: Security,
        regs: &Registries,
        b: &Built,
    ) -> Result<String, ProviderError> {
        let auth = self.push_auth(b, &regs.push).await?;
        let job = BuildJob {
            env: &cx.env,
            name: job_name(&cx.env, b),
            builder: &self.builder,
            source: &b.source,
            target: format!("{}/{}", regs.push, b.reference),
            security,
            resources: self.resources.as_ref(),
        };
        let host = regs.push.split('/').next().unwrap_or_default();
        let secret = build::job::secret(
            &job,
            host,
            auth.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
        );
        let manifest = build::job::job(&job, regs.insecure);
        let outcome = build::run(kube.client(), cx, &b.key, &job, secret, manifest).await?;
        Ok(outcome.digest)
    }
}

/// `kat-build-<env>-<key>-<hash>`: a DNS label, unique per environment and source.
fn job_name(env: &str, b: &Built) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(format!("{env}\n{}", b.source.key()).as_bytes());
    let short: String = hash.iter().take(4).map(|x| format!("{x:02x}")).collect();
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect()
    };
    let mut head = format!("kat-build-{}-{}", clean(env), clean(&b.key));
    head.truncate(63 - 9);
    format!("{}-{short}", head.trim_end_matches('-'))
}

#[async_trait]
impl Stage for BuildStage {
    fn desired(&self) -> Value {
        let keys: Vec<String> = self.builds.iter().map(|b| b.source.key()).collect();
        let mut desired = json!({ "builds": keys, "builder": self.builder });
        if let Some(r) = &self.resources {
            desired["resources"] = json!(r);
        }
        desired
    }

    async fn plan(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        let Some(regs) = self.registries(cx) else {
            return Ok(vec![Change::new(ChangeAction::Create, "builds")
                .with_detail("built once the registry exists")]);
        };
        Ok(self
            .todo(cx, &regs)
            .await?
            .into_iter()
            .map(|b| {
                Change::new(ChangeAction::Create, format!("build/{}", b.key))
                    .with_detail(b.source.context_url())
            })
            .collect())
    }

    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        let regs = self.registries(cx).ok_or_else(|| {
            ProviderError::Other(
                "no registry to push built images to: the registry stage recorded no URL and kat.yaml names no `registry.url`".into(),
            )
        })?;
        // What is left to build is asked once it is this member's turn: the one before may
        // have built it.
        let _turn = match &self.turns {
            Some(path) => {
                let waiting = || {
                    cx.step(
                        "waiting for another member of the fleet building into the same registry",
                    )
                };
                let turn = Turn::take(path, waiting, || cx.cancel.is_cancelled())
                    .await
                    .map_err(failed)?;
                if turn.is_none() {
                    cx.check("waiting for the fleet's build turn")?;
                }
                turn
            }
            None => None,
        };
        let todo = self.todo(cx, &regs).await?;
        let mut changes = Vec::new();
        if !todo.is_empty() {
            let kube = self.cluster(cx).await?;
            let version = kube.client().apiserver_version().await.map_err(failed)?;
            let security = Security::for_server(&version.major, &version.minor);
            // Every build at once: each is its own pod, the cluster schedules them.
            let results = futures::future::join_all(
                todo.iter()
                    .map(|b| self.build_one(cx, &kube, security, &regs, b)),
            )
            .await;
            let mut first_error = None;
            for (b, r) in todo.iter().zip(results) {
                match r {
                    Ok(digest) => {
                        // Saved even if another build failed: the next `up` need not redo it.
                        LockFile::save_build(&self.lock_file, &b.source.key(), &digest)
                            .map_err(failed)?;
                        cx.step(format!("{}: built {}@{digest}", b.key, b.reference));
                        changes.push(
                            Change::new(ChangeAction::Create, format!("build/{}", b.key))
                                .with_detail(format!(
                                    "{}@{digest}",
                                    self.repository(&regs.pull, b)
                                )),
                        );
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_error {
                return Err(e);
            }
        }
        let locked = self.locked()?;
        let mut runs = BTreeMap::new();
        let mut pins = BTreeMap::new();
        for b in &self.builds {
            let key = b.source.key();
            let digest = locked
                .get(&key)
                .cloned()
                .ok_or_else(|| failed(format!("{}: kat.lock has no digest for {key}", b.key)))?;
            if !todo.iter().any(|t| t.key == b.key) {
                cx.step(format!(
                    "{}: {} unchanged, already built as {digest}",
                    b.key,
                    b.source.context_url()
                ));
            }
            runs.insert(
                format!("{}/{}", regs.pull, b.reference),
                format!("{}@{digest}", self.repository(&regs.pull, b)),
            );
            pins.insert(key, digest);
        }
        let mut outputs = Outputs::new();
        outputs.set("images", &runs).set("builds", &pins);
        Ok(Applied { changes, outputs })
    }

    /// Every recorded build still the one kat.lock pins, and still in the registry.
    async fn verify(&self, cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError> {
        let Some(regs) = self.registries(cx) else {
            return Ok(Verified::Drifted("the registry has no URL recorded".into()));
        };
        let pins: BTreeMap<String, String> = recorded.get("builds").unwrap_or_default();
        let locked = self.locked()?;
        let mirror = self.mirror(&regs.pull)?;
        for b in &self.builds {
            let key = b.source.key();
            let (Some(d), Some(l)) = (pins.get(&key), locked.get(&key)) else {
                return Ok(Verified::Drifted(format!("{} was not built", b.key)));
            };
            if d != l {
                return Ok(Verified::Drifted(format!("kat.lock pins {key} at {l} now")));
            }
            let repo = self.repository(&regs.pull, b);
            if !self.present(cx, &mirror, &repo, d).await {
                return Ok(Verified::Drifted(format!(
                    "{repo}@{d} is no longer in the registry"
                )));
            }
        }
        Ok(Verified::Intact)
    }

    async fn plan_destroy(
        &self,
        _cx: &OpContext,
        _: &Outputs,
    ) -> Result<Vec<Change>, ProviderError> {
        Ok(Vec::new())
    }

    /// The images go with the registry; the Jobs were deleted when each build ended.
    async fn destroy(&self, _cx: &OpContext, _: &Outputs) -> Result<Applied, ProviderError> {
        Ok(Applied::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_are_dns_labels_unique_per_source() {
        let b = |key: &str, r: &str| Built {
            key: key.into(),
            reference: "x:1".into(),
            source: BuildSource {
                git: "https://g/x.git".into(),
                reference: r.into(),
                context: None,
                dockerfile: None,
                args: BTreeMap::new(),
            },
        };
        let long = "a".repeat(80);
        let n = job_name("Env_1", &b(&long, "v1"));
        assert!(n.len() <= 63 && n.starts_with("kat-build-env-1-"), "{n}");
        assert_ne!(
            job_name("e", &b("api", "v1")),
            job_name("e", &b("api", "v2"))
        );
    }
}
