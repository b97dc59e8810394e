use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const BUILTIN: &str = include_str!("../profiles/real-world.yaml");

/// Operations the simulated cloud performs; a profile must give each a latency.
pub const REQUIRED_OPS: &[&str] = &[
    "vpc.create",
    "vpc.delete",
    "subnet.create",
    "subnet.delete",
    "igw.create",
    "igw.delete",
    "nat.create",
    "nat.delete",
    "route.create",
    "route.delete",
    "iam.create",
    "iam.delete",
    "cluster.create",
    "cluster.update",
    "cluster.delete",
    "nodegroup.create",
    "nodegroup.update",
    "nodegroup.delete",
    "kubeconfig.write",
    "registry.create",
    "registry.delete",
    "dbsubnet.create",
    "dbsubnet.delete",
    "securitygroup.create",
    "securitygroup.delete",
    "database.create",
    "database.update",
    "database.delete",
    "apply.default",
    "delete.default",
];

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read latency profile {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("latency profile {origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// Operation → latency at scale 1, and the scale to apply.
#[derive(Debug, Clone)]
pub struct Profile {
    ops: BTreeMap<String, Duration>,
    scale: f64,
}

impl Profile {
    pub fn builtin(scale: f64) -> Profile {
        Self::parse(BUILTIN, "built-in", scale).expect("the built-in profile is valid")
    }

    pub fn load(path: &Path, scale: f64) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string(), scale)
    }

    pub fn parse(text: &str, origin: &str, scale: f64) -> Result<Profile, ProfileError> {
        let invalid = |message: String| ProfileError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let raw: BTreeMap<String, String> =
            serde_yaml_ng::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut ops = BTreeMap::new();
        for (op, text) in raw {
            let d = humantime::parse_duration(&text)
                .map_err(|e| invalid(format!("`{op}: {text}`: {e}")))?;
            ops.insert(op, d);
        }
        let missing: Vec<_> = REQUIRED_OPS
            .iter()
            .filter(|o| !ops.contains_key(**o))
            .collect();
        if !missing.is_empty() {
            return Err(invalid(format!(
                "no latency for {}; every operation needs one (see the built-in profile)",
                missing
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if !(scale > 0.0 && scale.is_finite()) {
            return Err(invalid(format!(
                "scale must be a positive number, not {scale}"
            )));
        }
        Ok(Profile { ops, scale })
    }

    /// A real-world duration at this profile's scale.
    pub fn scaled(&self, real: Duration) -> Duration {
        real.mul_f64(self.scale)
    }

    /// The scaled latency of `op`; `apply.X`/`delete.X` fall back to `apply.default`/`delete.default`.
    pub fn latency(&self, op: &str) -> Duration {
        let base = self.ops.get(op).copied().unwrap_or_else(|| {
            let fallback = match op.split_once('.') {
                Some((verb @ ("apply" | "delete"), _)) => format!("{verb}.default"),
                _ => String::new(),
            };
            self.ops.get(&fallback).copied().unwrap_or_default()
        });
        base.mul_f64(self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profile_has_real_world_figures_and_scales() {
        let p = Profile::builtin(0.001);
        assert_eq!(p.latency("cluster.create"), Duration::from_millis(900));
        assert_eq!(p.latency("apply.blueprint"), Duration::from_millis(45));
        assert_eq!(p.latency("apply.unknown-addon"), Duration::from_millis(30));
    }

    #[test]
    fn a_profile_missing_an_operation_is_rejected_naming_it() {
        let err = Profile::parse("vpc.create: 1s\n", "mine.yaml", 1.0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mine.yaml") && err.contains("cluster.create"),
            "{err}"
        );
    }
}
