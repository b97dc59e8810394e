//! The provider part of kat.yaml. It lives here, not in a provider crate, so that `kat schema` and
//! config validation know every provider's settings even when that provider is not compiled in.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ProviderName {
    Sim,
    Eks,
    Aks,
    Microk8s,
    Kubeconfig,
}

impl ProviderName {
    pub const ALL: [ProviderName; 5] = [
        ProviderName::Eks,
        ProviderName::Aks,
        ProviderName::Microk8s,
        ProviderName::Kubeconfig,
        ProviderName::Sim,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderName::Sim => "sim",
            ProviderName::Eks => "eks",
            ProviderName::Aks => "aks",
            ProviderName::Microk8s => "microk8s",
            ProviderName::Kubeconfig => "kubeconfig",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            ProviderName::Eks => {
                "AWS: VPC, IAM, EKS with managed node groups, ECR, optional RDS PostgreSQL"
            }
            ProviderName::Aks => {
                "Azure: resource group, VNet, AKS with an autoscaling pool, ACR, optional PostgreSQL"
            }
            ProviderName::Microk8s => "microk8s on this machine or on a host over SSH",
            ProviderName::Kubeconfig => "an existing cluster, reached through a kubeconfig context",
            ProviderName::Sim => {
                "in-process simulated cloud with real-world latencies and injectable faults"
            }
        }
    }
}

impl fmt::Display for ProviderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProviderName::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<_> = ProviderName::ALL.iter().map(|p| p.as_str()).collect();
                format!("unknown provider `{s}`; expected one of {}", all.join(", "))
            })
    }
}

/// Where the application's database lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DatabaseMode {
    /// The blueprint brings no database, or the user points it at one they run.
    None,
    /// PostgreSQL as a StatefulSet with a volume, rendered by the blueprint.
    #[default]
    InCluster,
    /// A managed database created by the provider beside the cluster (RDS on eks, Azure Database
    /// for PostgreSQL flexible server on aks). `rds`, its first name, is still accepted.
    Managed,
}

impl DatabaseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DatabaseMode::None => "none",
            DatabaseMode::InCluster => "in-cluster",
            DatabaseMode::Managed => "managed",
        }
    }
}

/// By hand rather than derived with an alias: an unknown mode's error lists the modes by their
/// names only (`managed`, not also its old name `rds`).
impl<'de> Deserialize<'de> for DatabaseMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor, so the error is raised at the value (its line and column), not the key.
        struct Mode;
        impl serde::de::Visitor<'_> for Mode {
            type Value = DatabaseMode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a database mode")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DatabaseMode, E> {
                v.parse()
                    .map_err(|_| E::unknown_variant(v, &["none", "in-cluster", "managed"]))
            }
        }
        d.deserialize_str(Mode)
    }
}

impl FromStr for DatabaseMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(DatabaseMode::None),
            "in-cluster" => Ok(DatabaseMode::InCluster),
            "managed" | "rds" => Ok(DatabaseMode::Managed),
            other => Err(format!(
                "database mode `{other}` is not one of none, in-cluster, managed"
            )),
        }
    }
}

impl fmt::Display for DatabaseMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodePoolConfig {
    /// Machine type (`m6i.large` on eks, `Standard_D4s_v5` on aks). Empty: the provider's default.
    #[serde(default)]
    pub instance_type: Option<String>,
    /// Nodes to start with.
    #[serde(default = "default_count")]
    pub count: u32,
    /// Lower bound for the autoscaler.
    #[serde(default = "default_min")]
    pub min: u32,
    /// Upper bound for the autoscaler.
    #[serde(default = "default_max")]
    pub max: u32,
    /// Spot / low-priority capacity instead of on-demand.
    #[serde(default)]
    pub spot: bool,
    /// Kubernetes labels on every node of the pool (changed in place).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Taints on every node of the pool (changed in place).
    #[serde(default)]
    pub taints: Vec<NodeTaint>,
}

/// A node taint, spelled as in Kubernetes (`{key: dedicated, value: gpu, effect: NoSchedule}`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeTaint {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    pub effect: TaintEffect,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

fn default_count() -> u32 {
    2
}
fn default_min() -> u32 {
    1
}
fn default_max() -> u32 {
    4
}

