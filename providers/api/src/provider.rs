//! A provider: the components it offers per role, what it can do, and how to reach its cluster.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::caps::Capabilities;
use crate::component::Component;
use crate::config::{DatabaseConfig, ProviderConfig, Tags};
use crate::context::OpContext;
use crate::environments::TaggedEnvironment;
use crate::error::ProviderError;
use crate::outputs::{Outputs, SecretRef};
use crate::workloads::Workloads;

/// The provider-owned roles of the graph. The Kubernetes-layer stages (addons, blueprint) are the
/// engine's own and reach the cluster through [`KubeAccess`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// VPC / virtual network, subnets, gateways.
    Network,
    /// Roles and identities the cluster and nodes need.
    Identity,
    /// The control plane (or the local cluster's installation).
    Cluster,
    /// Worker node pools.
    Nodes,
    /// Credentials: a kubeconfig context for the cluster.
    Kubeconfig,
    /// A container registry beside the cluster.
    Registry,
    /// A managed database beside the cluster.
    Database,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Network,
        Role::Identity,
        Role::Cluster,
        Role::Nodes,
        Role::Kubeconfig,
        Role::Registry,
        Role::Database,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Network => "network",
            Role::Identity => "identity",
            Role::Cluster => "cluster",
            Role::Nodes => "nodes",
            Role::Kubeconfig => "kubeconfig",
            Role::Registry => "registry",
            Role::Database => "database",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the engine asks a provider to build, resolved from kat.yaml and flags.
#[derive(Debug, Clone)]
pub struct ProviderRequest {
    pub env: String,
    pub config: ProviderConfig,
    /// The environment's state directory (`.kat/<env>`), for provider-local files.
    pub state_dir: PathBuf,
    /// The database settings; the provider makes a `Database` component only for a managed mode.
    pub database: DatabaseConfig,
    /// Registry repositories to create (one per blueprint image); `None`: no registry stage.
    pub registry: Option<Vec<String>>,
    /// kat's tags (`kat:environment`, `kat:managed`) plus the user's.
    pub tags: Tags,
    /// The kat addons kat.yaml enables, by stage id (`ingress-nginx`): a provider whose cluster
    /// brings some of them itself ([`Provider::brings_addon`]) readies those.
    pub addons: Vec<String>,
    /// The enabled addons kat.yaml asks the provider's cluster to bring itself
    /// (`addons.<id>.source: <provider>`), by stage id; the provider refuses one it cannot bring.
    pub own_addons: Vec<String>,
    /// `kat down --purge`: also remove what the provider installed on the machine itself (only
    /// what kat installed).
    pub purge: bool,
}

/// How the Kubernetes-layer stages reach the cluster.
#[derive(Clone)]
pub enum KubeAccess {
    /// A real API server: kat's Kubernetes layer connects with this kubeconfig (None: kubectl's
    /// rules, the `KUBECONFIG` list merged, else `~/.kube/config`).
    Kubeconfig {
        path: Option<PathBuf>,
        context: Option<String>,
    },
    /// The provider brings its own workload target (the simulated cluster of `sim`).
    Workloads(Arc<dyn Workloads>),
}

/// An addon the provider's cluster brings (see [`Provider::brings_addon`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BroughtAddon {
    /// What provides it, for messages and outputs ("microk8s addon `ingress`").
    pub by: String,
    /// For an ingress controller: the IngressClass Ingresses name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress_class: Option<String>,
    /// For an ingress controller: the address it answers on (host ports 80/443), for URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// A tagged resource still present after `down`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leftover {
    pub kind: String,
    pub id: String,
    pub detail: String,
}

