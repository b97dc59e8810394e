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

/// The profile key of the simulated account's API rate limit.
pub const API_RATE_LIMIT_KEY: &str = "api_rate_limit";

/// Calls per second of simulated time the simulated account answers, per kind of call, as AWS
/// limits describe/read calls apart from mutating ones (`api_rate_limit: {read: 20, mutate: 5}`).
/// A kind left out is not limited.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiRateLimit {
    #[serde(default)]
    pub read: Option<f64>,
    #[serde(default)]
    pub mutate: Option<f64>,
}

/// Operation → latency at scale 1, the scale to apply, and the API rate limit if any.
#[derive(Debug, Clone)]
pub struct Profile {
    ops: BTreeMap<String, Duration>,
    scale: f64,
    api_rate_limit: Option<ApiRateLimit>,
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
        let mut raw: BTreeMap<String, serde_yaml_ng::Value> =
            serde_yaml_ng::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let api_rate_limit = match raw.remove(API_RATE_LIMIT_KEY) {
            None => None,
            Some(v) => {
                let limit: ApiRateLimit = serde_yaml_ng::from_value(v).map_err(|e| {
                    invalid(format!(
                        "`{API_RATE_LIMIT_KEY}`: {e}; write it as `{API_RATE_LIMIT_KEY}: {{read: 20, mutate: 5}}` (calls per simulated second)"
                    ))
                })?;
                for (kind, v) in [("read", limit.read), ("mutate", limit.mutate)] {
                    if v.is_some_and(|v| !(v > 0.0 && v.is_finite())) {
                        return Err(invalid(format!(
                            "`{API_RATE_LIMIT_KEY}.{kind}` must be a positive number of calls per second"
                        )));
                    }
                }
                Some(limit)
            }
        };
        let mut ops = BTreeMap::new();
        for (op, value) in raw {
            let Some(text) = value.as_str() else {
                return Err(invalid(format!(
                    "`{op}` must be a duration such as `3s` or `15m`"
                )));
            };
            let d = humantime::parse_duration(text)
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
        Ok(Profile {
            ops,
            scale,
            api_rate_limit,
        })
    }

    /// The API rate limit, in calls per wall-clock second (simulated time runs `1/scale` times
    /// faster).
    pub fn api_rate_limit(&self) -> Option<ApiRateLimit> {
        self.api_rate_limit.map(|l| ApiRateLimit {
            read: l.read.map(|r| r / self.scale),
            mutate: l.mutate.map(|m| m / self.scale),
        })
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

    fn with(extra: &str) -> String {
        format!("{BUILTIN}\n{extra}\n")
    }

    #[test]
    fn the_api_rate_limit_is_per_simulated_second() {
        let p = Profile::parse(
            &with("api_rate_limit: {read: 20, mutate: 5}"),
            "mine.yaml",
            0.01,
        )
        .unwrap();
        let l = p.api_rate_limit().unwrap();
        assert_eq!(l.read.map(f64::round), Some(2000.0));
        assert_eq!(l.mutate.map(f64::round), Some(500.0));
        assert!(Profile::builtin(1.0).api_rate_limit().is_none());
    }

    #[test]
    fn a_bad_api_rate_limit_is_rejected_naming_the_key() {
        for bad in [
            "api_rate_limit: {read: 0}",
            "api_rate_limit: {reads: 5}",
            "api_rate_limit: 5",
        ] {
            let err = Profile::parse(&with(bad), "mine.yaml", 1.0)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("api_rate_limit") && err.contains("mine.yaml"),
                "{err}"
            );
        }
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