impl Default for NodePoolConfig {
    fn default() -> Self {
        NodePoolConfig {
            instance_type: None,
            count: default_count(),
            min: default_min(),
            max: default_max(),
            spot: false,
            labels: BTreeMap::new(),
            taints: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Which provider builds the environment. `--provider` and `KAT_PROVIDER` override it.
    #[serde(default)]
    pub name: Option<ProviderName>,
    /// Cloud region (eks) or location (aks). `--region`, `KAT_REGION` and the cloud's own
    /// environment variables (`AWS_REGION`) also set it.
    #[serde(default)]
    pub region: Option<String>,
    /// Kubernetes minor version, such as "1.31". Empty: the newest the provider supports.
    #[serde(default)]
    pub kubernetes_version: Option<String>,
    #[serde(default)]
    pub nodes: NodePoolConfig,
    /// Settings of the `sim` provider.
    #[serde(default)]
    pub sim: SimConfig,
    /// Settings of the `kubeconfig` provider.
    #[serde(default)]
    pub kubeconfig: KubeconfigConfig,
    /// Settings of the `eks` provider.
    #[serde(default)]
    pub eks: EksConfig,
    /// Settings of the `microk8s` provider.
    #[serde(default)]
    pub microk8s: Microk8sConfig,
    /// Settings of the `aks` provider.
    #[serde(default)]
    pub aks: crate::aks_config::AksConfig,
}

/// The microk8s provider: the `microk8s` CLI on this machine, or on `host` over SSH.
/// Everything has a default, so `provider: {name: microk8s}` alone works on a Linux machine with
/// microk8s installed and the user in the `microk8s` group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Microk8sConfig {
    /// `user@address` (or `address`) of a machine reached with the system `ssh` (BatchMode: the
    /// user's agent, or `key`). Empty: this machine.
    #[serde(default)]
    pub host: Option<String>,
    /// A workshop: one environment per host (`<env>-01` for the first, …), each built like
    /// `host`, concurrently, with a handout per host. Replaces `fleet.count`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// SSH port of `host`. Empty: ssh's own default (22, or what ~/.ssh/config says).
    #[serde(default)]
    pub port: Option<u16>,
    /// Private key file for `host` (`ssh -i`). Empty: the user's agent and ssh's defaults.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// known_hosts file for `host` (`ssh -o UserKnownHostsFile`). Empty: ssh's default. A host
    /// seen for the first time is accepted and recorded (`StrictHostKeyChecking=accept-new`); a
    /// changed host key is refused.
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
    /// The snap channel microk8s is installed from and must track (`snap install microk8s
    /// --classic --channel=<channel>`).
    #[serde(default = "default_microk8s_channel")]
    pub channel: String,
    /// Install microk8s from snap when it is missing (and `kat down --purge` may then remove it).
    /// Off: a missing microk8s is an error that gives the install command.
    #[serde(default)]
    pub install: bool,
    /// Put in front of every `microk8s` command, for a user outside the `microk8s` group:
    /// `[sudo]`, or `[sg, microk8s, -c]` (a prefix ending in `-c` gets the command as one
    /// shell-quoted argument).
    #[serde(default)]
    pub command_prefix: Vec<String>,
    /// Put in front of the `snap` commands that change the system (install, refresh --hold,
    /// remove). Empty: none when kat runs as root there, else `[sudo, -n]` (never a password
    /// prompt: without passwordless sudo the error says which command to run yourself).
    #[serde(default)]
    pub snap_prefix: Option<Vec<String>>,
    /// Seconds `microk8s status --wait-ready` may take (it can wait forever on its own).
    #[serde(default = "default_microk8s_ready_timeout")]
    pub ready_timeout: u64,
    /// Seconds any other command may take (an `enable` of several addons pulls images).
    #[serde(default = "default_microk8s_command_timeout")]
    pub command_timeout: u64,
    /// macOS and Windows: the multipass VM `microk8s install` creates (with `install: true`).
    /// Not used on Linux or with `host`.
    #[serde(default)]
    pub vm: Microk8sVm,
    /// Over SSH, a user outside the `microk8s` group is added to it (`sudo usermod -a -G
    /// microk8s <user>`, `sudo chown -R <user> ~/.kube`); `install: true` implies it. Off: the
    /// error gives those commands.
    #[serde(default)]
    pub join_group: bool,
}

/// The VM's size, as `microk8s install --cpu --mem --disk` takes it. The defaults are microk8s's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Microk8sVm {
    /// Cores (`--cpu`).
    #[serde(default = "default_vm_cpus")]
    pub cpus: u32,
    /// Memory in GB (`--mem`).
    #[serde(default = "default_vm_memory_gb")]
    pub memory_gb: u32,
    /// Disk in GB (`--disk`; the VM's disk grows up to it).
    #[serde(default = "default_vm_disk_gb")]
    pub disk_gb: u32,
}