#[async_trait]
pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;

    fn capabilities(&self) -> Capabilities;

    /// Checks that need no resource: credentials resolve, required tools exist. Runs before any
    /// stage, so a missing credential fails in a second, not after the network was built.
    async fn preflight(&self, cx: &OpContext) -> Result<(), ProviderError>;

    /// Who the credential is, for the `kat:owner` tag of a new environment (an ARN, a user
    /// principal name, the OS user): best effort, `None` when the provider cannot tell cheaply.
    async fn owner(&self, cx: &OpContext) -> Option<String> {
        let _ = cx;
        None
    }

    /// Checks before `down`. Only what teardown needs (the provider can be reached): a `down`
    /// must work when what `up` would need (an installed tool) is already gone.
    async fn preflight_down(&self, cx: &OpContext) -> Result<(), ProviderError> {
        self.preflight(cx).await
    }

    /// The component for a role, or `None` when the role does not apply to this provider.
    fn component(&self, role: Role) -> Option<Arc<dyn Component>>;

    /// Roles this provider's component for `role` needs besides the graph's own order (microk8s
    /// reads its registry's address from the cluster, so its registry comes after the cluster).
    fn extra_deps(&self, role: Role) -> Vec<Role> {
        let _ = role;
        Vec::new()
    }

    /// A kat addon (by stage id, such as `ingress-nginx`) that the provider's cluster brings
    /// itself, so kat applies nothing for it and uses what the cluster has (microk8s's own
    /// `ingress` addon instead of a second controller). `None`: kat installs the addon.
    fn brings_addon(&self, addon: &str) -> Option<BroughtAddon> {
        let _ = addon;
        None
    }

    /// A fleet's shared network (`fleet.share_network`): `member`'s configuration changed to
    /// build in the network the environment `owner`'s network stage recorded (`network`: its
    /// outputs), as a network of the user's own, so the member neither creates nor deletes one.
    /// Unsupported: every environment of this provider makes its own network.
    fn adopt_network(
        &self,
        owner: &str,
        network: &Outputs,
        member: &mut ProviderConfig,
    ) -> Result<(), ProviderError> {
        let _ = (owner, network, member);
        Err(ProviderError::Unsupported {
            provider: self.name().into(),
            what: "one network shared by a fleet's members (`fleet.share_network`)".into(),
        })
    }

    /// How to reach the cluster, given what the kubeconfig stage recorded. With nothing recorded
    /// (`down` after the state was lost) the provider finds the cluster by name and tags, and
    /// answers [`ProviderError::Gone`] when there is none.
    async fn kube_access(&self, kubeconfig: &Outputs) -> Result<KubeAccess, ProviderError>;

    /// After `down`: every resource carrying this environment's tags that still exists.
    async fn sweep(&self, cx: &OpContext) -> Result<Vec<Leftover>, ProviderError>;

    /// A kubeconfig for the cluster whose credentials come from the cloud's CLI each time kubectl
    /// needs them (an exec plugin), for users who prefer that to the token kat minted.
    async fn exec_kubeconfig(&self, kubeconfig: &Outputs) -> Result<String, ProviderError> {
        let _ = kubeconfig;
        Err(ProviderError::Unsupported {
            provider: self.name().into(),
            what: "`kat kubeconfig --exec` (a kubeconfig whose credentials come from the cloud's CLI each time)".into(),
        })
    }

    /// Every environment whose resources carry kat's tags in the provider's account and region,
    /// found by the tags alone (no journal), with what they say: creation, expiry, owner. For
    /// `kat reap`; build the list with [`crate::environments::gather`].
    async fn environments(&self, cx: &OpContext) -> Result<Vec<TaggedEnvironment>, ProviderError> {
        let _ = cx;
        Err(ProviderError::Unsupported {
            provider: self.name().into(),
            what: "finding environments by their tags (`kat reap`)".into(),
        })
    }

    /// How long the credential in the kubeconfig kat writes stays valid, when it expires at all
    /// (EKS tokens: 15 minutes), so `kat kubeconfig --merge` can say when to prefer `--exec`.
    fn kubeconfig_token_lifetime(&self) -> Option<std::time::Duration> {
        None
    }

    /// The value behind a [`SecretRef`] this provider recorded (a managed database's password in
    /// the cloud's secret store), read only to be written into a Kubernetes Secret: never printed,
    /// logged or kept in kat's state.
    async fn secret_value(&self, secret: &SecretRef) -> Result<String, ProviderError> {
        Err(ProviderError::Unsupported {
            provider: self.name().into(),
            what: format!("reading secret `{}` from {}", secret.name, secret.store),
        })
    }

    /// Credentials for pushing to the registry this provider made (`registry`: the host from its
    /// registry stage's `url`), as `(user, password)`: ECR's GetAuthorizationToken (`AWS`, the
    /// token), ACR's token exchange. `None`: not a registry of this provider's, or one without
    /// authentication (microk8s); kat then uses the Docker config. Never logged or recorded.
    async fn registry_credentials(
        &self,
        _registry: &str,
    ) -> Result<Option<(String, String)>, ProviderError> {
        Ok(None)
    }

    /// A Bearer token for pulling from and pushing to one repository of the registry this
    /// provider made (ACR: its refresh token exchanged for a repository-scoped access token).
    /// `None`: not a registry of this provider's, or one it answers with
    /// [`Provider::registry_credentials`] instead. Never logged or recorded.
    async fn registry_token(
        &self,
        _registry: &str,
        _repository: &str,
    ) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }
}
