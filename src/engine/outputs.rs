//! The environment's outputs as typed data for scripts (`kat status -o json|yaml`, `kat output
//! NAME`, the `summary` event), derived from the values the stages recorded, which come from what
//! the cloud or the cluster answered. The labelled prose (`Outputs::shown`) stays what a person
//! reads at the end of `up`.

use kat_provider::contract::{
    OutputKey, CLUSTER_ENDPOINT, CLUSTER_VERSION, DATABASE_HOST, DATABASE_NAME, DATABASE_PORT,
    DATABASE_SECRET, DATABASE_USER, KUBECONFIG_CONTEXT, KUBECONFIG_PATH, KUBECONFIG_SERVER,
    KUBECONFIG_VERSION, REGISTRY_URL,
};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

use kat_provider::{Outputs, SecretRef};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct EnvOutputs {
    /// The kubeconfig kat wrote or uses, and its context.
    pub kubeconfig: Option<KubeconfigOutput>,
    /// The Kubernetes API server.
    pub cluster: Option<ClusterOutput>,
    /// The registry the blueprint's images go to.
    pub registry: Option<RegistryOutput>,
    /// The managed database beside the cluster (none for an in-cluster one).
    pub database: Option<DatabaseOutput>,
    /// Where the environment answers: the ingress controller, web UIs, LoadBalancer Services.
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct KubeconfigOutput {
    /// Absolute path of the kubeconfig file.
    pub path: String,
    pub context: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ClusterOutput {
    /// The API server's URL.
    pub endpoint: String,
    /// The Kubernetes version, when the provider reported it.
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RegistryOutput {
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DatabaseOutput {
    pub host: String,
    pub port: u16,
    /// The database name.
    pub name: Option<String>,
    pub user: Option<String>,
    /// Where the password is kept (never the password itself).
    pub secret: Option<SecretRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Endpoint {
    /// `ingress`, `monitoring`, `dashboard`, or `service/<namespace>/<name>`.
    pub name: String,
    /// The stage that made it.
    pub stage: String,
    /// A URL, when the endpoint is a web address.
    pub url: Option<String>,
    /// The load balancer's address(es), when that is what the cluster reports.
    pub addresses: Vec<String>,
}

/// The prefix of the labels under which LoadBalancer Services' addresses are shown.
const SERVICE_LABEL: &str = "Service ";

impl EnvOutputs {
    /// From each stage's recorded outputs (stage id → outputs).
    pub fn from_stages(stages: &BTreeMap<String, Outputs>) -> Self {
        let mut out = EnvOutputs::default();
        // A contract output of the role's stage, when that stage recorded one.
        fn read<T: DeserializeOwned>(
            stages: &BTreeMap<String, Outputs>,
            key: &OutputKey<T>,
        ) -> Option<T> {
            stages.get(key.role.as_str()).and_then(|o| o.read(key))
        }
        let text = |key: &OutputKey<String>| read(stages, key).filter(|s| !s.is_empty());
        if let Some(path) = text(&KUBECONFIG_PATH) {
            // Absolute, so a script that changes directory can still use it.
            let path = std::path::absolute(&path)
                .map(|p| p.display().to_string())
                .unwrap_or(path);
            out.kubeconfig = Some(KubeconfigOutput {
                path,
                context: text(&KUBECONFIG_CONTEXT),
            });
        }
        // A cluster kat made records its endpoint at `cluster`; an existing cluster's is what
        // the kubeconfig stage connected to.
        let endpoint = text(&CLUSTER_ENDPOINT).or_else(|| text(&KUBECONFIG_SERVER));
        if let Some(endpoint) = endpoint {
            out.cluster = Some(ClusterOutput {
                endpoint,
                version: text(&CLUSTER_VERSION).or_else(|| text(&KUBECONFIG_VERSION)),
            });
        }
        if let Some(url) = text(&REGISTRY_URL) {
            out.registry = Some(RegistryOutput { url });
        }
        if let (Some(host), Some(port)) = (text(&DATABASE_HOST), read(stages, &DATABASE_PORT)) {
            out.database = Some(DatabaseOutput {
                host,
                port,
                name: text(&DATABASE_NAME),
                user: text(&DATABASE_USER),
                secret: read(stages, &DATABASE_SECRET),
            });
        }
        for (stage, outputs) in stages {
            out.endpoints.extend(endpoints_of(stage, outputs));
        }
        out
    }

    /// As a JSON value, for `kat output` and `kat status`.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("outputs are plain data")
    }
}

fn endpoints_of(stage: &str, outputs: &Outputs) -> Vec<Endpoint> {
    let mut found = Vec::new();
    // The ingress controller's load balancer, where the provider reports it as a value.
    if let Some(address) = outputs.get::<String>("address").filter(|a| !a.is_empty()) {
        if stage == "ingress-nginx" {
            found.push(Endpoint {
                name: "ingress".into(),
                stage: stage.into(),
                url: Some(format!("http://{address}")),
                addresses: vec![address],
            });
        }
    }
    // Web UIs of addons (`monitoring_url`, `dashboard_url`), set even while not known yet.
    for (key, value) in &outputs.values {
        let Some(name) = key.strip_suffix("_url") else {
            continue;
        };
        if let Some(url) = value.as_str().filter(|u| !u.is_empty()) {
            found.push(Endpoint {
                name: name.into(),
                stage: stage.into(),
                url: Some(url.into()),
                addresses: Vec::new(),
            });
        }
    }
    // LoadBalancer Services: the addresses the cluster reported in their status.
    for (label, text) in &outputs.shown {
        let Some(service) = label.strip_prefix(SERVICE_LABEL) else {
            continue;
        };
        found.push(Endpoint {
            name: format!("service/{service}"),
            stage: stage.into(),
            url: None,
            addresses: text.split(", ").map(str::to_string).collect(),
        });
    }
    found
}

/// Every leaf of `value` as `dotted.name` → value; list entries that carry a `name` are reached
/// by it (`endpoints.ingress.url`), others by index.
pub fn leaves(value: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}

fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                walk(&join(k), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let key = v
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| i.to_string());
                walk(&join(&key), v, out);
            }
        }
        Value::Null => {}
        leaf => {
            out.insert(prefix.to_string(), leaf.clone());
        }
    }
}