fn default_vm_cpus() -> u32 {
    2
}
fn default_vm_memory_gb() -> u32 {
    4
}
fn default_vm_disk_gb() -> u32 {
    50
}

impl Default for Microk8sVm {
    fn default() -> Self {
        Microk8sVm {
            cpus: default_vm_cpus(),
            memory_gb: default_vm_memory_gb(),
            disk_gb: default_vm_disk_gb(),
        }
    }
}

/// The stable channel kat pins by default: its ingress addon is ingress-nginx (IngressClasses
/// `public` and `nginx`), its registry addon publishes `local-registry-hosting`.
pub const MICROK8S_DEFAULT_CHANNEL: &str = "1.32/stable";

fn default_microk8s_channel() -> String {
    MICROK8S_DEFAULT_CHANNEL.into()
}
fn default_microk8s_ready_timeout() -> u64 {
    300
}
fn default_microk8s_command_timeout() -> u64 {
    900
}

impl Default for Microk8sConfig {
    fn default() -> Self {
        Microk8sConfig {
            host: None,
            hosts: Vec::new(),
            port: None,
            key: None,
            known_hosts: None,
            channel: default_microk8s_channel(),
            install: false,
            command_prefix: Vec::new(),
            snap_prefix: None,
            ready_timeout: default_microk8s_ready_timeout(),
            command_timeout: default_microk8s_command_timeout(),
            vm: Microk8sVm::default(),
            join_group: false,
        }
    }
}

/// The AWS provider. Everything has a default, so `provider: {name: eks}` alone builds a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EksConfig {
    /// Availability zones to spread the subnets over: 2 or 3.
    #[serde(default = "default_az_count")]
    pub az_count: u8,
    /// One NAT gateway per availability zone (survives the loss of a zone, costs more) instead of
    /// one shared by all private subnets.
    #[serde(default)]
    pub nat_per_az: bool,
    /// Address range of the VPC kat creates; subnets are carved from it.
    #[serde(default = "default_vpc_cidr")]
    pub vpc_cidr: String,
    /// Bring your own VPC: its id. With it, kat creates no network and `kat down` deletes none.
    #[serde(default)]
    pub vpc_id: Option<String>,
    /// With `vpc_id`: the public subnets (load balancers).
    #[serde(default)]
    pub public_subnet_ids: Vec<String>,
    /// With `vpc_id`: the private subnets (nodes, database).
    #[serde(default)]
    pub private_subnet_ids: Vec<String>,
    /// Not a setting: the environment whose VPC `vpc_id` is, when a fleet's member builds in the
    /// fleet's shared network (`fleet.share_network`), for what kat says of it.
    #[serde(skip)]
    #[schemars(skip)]
    pub vpc_of: Option<String>,
    /// Give the identity that runs `kat up` cluster-admin through an EKS access entry.
    #[serde(default = "default_true")]
    pub access_entry: bool,
    /// EKS managed add-ons installed once the nodes are up.
    #[serde(default = "default_addons")]
    pub addons: Vec<String>,
    /// Control-plane log types sent to CloudWatch (`kat down` deletes the log group).
    #[serde(default = "default_log_types")]
    pub log_types: Vec<String>,
    /// Reach the Kubernetes API through this kubeconfig instead of the cluster's endpoint with a
    /// token kat mints: for a private endpoint reached through a bastion, VPN or tunnel. kat still
    /// writes its own `kat-<env>` kubeconfig for the real endpoint.
    #[serde(default)]
    pub api_access: Option<ApiAccess>,
}

/// A kubeconfig (and context) through which kat reaches a cluster's API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiAccess {
    /// Path to the kubeconfig file.
    pub kubeconfig: PathBuf,
    /// Context in it; its current context when empty.
    #[serde(default)]
    pub context: Option<String>,
}

