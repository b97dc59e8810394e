//! The provider: where microk8s runs (this machine or a host over SSH), its checks before a run,
//! its three components, and what its cluster brings itself (the ingress controller).

use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::{
    AutoscalerKind, BroughtAddon, Capabilities, Component, KubeAccess, Leftover, LoadBalancerKind,
    OpContext, Outputs, Provider, ProviderError, ProviderRequest, Role,
};

use crate::cli::Microk8s;
use crate::error::Microk8sError;
use crate::platform::Platform;
use crate::runner::{LocalRunner, Runner};
use crate::ssh::{SshRunner, SshTarget};
use crate::{addons, cluster, kubeconfig, registry};

/// What every component shares.
pub struct Shared {
    pub req: ProviderRequest,
    pub cli: Microk8s,
    /// Set for a remote host: its key is checked before anything runs.
    pub ssh: Option<Arc<SshRunner>>,
}

impl Shared {
    /// kat adds the user to the `microk8s` group itself: over SSH (each command a new login,
    /// so the next one has the group), with `install` or `join_group`.
    pub fn may_join_group(&self) -> bool {
        let cfg = &self.req.config.microk8s;
        self.ssh.is_some() && (cfg.install || cfg.join_group)
    }
}

pub struct Microk8sProvider {
    s: Arc<Shared>,
}

/// The IngressClass microk8s's ingress addon marks default, in its nginx (up to 1.35) and
/// Traefik (1.36 on) forms alike.
pub const INGRESS_CLASS: &str = "public";

impl Microk8sProvider {
    /// Reads `provider.microk8s`; a malformed host is refused here (exit 2), nothing is run yet.
    pub fn new(req: ProviderRequest) -> Result<Microk8sProvider, ProviderError> {
        let cfg = &req.config.microk8s;
        let (runner, ssh): (Arc<dyn Runner>, Option<Arc<SshRunner>>) = match &cfg.host {
            Some(host) => {
                let target =
                    SshTarget::parse(host, cfg.port, cfg.key.clone(), cfg.known_hosts.clone())?;
                let ssh = Arc::new(SshRunner::new(target));
                (ssh.clone(), Some(ssh))
            }
            None => (Arc::new(LocalRunner), None),
        };
        let platform = Platform::detect(cfg.host.is_some())?;
        let cli = Microk8s::new(runner, cfg, platform);
        Ok(Microk8sProvider {
            s: Arc::new(Shared { req, cli, ssh }),
        })
    }

    fn check_key(&self) -> Result<(), ProviderError> {
        if let Some(ssh) = &self.s.ssh {
            ssh.check_key()?;
        }
        Ok(())
    }
}

#[async_trait]
impl Provider for Microk8sProvider {
    fn name(&self) -> &'static str {
        "microk8s"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            creates_cluster: true,
            managed_database: None,
            autoscaler: AutoscalerKind::NotApplicable,
            load_balancer: LoadBalancerKind::HostPorts,
            registry: true,
            registry_push: true,
            single_node: true,
            simulated: false,
        }
    }

    /// Reachable, installed (or to be installed), on the pinned channel, usable by this user and
    /// running: each a one-line error saying what to do, before anything is touched.
    async fn preflight(&self, cx: &OpContext) -> Result<(), ProviderError> {
        cx.check("checking microk8s")?;
        self.check_key()?;
        let cfg = &self.s.req.config.microk8s;
        match self.s.cli.installed().await? {
            None if cfg.install => return Ok(()),
            None => {
                return Err(Microk8sError::NotInstalled {
                    place: self.s.cli.place(),
                    install: self.s.cli.install_hint(),
                }
                .into())
            }
            Some(info) if info.tracking != cfg.channel => {
                return Err(Microk8sError::ChannelMismatch {
                    place: self.s.cli.place(),
                    tracking: info.tracking,
                    pinned: cfg.channel.clone(),
                    refresh: self.s.cli.refresh_hint(&cfg.channel),
                }
                .into())
            }
            Some(_) => {}
        }
        match self.s.cli.status().await {
            Err(Microk8sError::NoPermission { .. }) if self.s.may_join_group() => Ok(()),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }

    /// Only that the host answers: a `down` after microk8s was removed by hand still cleans up.
    async fn preflight_down(&self, cx: &OpContext) -> Result<(), ProviderError> {
        cx.check("checking microk8s")?;
        self.check_key()?;
        match self.s.cli.installed().await {
            Ok(_) | Err(Microk8sError::NoSnap { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn component(&self, role: Role) -> Option<Arc<dyn Component>> {
        let s = self.s.clone();
        match role {
            Role::Cluster => Some(Arc::new(cluster::Cluster { s })),
            Role::Kubeconfig => Some(Arc::new(kubeconfig::Kubeconfig { s })),
            Role::Registry if self.s.req.registry.is_some() => {
                Some(Arc::new(registry::Registry { s }))
            }
            _ => None,
        }
    }

    /// The registry's address is read from the cluster, once its addon is enabled.
    fn extra_deps(&self, role: Role) -> Vec<Role> {
        match role {
            Role::Registry => vec![Role::Cluster],
            _ => Vec::new(),
        }
    }

    fn brings_addon(&self, addon: &str) -> Option<BroughtAddon> {
        let by = addons::microk8s_addon_for(addon, &self.s.req.own_addons)?;
        if by != "ingress" {
            return Some(BroughtAddon {
                by: format!("microk8s addon `{by}` on {}", self.s.cli.place()),
                ingress_class: None,
                address: None,
            });
        }
        Some(BroughtAddon {
            by: format!(
                "microk8s addon `{by}` on {} (host ports 80 and 443)",
                self.s.cli.place()
            ),
            ingress_class: Some(INGRESS_CLASS.into()),
            address: Some(
                self.s
                    .cli
                    .runner()
                    .address()
                    .unwrap_or_else(|| "127.0.0.1".into()),
            ),
        })
    }

    /// The file the kubeconfig stage wrote, written again from `microk8s config` when it is
    /// gone (a `down` from a fresh checkout); Gone when microk8s itself is.
    async fn kube_access(&self, recorded: &Outputs) -> Result<KubeAccess, ProviderError> {
        let path = kubeconfig::path(&self.s);
        let _ = recorded;
        if !path.exists() {
            match self.s.cli.installed().await? {
                None => {
                    return Err(ProviderError::Gone {
                        what: format!("microk8s on {}", self.s.cli.place()),
                    })
                }
                Some(_) => {
                    kubeconfig::write(&self.s).await?;
                }
            }
        }
        Ok(KubeAccess::Kubeconfig {
            path: Some(path),
            context: Some(kubeconfig::context(&self.s)),
        })
    }

    /// Nothing of kat's outside the cluster but the addons, which the cluster stage's record
    /// accounts for: while that record exists, `down` has not given them back.
    async fn sweep(&self, _cx: &OpContext) -> Result<Vec<Leftover>, ProviderError> {
        let Some(record) = crate::record::Record::load(&Outputs::new(), &self.s.req.state_dir)
        else {
            return Ok(Vec::new());
        };
        Ok(record
            .enabled_by_kat
            .into_iter()
            .map(|a| Leftover {
                kind: "microk8s addon".into(),
                id: a,
                detail: format!(
                    "enabled by kat on {}; `microk8s disable` it, or run `kat down` again",
                    self.s.cli.place()
                ),
            })
            .collect())
    }
}
