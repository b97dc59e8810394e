//! In which order a set is applied and deleted. Namespaces and CRDs come first (everything else may
//! live in them or be one of their kinds), cluster-wide RBAC next (workloads' service accounts
//! need their roles before they start), then the rest. Objects a webhook in the set intercepts wait
//! until that webhook's Service has ready endpoints, or the API server would reject them.

use serde_json::Value;

use super::inventory::ObjectRef;

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

pub fn is_webhook_config(r: &ObjectRef) -> bool {
    r.group() == "admissionregistration.k8s.io"
        && (r.kind == "ValidatingWebhookConfiguration" || r.kind == "MutatingWebhookConfiguration")
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

/// A webhook in the set: the Service it calls and the API groups/resources it intercepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub config: String,
    pub service_namespace: String,
    pub service_name: String,
    /// (apiGroups, resources) of each rule; `*` matches all.
    pub rules: Vec<(Vec<String>, Vec<String>)>,
}

/// The Service-backed webhooks of the webhook configurations in a set.
pub fn webhooks(objects: &[(ObjectRef, &Value)]) -> Vec<Webhook> {
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for (r, obj) in objects.iter().filter(|(r, _)| is_webhook_config(r)) {
        for hook in obj
            .get("webhooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(svc) = hook.pointer("/clientConfig/service") else {
                continue;
            };
            let rules = hook
                .get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|rule| {
                    (
                        strings(rule.get("apiGroups")),
                        strings(rule.get("resources")),
                    )
                })
                .collect();
            out.push(Webhook {
                config: r.to_string(),
                service_namespace: svc
                    .get("namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_string(),
                service_name: svc
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                rules,
            });
        }
    }
    out
}

impl Webhook {
    /// Whether creating `r` (of the plural `resource`) goes through this webhook. The webhook's own
    /// namespace is exempt: its backend lives there and must not wait for itself.
    pub fn intercepts(&self, r: &ObjectRef, resource: &str) -> bool {
        if r.namespace.as_deref() == Some(self.service_namespace.as_str()) || is_webhook_config(r) {
            return false;
        }
        let group = r.group();
        self.rules.iter().any(|(groups, resources)| {
            groups.iter().any(|g| g == "*" || g == group)
                && resources.iter().any(|x| x == "*" || x == resource)
        })
    }
}

/// The phase an object is applied in.
pub fn phase(r: &ObjectRef, plural: &str, hooks: &[Webhook]) -> Phase {
    if is_namespace(r) || is_crd(r) {
        Phase::Foundation
    } else if is_cluster_rbac(r) {
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
    fn webhook_intercepts_matching_kinds_outside_its_namespace() {
        let cfg = json!({"webhooks": [{"clientConfig": {"service": {"namespace": "cm", "name": "hook"}},
            "rules": [{"apiGroups": ["cert-manager.io"], "resources": ["*"]}]}]});
        let vwc = r(
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
            None,
        );
        let hooks = webhooks(&[(vwc, &cfg)]);
        assert_eq!(hooks.len(), 1);
        let cert = r("cert-manager.io/v1", "Certificate", Some("app"));
        assert_eq!(phase(&cert, "certificates", &hooks), Phase::AfterWebhooks);
        let own = r("cert-manager.io/v1", "Certificate", Some("cm"));
        assert_eq!(phase(&own, "certificates", &hooks), Phase::Main);
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