fn default_az_count() -> u8 {
    2
}
fn default_vpc_cidr() -> String {
    "10.42.0.0/16".into()
}
fn default_true() -> bool {
    true
}
fn default_addons() -> Vec<String> {
    ["vpc-cni", "kube-proxy", "coredns"]
        .map(String::from)
        .to_vec()
}
fn default_log_types() -> Vec<String> {
    vec!["api".into(), "audit".into()]
}

impl Default for EksConfig {
    fn default() -> Self {
        EksConfig {
            az_count: default_az_count(),
            nat_per_az: false,
            vpc_cidr: default_vpc_cidr(),
            vpc_id: None,
            public_subnet_ids: Vec::new(),
            private_subnet_ids: Vec::new(),
            vpc_of: None,
            access_entry: true,
            addons: default_addons(),
            log_types: default_log_types(),
            api_access: None,
        }
    }
}

/// The simulated provider. Every operation sleeps for its latency from the profile, times `scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// A latency profile (YAML: operation → duration). Empty: the built-in real-world profile.
    #[serde(default)]
    pub profile: Option<PathBuf>,
    /// Multiplies every latency: 0.001 runs a 15-minute cluster create in 0.9 s.
    #[serde(default = "default_scale")]
    pub scale: f64,
    /// Probability (0 to 1) that a mutating call answers with a transient (throttling) error,
    /// which is retried with backoff within the stage budget.
    #[serde(default)]
    pub error_rate: f64,
    /// The N-th mutating call of a run (1-based) fails.
    #[serde(default)]
    pub fail_at: Option<u64>,
    /// Operations (such as `cluster.create`) that always fail.
    #[serde(default)]
    pub fail: Vec<String>,
    /// Operations that never finish (a stuck cloud call), so the stage timeout must catch them.
    #[serde(default)]
    pub hang: Vec<String>,
    /// Environments the injected faults (`fail`, `fail_at`, `hang`, `error_rate`) apply to.
    /// Empty: every environment; a fleet test names one member (`demo-07`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults_in: Vec<String>,
    /// Seed for `error_rate`, so a run's transient errors can be replayed.
    #[serde(default)]
    pub seed: u64,
    /// Where the simulated cloud keeps its resources between runs. Empty:
    /// `<state.dir>/.sim-cloud/<env>.json`, outside the environment's own state directory.
    #[serde(default)]
    pub world: Option<PathBuf>,
}

fn default_scale() -> f64 {
    0.01
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            profile: None,
            scale: default_scale(),
            error_rate: 0.0,
            fail_at: None,
            fail: Vec::new(),
            hang: Vec::new(),
            faults_in: Vec::new(),
            seed: 0,
            world: None,
        }
    }
}

/// An existing cluster, reached the way kubectl reaches it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeconfigConfig {
    /// Kubeconfig file. Empty: `KUBECONFIG`, else `~/.kube/config`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Context to use. Empty: the file's current context. `--context` overrides it.
    #[serde(default)]
    pub context: Option<String>,
}

/// The database beside the cluster (`database:` in kat.yaml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `none`, `in-cluster` (a PostgreSQL StatefulSet) or `managed` (the cloud's PostgreSQL beside
    /// the cluster, on providers that have one; `rds` is accepted for it).
    #[serde(default)]
    pub mode: DatabaseMode,
    /// PostgreSQL major version of the managed database.
    #[serde(default = "default_pg")]
    pub engine_version: String,
    /// Managed database instance class.
    #[serde(default = "default_class")]
    pub instance_class: String,
    #[serde(default = "default_storage")]
    pub storage_gb: u32,
    /// Refuse to delete the managed database on `kat down`.
    #[serde(default)]
    pub deletion_protection: bool,
    /// Take a final snapshot when `kat down` deletes it (workshops: no).
    #[serde(default)]
    pub final_snapshot: bool,
}

fn default_pg() -> String {
    "16".into()
}
fn default_class() -> String {
    "db.t4g.micro".into()
}
fn default_storage() -> u32 {
    20
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            mode: DatabaseMode::default(),
            engine_version: default_pg(),
            instance_class: default_class(),
            storage_gb: default_storage(),
            deletion_protection: false,
            final_snapshot: false,
        }
    }
}

/// Tags every cloud resource carries, on top of kat's own.
pub type Tags = BTreeMap<String, String>;
