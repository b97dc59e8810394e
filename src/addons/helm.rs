//! An addon from a Helm chart: rendered by `helm template`, applied by kat's own layer (so it is
//! labelled, inventoried, waited for and pruned like everything else).

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use super::catalog::Artifact;
use super::error::AddonError;
use super::fetch::{Fetcher, CHART_PREFIX};
use crate::config::HelmChart;

/// The chart as kat.lock pins it: `helm:<repository>#<chart>@<version>`.
pub fn artifact(addon: &str, chart: &HelmChart) -> Artifact {
    Artifact {
        addon: addon.into(),
        url: format!(
            "{CHART_PREFIX}{}#{}@{}",
            chart.repository.trim_end_matches('/'),
            chart.chart,
            chart.version
        ),
    }
}

/// The chart's `.tgz`: from the bundle offline, else the cache or `helm pull`; its SHA-256
/// checked against kat.lock (pinned on first sight), so a chart re-published under the same
/// version is refused.
pub fn chart_bytes(
    addon: &str,
    chart: &HelmChart,
    fetcher: &Fetcher,
    work: &Path,
) -> Result<Vec<u8>, AddonError> {
    fetcher.get_with(&artifact(addon, chart), || pull(addon, chart, work))
}

fn helm(addon: &str) -> Result<std::path::PathBuf, AddonError> {
    which("helm").ok_or_else(|| AddonError::HelmMissing {
        addon: addon.into(),
    })
}

fn pull(addon: &str, chart: &HelmChart, work: &Path) -> Result<Vec<u8>, AddonError> {
    let io = |path: &Path, e: std::io::Error| AddonError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let into = work.join(format!("{addon}-pull"));
    let _ = std::fs::remove_dir_all(&into);
    std::fs::create_dir_all(&into).map_err(|e| io(&into, e))?;
    let out = Command::new(helm(addon)?)
        .args(["pull", &chart.chart, "--repo", &chart.repository])
        .args(["--version", &chart.version, "--destination"])
        .arg(&into)
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
    let file = std::fs::read_dir(&into)
        .map_err(|e| io(&into, e))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "tgz"))
        .ok_or_else(|| AddonError::Helm {
            addon: addon.into(),
            message: format!("`helm pull` wrote no .tgz into {}", into.display()),
        })?;
    std::fs::read(&file).map_err(|e| io(&file, e))
}

/// `helm template` of the pinned chart (`chart_bytes`), written beside the values.
pub fn render(
    addon: &str,
    chart: &HelmChart,
    fetcher: &Fetcher,
    work: &Path,
) -> Result<String, AddonError> {
    let helm = helm(addon)?;
    let bytes = chart_bytes(addon, chart, fetcher, work)?;
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
    let tgz = work.join(format!("{addon}-chart.tgz"));
    std::fs::write(&tgz, &bytes).map_err(|e| AddonError::Io {
        path: tgz.clone(),
        message: e.to_string(),
    })?;
    let namespace = namespace(addon, chart);
    let out = Command::new(helm)
        .arg("template")
        .arg(addon)
        .arg(&tgz)
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
