//! What a provider can do, asked by stages instead of asking which provider it is.

use serde::Serialize;

/// A managed database service the provider can create beside the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManagedDatabase {
    /// Amazon RDS for PostgreSQL.
    Rds,
    /// Azure Database for PostgreSQL flexible server.
    AzurePostgresFlexible,
    /// A simulated managed PostgreSQL (the `sim` provider).
    Simulated,
}

/// How the cluster grows and shrinks its nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AutoscalerKind {
    /// The Kubernetes cluster autoscaler runs in the cluster (EKS).
    ClusterAutoscaler,
    /// The node pool scales itself; the provider's node stage configures it (AKS).
    NodePoolBuiltin,
    /// The cluster has a fixed set of nodes (microk8s, an existing cluster).
    NotApplicable,
}

/// What a Service of type LoadBalancer becomes, which decides how ingress is exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadBalancerKind {
    /// An AWS Network Load Balancer, chosen by Service annotations.
    AwsNlb,
    /// The Azure standard load balancer.
    AzureLoadBalancer,
    /// No cloud load balancer: host ports or NodePort on the node(s).
    HostPorts,
    /// Whatever the existing cluster provides for type LoadBalancer.
    ClusterDefault,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// The provider creates the cluster (and so must delete it) rather than use one that exists.
    pub creates_cluster: bool,
    pub managed_database: Option<ManagedDatabase>,
    pub autoscaler: AutoscalerKind,
    pub load_balancer: LoadBalancerKind,
    /// The provider can create a container registry.
    pub registry: bool,
    /// kat can push into that registry by itself: it needs no authentication (microk8s's) or the
    /// provider answers `Provider::registry_credentials` for it. Decides whether the blueprint's
    /// images are mirrored into it by default (`registry.mirror`).
    pub registry_push: bool,
    /// All workloads share one node (decides NodePort versus ingress exposure).
    pub single_node: bool,
    /// Nothing real is created (the `sim` provider): addon manifests need not be fetched.
    pub simulated: bool,
}

impl Capabilities {
    /// Ingress is reached on fixed NodePorts of the node, not a load balancer: nothing would give
    /// a LoadBalancer Service an address (a local or single-node cluster).
    pub fn node_ports(&self) -> bool {
        self.load_balancer == LoadBalancerKind::HostPorts || self.single_node
    }
}
