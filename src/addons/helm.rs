//! An addon from a Helm chart: rendered by `helm template`, applied by kat's own layer (so it is
//! labelled, inventoried, waited for and pruned like everything else).

use std::path::Path;
use std::process::Command;

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
    let namespace = chart.namespace.clone().unwrap_or_else(|| addon.to_string());
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

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}
