//! The order objects go in: namespaces and CRDs first (then the CRDs must be Established), then
//! cluster-scoped RBAC and other cluster-scoped objects, then namespaced objects, and custom
//! resources last (their webhooks and controllers are among the objects before them).

use super::object::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Foundations,
    ClusterScoped,
    Namespaced,
    CustomResources,
}

/// Groups whose kinds ship with Kubernetes; any other group is a custom resource.
const BUILT_IN: &[&str] = &[
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "apiextensions.k8s.io",
    "admissionregistration.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "node.k8s.io",
    "certificates.k8s.io",
    "apiregistration.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "events.k8s.io",
];

pub fn phase(t: &Target) -> Phase {
    let kind = t.reference.kind.as_str();
    let group = t.reference.group();
    if kind == "Namespace" || kind == "CustomResourceDefinition" {
        Phase::Foundations
    } else if !BUILT_IN.contains(&group.as_str()) {
        Phase::CustomResources
    } else if !t.resolved.namespaced {
        Phase::ClusterScoped
    } else {
        Phase::Namespaced
    }
}

/// Teardown order: what holds cloud resources first, then the reverse of apply order, namespaces
/// (which delete whatever they still contain) last.
pub fn delete_rank(kind: &str, is_load_balancer: bool) -> u8 {
    match kind {
        _ if is_load_balancer => 0,
        "PersistentVolumeClaim" | "Ingress" => 0,
        "Namespace" => 5,
        "CustomResourceDefinition" => 4,
        "ClusterRole" | "ClusterRoleBinding" | "StorageClass" | "PriorityClass" => 3,
        "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration" => 1,
        _ => 2,
    }
}
