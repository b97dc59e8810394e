//! The cluster autoscaler, rendered by kat: upstream publishes only an example manifest with
//! placeholders. Node groups are discovered by their tags, the service account assumes the IRSA role
//! the cluster stage made (it needs the cluster's OIDC provider), and the image's minor version matches the cluster's (the autoscaler
//! supports exactly one Kubernetes minor).

use kat_provider::contract::AUTOSCALER_IDENTITY;
use kat_provider::OpContext;
use serde_json::{json, Value};

use super::error::AddonError;

/// The IRSA role the provider's cluster stage made for the autoscaler, if it made one (eks).
pub fn role_from(cx: &OpContext) -> Option<String> {
    cx.read(&AUTOSCALER_IDENTITY)
        .ok()
        .filter(|arn| !arn.is_empty())
}

/// Cluster minor version → the autoscaler release kat pins for it.
pub const RELEASES: &[(&str, &str)] = &[
    ("1.33", "1.33.0"),
    ("1.32", "1.32.1"),
    ("1.31", "1.31.1"),
    ("1.30", "1.30.3"),
    ("1.29", "1.29.5"),
    ("1.28", "1.28.7"),
];

pub fn release_for(kubernetes: &str) -> Result<&'static str, AddonError> {
    let minor: String = kubernetes
        .trim_start_matches('v')
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".");
    RELEASES
        .iter()
        .find(|(m, _)| *m == minor)
        .map(|(_, r)| *r)
        .ok_or_else(|| AddonError::UnknownVersion {
            addon: "cluster-autoscaler".into(),
            version: format!("for Kubernetes {kubernetes}"),
            known: RELEASES
                .iter()
                .map(|(m, r)| format!("{r} (Kubernetes {m})"))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

pub struct AutoscalerInputs<'a> {
    pub cluster: &'a str,
    pub region: &'a str,
    pub release: &'a str,
    /// IRSA role the service account assumes.
    pub role_arn: Option<&'a str>,
}

/// The image of an autoscaler release.
pub fn image(release: &str) -> String {
    format!("registry.k8s.io/autoscaling/cluster-autoscaler:v{release}")
}

pub fn render(i: &AutoscalerInputs<'_>) -> Vec<Value> {
    let ns = "kube-system";
    let name = "cluster-autoscaler";
    let labels = json!({"app.kubernetes.io/name": name});
    let mut sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns, "labels": labels}});
    if let Some(arn) = i.role_arn {
        sa["metadata"]["annotations"] = json!({"eks.amazonaws.com/role-arn": arn});
    }
    vec![
        sa,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
        "rules": [
            {"apiGroups": [""], "resources": ["events", "endpoints"], "verbs": ["create", "patch"]},
            {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["update"]},
            {"apiGroups": [""], "resources": ["endpoints"], "resourceNames": [name], "verbs": ["get", "update"]},
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["watch", "list", "get", "update"]},
            {"apiGroups": [""], "resources": ["namespaces", "pods", "services", "replicationcontrollers", "persistentvolumeclaims", "persistentvolumes"], "verbs": ["watch", "list", "get"]},
            {"apiGroups": ["extensions"], "resources": ["replicasets", "daemonsets"], "verbs": ["watch", "list", "get"]},
            {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["watch", "list"]},
            {"apiGroups": ["apps"], "resources": ["statefulsets", "replicasets", "daemonsets"], "verbs": ["watch", "list", "get"]},
            {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses", "csinodes", "csidrivers", "csistoragecapacities"], "verbs": ["watch", "list", "get"]},
            {"apiGroups": ["batch", "extensions"], "resources": ["jobs"], "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {"apiGroups": ["coordination.k8s.io"], "resourceNames": [name], "resources": ["leases"], "verbs": ["get", "update"]}
        ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name, "namespace": ns},
        "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "list", "watch"]},
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cluster-autoscaler-status", "cluster-autoscaler-priority-expander"], "verbs": ["delete", "get", "update", "watch"]}
        ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels, "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}},
                    "spec": {"serviceAccountName": name, "priorityClassName": "system-cluster-critical",
                        "securityContext": {"runAsNonRoot": true, "runAsUser": 65534, "fsGroup": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [{"name": name,
                            "image": image(i.release),
                            "command": ["./cluster-autoscaler", "--v=4", "--stderrthreshold=info", "--cloud-provider=aws",
                                "--skip-nodes-with-local-storage=false", "--expander=least-waste", "--balance-similar-node-groups",
                                "--skip-nodes-with-system-pods=false",
                                format!("--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/{}", i.cluster)],
                            "env": [{"name": "AWS_REGION", "value": i.region}],
                            "resources": {"requests": {"cpu": "100m", "memory": "600Mi"}, "limits": {"cpu": "100m", "memory": "600Mi"}},
                            "livenessProbe": {"httpGet": {"path": "/health-check", "port": 8085}, "periodSeconds": 10},
                            "readinessProbe": {"httpGet": {"path": "/health-check", "port": 8085}, "periodSeconds": 10},
                            "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}}]}}}}),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_is_the_one_the_cluster_stage_recorded() {
        let mut cx = OpContext::detached("e", "cluster-autoscaler");
        assert_eq!(role_from(&cx), None);
        let mut cluster = kat_provider::Outputs::new();
        cluster.put(&AUTOSCALER_IDENTITY, "");
        let mut upstream = std::collections::BTreeMap::new();
        upstream.insert("cluster".to_string(), cluster.clone());
        cx.upstream = std::sync::Arc::new(upstream.clone());
        assert_eq!(role_from(&cx), None, "an empty ARN is no role");
        cluster.set(
            "autoscaler_role_arn",
            "arn:aws:iam::1:role/kat-e-autoscaler",
        );
        upstream.insert("cluster".to_string(), cluster);
        cx.upstream = std::sync::Arc::new(upstream);
        assert_eq!(
            role_from(&cx).as_deref(),
            Some("arn:aws:iam::1:role/kat-e-autoscaler")
        );
    }

    #[test]
    fn the_image_follows_the_cluster_minor_and_discovery_names_the_cluster() {
        assert_eq!(release_for("1.30").unwrap(), "1.30.3");
        assert_eq!(release_for("v1.31.4").unwrap(), "1.31.1");
        let err = release_for("1.19").unwrap_err().to_string();
        assert!(
            err.contains("for Kubernetes 1.19") && err.contains("1.33.0 (Kubernetes 1.33)"),
            "{err}"
        );
        let objs = render(&AutoscalerInputs {
            cluster: "kat-ws1",
            region: "eu-west-1",
            release: "1.30.3",
            role_arn: Some("arn:aws:iam::1:role/ca"),
        });
        let deploy = objs.iter().find(|o| o["kind"] == "Deployment").unwrap();
        let c = &deploy["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            c["image"],
            "registry.k8s.io/autoscaling/cluster-autoscaler:v1.30.3"
        );
        assert!(c["command"].as_array().unwrap().iter().any(|a| a
            .as_str()
            .unwrap()
            .ends_with("k8s.io/cluster-autoscaler/kat-ws1")));
        assert_eq!(
            objs[0]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
            "arn:aws:iam::1:role/ca"
        );
    }
}
