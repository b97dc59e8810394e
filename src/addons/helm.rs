//! An addon from a Helm chart: rendered by `helm template`, applied by kat's own layer (so it is
//! labelled, inventoried, waited for and pruned like everything else).

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use super::error::AddonError;
use crate::config::HelmChart;

pub fn render(addon: &str, chart: &HelmChart, work: &Path) -> Result<String, AddonError> {
    let helm = which("helm").ok_or_else(|| AddonError::HelmMissing {
        addon: addon.into(),
    })?;
    let values = work.join(format!("{addon}-values.json"));
    std::fs::create_dir_all(work)
        .and_then(|_| {
            std::fs::write(
                &values,
                serde_json::to_vec(&chart.values).expect("values serialize"),
            )
        })
        .map_err(|e| AddonError::Io {
            path: values.clone(),
            message: e.to_string(),
        })?;
    let namespace = namespace(addon, chart);
    let out = Command::new(helm)
        .args([
            "template",
            addon,
            &chart.chart,
            "--repo",
            &chart.repository,
            "--version",
            &chart.version,
        ])
        .args(["--namespace", &namespace, "--include-crds", "--values"])
        .arg(&values)
        .output()
        .map_err(|e| AddonError::Helm {
            addon: addon.into(),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(AddonError::Helm {
            addon: addon.into(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The namespace the chart is installed in: `helm.namespace`, else the addon's name.
pub fn namespace(addon: &str, chart: &HelmChart) -> String {
    chart.namespace.clone().unwrap_or_else(|| addon.to_string())
}

/// What `helm install --create-namespace` would do and `helm template` does not: templates that
/// name no namespace go into the release's (not `default`), which is created unless the chart
/// makes it. Cluster-scoped objects lose the namespace again when they are applied.
pub fn place_in_namespace(objects: &mut Vec<Value>, namespace: &str) {
    for o in objects.iter_mut() {
        let meta = &mut o["metadata"];
        if !meta.is_object() {
            continue;
        }
        if meta
            .get("namespace")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            meta["namespace"] = Value::String(namespace.to_string());
        }
    }
    let made = objects
        .iter()
        .any(|o| o["kind"] == "Namespace" && o["metadata"]["name"] == namespace);
    if !made {
        objects.insert(
            0,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        );
    }
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_without_a_namespace_go_into_the_releases_which_is_created() {
        let mut objects = vec![
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b", "namespace": "other"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "c"}}),
        ];
        place_in_namespace(&mut objects, "metrics");
        assert_eq!(objects[0]["kind"], "Namespace");
        assert_eq!(objects[0]["metadata"]["name"], "metrics");
        assert_eq!(objects[1]["metadata"]["namespace"], "metrics");
        assert_eq!(objects[2]["metadata"]["namespace"], "other", "kept");
        let before = objects.len();
        place_in_namespace(&mut objects, "metrics");
        assert_eq!(objects.len(), before, "the Namespace is added once");
    }
}
