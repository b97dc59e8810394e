//! kat's two Grafana dashboards, from the metrics this Prometheus has without extra exporters
//! (cAdvisor's per-container series carry `namespace`, `pod` and `container`; the root cgroup
//! `id="/"` is the whole node): the cluster, and the blueprint's namespaces.

use serde_json::{json, Value};

use super::BlueprintRef;

/// The provisioned Prometheus data source, referred to by every panel.
pub const DATASOURCE_UID: &str = "prometheus";

struct Panel<'a> {
    title: &'a str,
    expr: String,
    legend: &'a str,
    unit: &'a str,
}

fn panels(list: Vec<Panel<'_>>) -> Value {
    let panels: Vec<Value> = list
        .into_iter()
        .enumerate()
        .map(|(n, p)| {
            json!({"id": n + 1, "type": "timeseries", "title": p.title,
                   "gridPos": {"h": 8, "w": 12, "x": (n % 2) * 12, "y": (n / 2) * 8},
                   "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
                   "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
                   "targets": [{"refId": "A", "expr": p.expr, "legendFormat": p.legend,
                                "datasource": {"type": "prometheus", "uid": DATASOURCE_UID}}]})
        })
        .collect();
    Value::Array(panels)
}

fn dashboard(uid: &str, title: &str, panels: Value, variables: Value) -> String {
    let board = json!({"uid": uid, "title": title, "tags": ["kat"], "schemaVersion": 39,
        "editable": false, "refresh": "30s", "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": variables}, "panels": panels});
    serde_json::to_string_pretty(&board).expect("plain data serializes")
}

/// Nodes' CPU and memory, and CPU, memory and pods by namespace.
pub fn cluster() -> String {
    let containers = r#"container!="", pod!="""#;
    dashboard(
        "kat-cluster",
        "Cluster",
        panels(vec![
            Panel {
                title: "Node CPU",
                expr: r#"sum by (node) (rate(container_cpu_usage_seconds_total{id="/"}[5m]))"#
                    .into(),
                legend: "{{node}}",
                unit: "cores",
            },
            Panel {
                title: "Node memory (working set)",
                expr: r#"sum by (node) (container_memory_working_set_bytes{id="/"})"#.into(),
                legend: "{{node}}",
                unit: "bytes",
            },
            Panel {
                title: "CPU by namespace",
                expr: format!(
                    "sum by (namespace) (rate(container_cpu_usage_seconds_total{{{containers}}}[5m]))"
                ),
                legend: "{{namespace}}",
                unit: "cores",
            },
            Panel {
                title: "Memory by namespace",
                expr: format!(
                    "sum by (namespace) (container_memory_working_set_bytes{{{containers}}})"
                ),
                legend: "{{namespace}}",
                unit: "bytes",
            },
            Panel {
                title: "Pods by namespace",
                expr: format!(
                    "count by (namespace) (count by (namespace, pod) (container_memory_working_set_bytes{{{containers}}}))"
                ),
                legend: "{{namespace}}",
                unit: "short",
            },
            Panel {
                title: "API server requests",
                expr: "sum by (code) (rate(apiserver_request_total[5m]))".into(),
                legend: "{{code}}",
                unit: "reqps",
            },
        ]),
        json!([]),
    )
}

/// The blueprint's pods: CPU, memory, network and CPU throttling; a `namespace` variable lists the blueprint's namespaces (all by default).
pub fn blueprint(bp: &BlueprintRef) -> String {
    let all = bp.namespaces.join("|");
    let variable = json!([{"name": "namespace", "label": "Namespace", "type": "custom",
        "query": bp.namespaces.join(","), "multi": true, "includeAll": true, "allValue": all,
        "current": {"text": "All", "value": "$__all"}}]);
    let sel = r#"namespace=~"$namespace", container!="", pod!="""#;
    dashboard(
        "kat-blueprint",
        &format!("Blueprint: {}", bp.name),
        panels(vec![
            Panel {
                title: "CPU by pod",
                expr: format!(
                    "sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{{{sel}}}[5m]))"
                ),
                legend: "{{namespace}}/{{pod}}",
                unit: "cores",
            },
            Panel {
                title: "Memory by pod (working set)",
                expr: format!(
                    "sum by (namespace, pod) (container_memory_working_set_bytes{{{sel}}})"
                ),
                legend: "{{namespace}}/{{pod}}",
                unit: "bytes",
            },
            Panel {
                title: "Network received by pod",
                expr: r#"sum by (namespace, pod) (rate(container_network_receive_bytes_total{namespace=~"$namespace"}[5m]))"#.into(),
                legend: "{{namespace}}/{{pod}}",
                unit: "Bps",
            },
            Panel {
                title: "Network sent by pod",
                expr: r#"sum by (namespace, pod) (rate(container_network_transmit_bytes_total{namespace=~"$namespace"}[5m]))"#.into(),
                legend: "{{namespace}}/{{pod}}",
                unit: "Bps",
            },
            Panel {
                title: "Running pods",
                expr: format!(
                    "count by (namespace) (count by (namespace, pod) (container_memory_working_set_bytes{{{sel}}}))"
                ),
                legend: "{{namespace}}",
                unit: "short",
            },
            Panel {
                title: "CPU throttled",
                expr: format!(
                    "sum by (namespace, pod) (rate(container_cpu_cfs_throttled_seconds_total{{{sel}}}[5m]))"
                ),
                legend: "{{namespace}}/{{pod}}",
                unit: "s",
            },
        ]),
        variable,
    )
}