/// The value at `name`: a leaf, or a whole section (`kubeconfig`, `endpoints.ingress`).
pub fn lookup(value: &Value, name: &str) -> Option<Value> {
    let mut at = value;
    for part in name.split('.') {
        at = match at {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items
                .iter()
                .find(|v| v.get("name").and_then(Value::as_str) == Some(part))
                .or_else(|| part.parse::<usize>().ok().and_then(|i| items.get(i)))?,
            _ => return None,
        };
    }
    (!at.is_null()).then(|| at.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stage(values: Value, shown: &[(&str, &str)]) -> Outputs {
        let mut o = Outputs::new();
        for (k, v) in values.as_object().unwrap() {
            o.set(k, v);
        }
        for (k, v) in shown {
            o.show(*k, *v);
        }
        o
    }

    #[test]
    fn outputs_are_typed_from_recorded_values() {
        let stages = BTreeMap::from([
            (
                "kubeconfig".to_string(),
                stage(json!({"kubeconfig": "/k/config", "context": "kat-x"}), &[]),
            ),
            (
                "cluster".to_string(),
                stage(json!({"endpoint": "https://api"}), &[]),
            ),
            (
                "database".to_string(),
                stage(
                    json!({"host": "db", "port": 5432, "database": "app",
                           "secret": {"store": "s", "name": "n", "key": "password"}}),
                    &[],
                ),
            ),
            (
                "blueprint".to_string(),
                stage(json!({}), &[("Service web/front", "192.0.2.1, 192.0.2.2")]),
            ),
        ]);
        let out = EnvOutputs::from_stages(&stages).to_value();
        assert_eq!(
            out["kubeconfig"],
            json!({"path": "/k/config", "context": "kat-x"})
        );
        assert_eq!(out["cluster"]["endpoint"], "https://api");
        assert_eq!(out["database"]["port"], 5432);
        assert_eq!(out["database"]["secret"]["name"], "n");
        assert_eq!(out["registry"], Value::Null);
        let names = leaves(&out);
        assert_eq!(names["kubeconfig.path"], "/k/config");
        assert_eq!(
            names["endpoints.service/web/front.addresses.1"],
            "192.0.2.2"
        );
        assert_eq!(
            lookup(&out, "endpoints.service/web/front.stage"),
            Some(json!("blueprint"))
        );
        assert_eq!(lookup(&out, "registry.url"), None);
    }
}
