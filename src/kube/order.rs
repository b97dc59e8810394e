//! In which order a set is applied and deleted. Namespaces and CRDs come first (everything else may
//! live in them or be one of their kinds), cluster-wide RBAC next (workloads' service accounts
//! need their roles before they start), then the rest. Objects a webhook in the set intercepts wait
//! until that webhook's Service has ready endpoints, or the API server would reject them.

use serde_json::Value;

use super::inventory::ObjectRef;
use super::webhooks::{is_webhook_config, Webhook};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Foundation,
    ClusterRbac,
    Main,
    AfterWebhooks,
}

pub fn is_crd(r: &ObjectRef) -> bool {
    r.kind == "CustomResourceDefinition" && r.group() == "apiextensions.k8s.io"
}

pub fn is_namespace(r: &ObjectRef) -> bool {
    r.kind == "Namespace" && r.group().is_empty()
}

fn is_cluster_rbac(r: &ObjectRef) -> bool {
    r.group() == "rbac.authorization.k8s.io"
        && (r.kind == "ClusterRole" || r.kind == "ClusterRoleBinding")
}

/// Objects that must exist before the namespace's other objects: a ServiceAccount before the token
/// Secret that names it (the token controller deletes a token Secret whose account it cannot
/// find), a ResourceQuota's LimitRange before pods (a quota on limits rejects pods without them).
fn is_namespace_guard(r: &ObjectRef) -> bool {
    r.group().is_empty() && matches!(r.kind.as_str(), "ServiceAccount" | "LimitRange")
}

/// Deleted first, and waited for: they hold cloud resources (load balancers, disks) that would
/// outlive the cluster if it went first.
pub fn holds_cloud_resource(r: &ObjectRef, object: Option<&Value>) -> bool {
    if r.group().is_empty() && r.kind == "PersistentVolumeClaim" {
        return true;
    }
    r.group().is_empty()
        && r.kind == "Service"
        && object
            .is_none_or(|o| o.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer"))
}

/// The phase an object is applied in.
pub fn phase(r: &ObjectRef, plural: &str, hooks: &[Webhook]) -> Phase {
    if is_namespace(r) || is_crd(r) {
        Phase::Foundation
    } else if is_cluster_rbac(r) || is_namespace_guard(r) {
        Phase::ClusterRbac
    } else if hooks.iter().any(|h| h.intercepts(r, plural)) {
        Phase::AfterWebhooks
    } else {
        Phase::Main
    }
}

/// The order of deletion, lowest first: cloud-backed objects, webhooks (so that deleting the rest
/// is not sent to a backend on its way out), the rest, cluster RBAC, CRDs, namespaces.
pub fn delete_rank(r: &ObjectRef, object: Option<&Value>) -> u8 {
    if holds_cloud_resource(r, object) {
        0
    } else if is_webhook_config(r) {
        1
    } else if is_cluster_rbac(r) {
        3
    } else if is_crd(r) {
        4
    } else if is_namespace(r) {
        5
    } else {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::webhooks::webhooks;
    use serde_json::json;

    fn r(api_version: &str, kind: &str, ns: Option<&str>) -> ObjectRef {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: ns.map(str::to_string),
            name: "x".into(),
        }
    }

    #[test]
    fn phases() {
        assert_eq!(
            phase(&r("v1", "Namespace", None), "namespaces", &[]),
            Phase::Foundation
        );
        let crd = r("apiextensions.k8s.io/v1", "CustomResourceDefinition", None);
        assert_eq!(
            phase(&crd, "customresourcedefinitions", &[]),
            Phase::Foundation
        );
        let cr = r("rbac.authorization.k8s.io/v1", "ClusterRole", None);
        assert_eq!(phase(&cr, "clusterroles", &[]), Phase::ClusterRbac);
        assert_eq!(
            phase(&r("apps/v1", "Deployment", Some("a")), "deployments", &[]),
            Phase::Main
        );
    }

    #[test]
    fn intercepted_objects_come_after_the_webhooks() {
        let cfg = json!({"webhooks": [{"clientConfig": {"service": {"namespace": "cm", "name": "hook"}},
            "rules": [{"apiGroups": ["cert-manager.io"], "resources": ["*/*"]}]}]});
        let vwc = r(
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
            None,
        );
        let hooks = webhooks(&[(vwc, &cfg)]);
        let cert = r("cert-manager.io/v1", "Certificate", Some("app"));
        assert_eq!(phase(&cert, "certificates", &hooks), Phase::AfterWebhooks);
        assert_eq!(
            phase(&r("v1", "ConfigMap", Some("app")), "configmaps", &hooks),
            Phase::Main
        );
    }

    #[test]
    fn delete_order() {
        let lb = json!({"spec": {"type": "LoadBalancer"}});
        let cip = json!({"spec": {"type": "ClusterIP"}});
        assert_eq!(delete_rank(&r("v1", "Service", Some("a")), Some(&lb)), 0);
        assert_eq!(delete_rank(&r("v1", "Service", Some("a")), Some(&cip)), 2);
        assert_eq!(delete_rank(&r("v1", "Namespace", None), None), 5);
    }
}
