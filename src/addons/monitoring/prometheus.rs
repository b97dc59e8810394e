//! Prometheus: discovers its targets through the Kubernetes API (`kubernetes_sd_configs`) and
//! scrapes the API server, every node's kubelet and cAdvisor (through the API server's node proxy,
//! so no kubelet port has to be reachable from the pod network), and pods that opt in with the
//! `prometheus.io/scrape` annotations.

use serde_json::{json, Value};

use super::{labels, selector, Release, NAMESPACE};
use crate::engine::digest;

const NAME: &str = "prometheus";
const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

pub fn render(release: &Release) -> Vec<Value> {
    let config = serde_yaml_ng::to_string(&scrape_config()).expect("plain data serializes");
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels(NAME)}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "kat-monitoring-prometheus", "labels": labels(NAME)},
        "rules": [
            {"apiGroups": [""], "resources": ["nodes", "nodes/proxy", "nodes/metrics", "services", "endpoints", "pods"],
             "verbs": ["get", "list", "watch"]},
            {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}
        ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "kat-monitoring-prometheus", "labels": labels(NAME)},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kat-monitoring-prometheus"},
               "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "prometheus-config", "namespace": NAMESPACE, "labels": labels(NAME)},
               "data": {"prometheus.yml": config}}),
        deployment(release, &config),
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels(NAME)},
               "spec": {"type": "ClusterIP", "selector": {"app.kubernetes.io/name": NAME},
                        "ports": [{"name": "http", "port": 9090, "targetPort": "http", "protocol": "TCP"}]}}),
    ]
}

fn deployment(release: &Release, config: &str) -> Value {
    let probe = |path: &str, delay: u32| {
        json!({"httpGet": {"path": path, "port": "http"}, "initialDelaySeconds": delay,
               "periodSeconds": 10, "timeoutSeconds": 5})
    };
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels(NAME)},
        "spec": {"replicas": 1, "selector": selector(NAME),
            "template": {
                // Prometheus reads its configuration at start; a changed one rolls the pod.
                "metadata": {"labels": labels(NAME), "annotations": {"kat.dev/config-digest": digest(&json!(config))}},
                "spec": {"serviceAccountName": NAME,
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": NAME, "image": release.prometheus_image(),
                        "args": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
                                 // Below the emptyDir's limit, so Prometheus trims before the kubelet evicts.
                                 "--storage.tsdb.retention.time=24h", "--storage.tsdb.retention.size=4GB"],
                        "ports": [{"name": "http", "containerPort": 9090, "protocol": "TCP"}],
                        "readinessProbe": probe("/-/ready", 5),
                        "livenessProbe": probe("/-/healthy", 30),
                        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/prometheus", "readOnly": true},
                                         {"name": "data", "mountPath": "/prometheus"}]}],
                    "volumes": [{"name": "config", "configMap": {"name": "prometheus-config"}},
                                {"name": "data", "emptyDir": {"sizeLimit": "5Gi"}}]}}}})
}

/// TLS and bearer token of the pod's service account, to talk to the API server.
fn api_auth(mut job: Value) -> Value {
    job["scheme"] = json!("https");
    job["authorization"] = json!({"credentials_file": format!("{SA_DIR}/token")});
    job["tls_config"] = json!({"ca_file": format!("{SA_DIR}/ca.crt")});
    job
}

/// A per-node job scraped through `/api/v1/nodes/<node>/proxy<path>`.
fn node_job(name: &str, path: &str) -> Value {
    api_auth(
        json!({"job_name": name, "kubernetes_sd_configs": [{"role": "node"}],
        "relabel_configs": [
            {"action": "labelmap", "regex": "__meta_kubernetes_node_label_(.+)"},
            {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "node"},
            {"target_label": "__address__", "replacement": "kubernetes.default.svc:443"},
            {"source_labels": ["__meta_kubernetes_node_name"], "regex": "(.+)", "target_label": "__metrics_path__",
             "replacement": format!("/api/v1/nodes/$1/proxy{path}")}
        ]}),
    )
}

pub fn scrape_config() -> Value {
    json!({
        "global": {"scrape_interval": "30s", "evaluation_interval": "30s"},
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]},
            api_auth(json!({"job_name": "kubernetes-apiservers",
                "kubernetes_sd_configs": [{"role": "endpoints", "namespaces": {"names": ["default"]}}],
                "relabel_configs": [{"source_labels": ["__meta_kubernetes_service_name", "__meta_kubernetes_endpoint_port_name"],
                                     "action": "keep", "regex": "kubernetes;https"}]})),
            node_job("kubernetes-nodes", "/metrics"),
            node_job("kubernetes-cadvisor", "/metrics/cadvisor"),
            {"job_name": "kubernetes-pods", "kubernetes_sd_configs": [{"role": "pod"}],
             "relabel_configs": [
                {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"], "action": "keep", "regex": "true"},
                {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scheme"], "regex": "(https?)", "target_label": "__scheme__"},
                {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"], "regex": "(.+)", "target_label": "__metrics_path__"},
                {"source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
                 "regex": "([^:]+)(?::\\d+)?;(\\d+)", "replacement": "$1:$2", "target_label": "__address__"},
                {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Pending|Succeeded|Failed", "action": "drop"},
                {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
                {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"}
             ]}
        ]
    })
}
