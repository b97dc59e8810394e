//! `database.mode: managed`: the Kubernetes Secret through which the blueprint reaches the managed
//! database. Its connection settings come from the database stage's outputs, the password from
//! the cloud's secret store (the provider reads it); the password exists only in that Secret.

use base64::Engine;
use kat_provider::contract::{self, DATABASE_HOST, DATABASE_NAME, DATABASE_PORT, DATABASE_USER};
use kat_provider::{Manifest, OpContext, Provider, ProviderError};
use serde_json::{json, Value};

/// The Secret's name in every namespace whose workloads read it.
pub const DATABASE_SECRET: &str = "kat-database";

/// One Secret per namespace that references it, in the same apply as the blueprint.
pub async fn secrets(
    provider: &dyn Provider,
    cx: &OpContext,
    manifests: &[Manifest],
) -> Result<Vec<Manifest>, ProviderError> {
    let namespaces = referencing_namespaces(manifests);
    if namespaces.is_empty() {
        return Ok(Vec::new());
    }
    let missing = |key: &str| {
        ProviderError::Other(format!(
            "the database stage recorded no `{key}`; run `kat up` again so it converges"
        ))
    };
    let host = cx.read(&DATABASE_HOST).map_err(|_| missing("host"))?;
    let port = cx.read(&DATABASE_PORT).map_err(|_| missing("port"))?;
    let user = cx.read(&DATABASE_USER).map_err(|_| missing("user"))?;
    let dbname = cx.read(&DATABASE_NAME).map_err(|_| missing("database"))?;
    let secret = cx
        .read(&contract::DATABASE_SECRET)
        .map_err(|_| missing("secret"))?;
    let password = provider.secret_value(&secret).await?;
    let data = encoded(&[
        ("host", host.as_str()),
        ("port", &port.to_string()),
        ("dbname", &dbname),
        ("username", &user),
        ("password", &password),
    ]);
    Ok(namespaces
        .into_iter()
        .map(|ns| Manifest {
            source: format!("kat's database connection ({})", secret.name),
            object: json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": DATABASE_SECRET, "namespace": ns},
                "type": "Opaque",
                "data": data,
            }),
        })
        .collect())
}

/// `data`, not `stringData`: the server stores only `data`, so a server-side apply of the same
/// values is a no-op and a second `up` reports no change.
fn encoded(pairs: &[(&str, &str)]) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(b64.encode(v))))
            .collect(),
    )
}

/// Namespaces of the objects that name the Secret (a `secretKeyRef`, an `envFrom`, a volume).
fn referencing_namespaces(manifests: &[Manifest]) -> Vec<String> {
    let mut out: Vec<String> = manifests
        .iter()
        .filter(|m| names_secret(&m.object))
        .map(|m| {
            m.object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn names_secret(v: &Value) -> bool {
    match v {
        Value::Object(map) => map.iter().any(|(k, v)| {
            (matches!(k.as_str(), "secretKeyRef" | "secretRef" | "secret")
                && (v["name"] == DATABASE_SECRET || v["secretName"] == DATABASE_SECRET))
                || names_secret(v)
        }),
        Value::Array(items) => items.iter().any(names_secret),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(object: Value) -> Manifest {
        Manifest {
            source: "test".into(),
            object,
        }
    }

    #[test]
    fn only_namespaces_whose_workloads_name_the_secret_get_it() {
        let reader = |ns: &str| {
            manifest(
                json!({"kind": "Deployment", "metadata": {"name": "api", "namespace": ns},
                "spec": {"template": {"spec": {"containers": [{"env": [{"name": "PGHOST",
                "valueFrom": {"secretKeyRef": {"name": "kat-database", "key": "host"}}}]}]}}}}),
            )
        };
        let other = manifest(
            json!({"kind": "Deployment", "metadata": {"name": "web", "namespace": "fe"},
            "spec": {"template": {"spec": {"containers": [{"env": [{"name": "X",
            "valueFrom": {"secretKeyRef": {"name": "web", "key": "x"}}}]}]}}}}),
        );
        let mounted = manifest(
            json!({"kind": "Pod", "metadata": {"name": "p", "namespace": "jobs"},
            "spec": {"volumes": [{"name": "db", "secret": {"secretName": "kat-database"}}]}}),
        );
        let got =
            referencing_namespaces(&[reader("be"), reader("be"), other, mounted, reader("pg")]);
        assert_eq!(got, vec!["be", "jobs", "pg"]);
    }

    #[test]
    fn values_are_base64_data() {
        let data = encoded(&[("password", "pa ss"), ("port", "5432")]);
        assert_eq!(data["password"], "cGEgc3M=");
        assert_eq!(data["port"], "NTQzMg==");
    }
}
