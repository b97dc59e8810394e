//! The objects that make a namespace an attendee's: the namespace itself, a ServiceAccount with a
//! Role limited to it and a token, a ResourceQuota and LimitRange, and NetworkPolicies that keep
//! other attendees out.

use serde_json::{json, Value};

use super::quota::{Quota, DEFAULT_CPU_MILLIS, DEFAULT_MEMORY_BYTES};

/// The attendee's ServiceAccount, Role and RoleBinding.
pub const ACCOUNT: &str = "attendee";
/// The Secret the token controller fills with the account's token.
pub const TOKEN_SECRET: &str = "attendee-token";
/// On the namespace: which attendee it belongs to.
pub const ATTENDEE_LABEL: &str = "kat.dev/attendee";

/// Namespaces whose pods may reach every attendee's pods: ingress controllers (kat's
/// ingress-nginx, microk8s's `ingress`) and the monitoring addon's Prometheus.
pub const TRUSTED_NAMESPACES: &[&str] = &["ingress-nginx", "ingress", "monitoring"];

pub fn objects(namespace: &str, member: &str, quota: &Quota) -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace,
            // Set by Kubernetes itself only from 1.21; NetworkPolicies select on it.
            "labels": {"kubernetes.io/metadata.name": namespace, ATTENDEE_LABEL: member}}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": ACCOUNT, "namespace": namespace}}),
        // A long-lived token Secret rather than the TokenRequest API: a requested token expires
        // (an hour by default, the API server's --service-account-max-token-expiration at most),
        // and the handout must work for the whole workshop day without kat running. The token
        // lasts until `down` deletes the Secret with the namespace.
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": TOKEN_SECRET, "namespace": namespace,
                "annotations": {"kubernetes.io/service-account.name": ACCOUNT}}}),
        role(namespace),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": ACCOUNT, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": namespace}]}),
        json!({"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": ACCOUNT, "namespace": namespace},
            "spec": {"hard": {
                "requests.cpu": quota.cpu, "limits.cpu": quota.cpu,
                "requests.memory": quota.memory, "limits.memory": quota.memory,
                "pods": quota.pods.to_string(),
                "requests.storage": quota.storage,
                "services.loadbalancers": "0", "services.nodeports": "0"}}}),
        json!({"apiVersion": "v1", "kind": "LimitRange",
            "metadata": {"name": ACCOUNT, "namespace": namespace},
            "spec": {"limits": [{"type": "Container",
                "default": {"cpu": format!("{DEFAULT_CPU_MILLIS}m"),
                    "memory": format!("{}Mi", DEFAULT_MEMORY_BYTES >> 20)},
                "defaultRequest": {"cpu": "100m", "memory": "128Mi"}}]}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "attendee-isolation", "namespace": namespace},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                "ingress": [{"from": admitted()}]}}),
    ]
}

/// What an attendee may do in their namespace: run and change the app's kinds and read the rest,
/// but not the quota, the limits, the network policies or RBAC (the `admin` and `edit`
/// ClusterRoles would let them delete the NetworkPolicies that isolate them).
fn role(namespace: &str) -> Value {
    let all = json!([
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection"
    ]);
    let read = json!(["get", "list", "watch"]);
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
    "metadata": {"name": ACCOUNT, "namespace": namespace},
    "rules": [
        {"apiGroups": [""], "resources": ["pods", "pods/log", "pods/exec", "pods/portforward",
            "pods/attach", "services", "endpoints", "configmaps", "secrets",
            "persistentvolumeclaims"], "verbs": all},
        {"apiGroups": [""], "resources": ["events", "serviceaccounts", "resourcequotas",
            "limitranges", "namespaces"], "verbs": read},
        {"apiGroups": ["apps", "batch", "autoscaling"], "resources": ["*"], "verbs": all},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": all},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": read},
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": all},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": read},
    ]})
}

/// The sources every attendee pod admits: its own namespace, and the trusted ones (by their
/// name label, and ingress-nginx's namespace also by the label its manifest gives it, which
/// clusters before 1.21 do not name it by).
fn admitted() -> Value {
    json!([
        {"podSelector": {}},
        {"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name",
            "operator": "In", "values": TRUSTED_NAMESPACES}]}},
        {"namespaceSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}},
    ])
}

/// A blueprint's policy rule without `from` admits every source, other attendees included
/// (NetworkPolicies add up, so the isolation policy alone cannot stop it): in an attendee
/// namespace such a rule admits the same sources as the isolation policy instead.
pub fn confine_policy(object: &mut Value) {
    if object["kind"] != "NetworkPolicy" {
        return;
    }
    let Some(rules) = object
        .pointer_mut("/spec/ingress")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for rule in rules {
        let open = match rule.get("from") {
            None => true,
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        };
        if open {
            rule["from"] = admitted();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_open_to_all_is_confined_and_a_narrow_one_kept() {
        let mut p = json!({"kind": "NetworkPolicy", "spec": {"ingress": [
            {"ports": [{"port": 80}]},
            {"from": [{"podSelector": {"matchLabels": {"a": "b"}}}]}]}});
        confine_policy(&mut p);
        assert_eq!(p["spec"]["ingress"][0]["from"], admitted());
        assert_eq!(p["spec"]["ingress"][0]["ports"][0]["port"], 80);
        assert_eq!(
            p["spec"]["ingress"][1]["from"][0]["podSelector"]["matchLabels"]["a"],
            "b"
        );
    }

    #[test]
    fn the_role_cannot_touch_what_isolates_the_namespace() {
        let r = role("ws-01");
        for rule in r["rules"].as_array().unwrap() {
            let res: Vec<&str> = rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let writes = rule["verbs"].as_array().unwrap().contains(&json!("delete"));
            for guarded in ["networkpolicies", "resourcequotas", "limitranges", "roles"] {
                assert!(!(writes && res.contains(&guarded)), "{guarded} is writable");
            }
        }
    }
}
