//! Grafana at `/monitoring-grafana`: it serves from that sub-path itself (so the Ingress needs no
//! rewrite, and its probes use the prefixed path), with Prometheus provisioned as its data source
//! and kat's dashboards provisioned from a ConfigMap.

use serde_json::{json, Value};

use super::{dashboards, labels, selector, Inputs, ADMIN_SECRET, GRAFANA_PATH, NAMESPACE};
use crate::engine::digest;

const NAME: &str = "grafana";
const DASHBOARDS_DIR: &str = "/etc/grafana/dashboards";

pub fn render(i: &Inputs<'_>) -> Vec<Value> {
    let datasources = yaml(&json!({"apiVersion": 1, "datasources": [{
        "name": "Prometheus", "type": "prometheus", "uid": dashboards::DATASOURCE_UID, "access": "proxy",
        "url": format!("http://prometheus.{NAMESPACE}.svc:9090"), "isDefault": true, "editable": false}]}));
    let providers = yaml(&json!({"apiVersion": 1, "providers": [{
        "name": "kat", "folder": "kat", "type": "file", "disableDeletion": true, "allowUiUpdates": false,
        "updateIntervalSeconds": 30, "options": {"path": DASHBOARDS_DIR}}]}));
    let mut boards = serde_json::Map::new();
    boards.insert("cluster.json".into(), json!(dashboards::cluster()));
    if let Some(bp) = i.blueprint {
        boards.insert("blueprint.json".into(), json!(dashboards::blueprint(bp)));
    }
    // Grafana reads provisioning at start (dashboards it rescans); a change rolls the pod.
    let config_digest = digest(&json!([datasources, providers]));
    vec![
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
               "metadata": {"name": ADMIN_SECRET, "namespace": NAMESPACE, "labels": labels(NAME),
                            "annotations": {crate::kube::CREATE_ONLY: "true"}},
               "stringData": {"admin-user": "admin", "admin-password": i.admin_password}}),
        config_map(
            "grafana-datasources",
            json!({"datasources.yaml": datasources}),
        ),
        config_map(
            "grafana-dashboard-providers",
            json!({"kat.yaml": providers}),
        ),
        config_map("grafana-dashboards", Value::Object(boards)),
        deployment(i, &config_digest),
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels(NAME)},
               "spec": {"type": "ClusterIP", "selector": {"app.kubernetes.io/name": NAME},
                        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}),
    ]
}

fn yaml(v: &Value) -> String {
    serde_yaml_ng::to_string(v).expect("plain data serializes")
}

fn config_map(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels(NAME)}, "data": data})
}

fn env(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

fn from_secret(name: &str, key: &str) -> Value {
    json!({"name": name, "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": key}}})
}

fn deployment(i: &Inputs<'_>, config_digest: &str) -> Value {
    // With the sub-path served by Grafana itself, every route (the health check too) is under it.
    let health = format!("{GRAFANA_PATH}/api/health");
    let probe = |delay: u32| {
        json!({"httpGet": {"path": health, "port": "http"}, "initialDelaySeconds": delay,
               "periodSeconds": 10, "timeoutSeconds": 5})
    };
    let mut envs = vec![
        env(
            "GF_SERVER_ROOT_URL",
            &format!("%(protocol)s://%(domain)s{GRAFANA_PATH}/"),
        ),
        env("GF_SERVER_SERVE_FROM_SUB_PATH", "true"),
        from_secret("GF_SECURITY_ADMIN_USER", "admin-user"),
        from_secret("GF_SECURITY_ADMIN_PASSWORD", "admin-password"),
        env("GF_USERS_ALLOW_SIGN_UP", "false"),
        env("GF_AUTH_ANONYMOUS_ENABLED", "false"),
        // Offline workshop rooms: no calls home, no update checks.
        env("GF_ANALYTICS_REPORTING_ENABLED", "false"),
        env("GF_ANALYTICS_CHECK_FOR_UPDATES", "false"),
        env("GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES", "false"),
        // Nor plugin downloads at start (a release without this setting ignores it).
        env("GF_PLUGINS_PREINSTALL_DISABLED", "true"),
        // Logs to stdout only: the root filesystem is read-only.
        env("GF_LOG_MODE", "console"),
    ];
    if let Some(host) = &i.exposure.host {
        envs.push(env("GF_SERVER_DOMAIN", host));
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels(NAME)},
        "spec": {"replicas": 1, "selector": selector(NAME),
            "template": {
                "metadata": {"labels": labels(NAME), "annotations": {"kat.dev/config-digest": config_digest}},
                "spec": {
                    "automountServiceAccountToken": false,
                    // The image's own user (472); group 0 owns its directories.
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 472, "runAsGroup": 0, "fsGroup": 472,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": NAME, "image": i.release.grafana_image(),
                        "env": envs,
                        "ports": [{"name": "http", "containerPort": 3000, "protocol": "TCP"}],
                        "readinessProbe": probe(5),
                        "livenessProbe": probe(30),
                        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [
                            {"name": "data", "mountPath": "/var/lib/grafana"},
                            {"name": "tmp", "mountPath": "/tmp"},
                            {"name": "datasources", "mountPath": "/etc/grafana/provisioning/datasources", "readOnly": true},
                            {"name": "dashboard-providers", "mountPath": "/etc/grafana/provisioning/dashboards", "readOnly": true},
                            {"name": "dashboards", "mountPath": DASHBOARDS_DIR, "readOnly": true}]}],
                    "volumes": [
                        // Users, sessions and edits live here; dashboards and the data source are
                        // provisioned again at each start.
                        {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "100Mi"}},
                        {"name": "datasources", "configMap": {"name": "grafana-datasources"}},
                        {"name": "dashboard-providers", "configMap": {"name": "grafana-dashboard-providers"}},
                        {"name": "dashboards", "configMap": {"name": "grafana-dashboards"}}]}}}})
}
