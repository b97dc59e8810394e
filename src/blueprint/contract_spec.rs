//! A component's contract in `blueprint.yaml`: what the application's own source says it needs,
//! each fact with the upstream file it was read from. `kat render` checks the rendered manifests
//! against it (see `contract.rs`), so a template that forgets a variable the app reads, probes a
//! path the app does not serve or starts a database client before its database fails there,
//! not as a crash loop on a real cluster.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// The source the facts were read from, pinned: a repository URL at a commit or tag, and the
    /// folder of this component (`https://github.com/o/r/tree/<commit>/dir`).
    pub code: String,
    /// Where the listening port (the component's `port`) is set, such as `server.js (PORT, default 3000)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Variables the running container reads.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, EnvVar>,
    /// Variables read when the image is built (baked into a bundle), never at run time: setting
    /// them on the container changes nothing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build_env: BTreeMap<String, EnvVar>,
    /// How the component copes with its database not being there yet, and who creates its schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseUse>,
    /// Paths the application writes to: each must be writable (a volume, or a writable root).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<Write>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// HTTP path the readiness probe must ask.
    pub path: String,
    /// HTTP path the liveness probe must ask, when not `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<String>,
    /// Port the health path is served on, when not the component's `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub from: String,
}

impl Health {
    pub fn liveness_path(&self) -> &str {
        self.liveness.as_deref().unwrap_or(&self.path)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    /// What the application uses it for.
    pub what: String,
    /// The application has no default usable here: the container must set it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// The application's own default, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The upstream file (and line or function) that reads it.
    pub from: String,
}

/// Who waits for the database before the application starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Waiter {
    /// An init container of the component's pod waits for it.
    InitContainer,
    /// The application retries by itself until the database answers (say where, in `from`).
    App,
}

/// Who creates the tables the application needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchemaBy {
    /// An init container of the component's pod migrates before the application starts.
    InitContainer,
    /// A Job in the component's namespace applies it.
    Job,
    /// The application creates what it needs at start (say where, in `from`).
    App,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseUse {
    pub wait: Waiter,
    pub schema: SchemaBy,
    pub from: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Write {
    pub path: String,
    pub from: String,
}

impl Contract {
    /// Checks what serde cannot: every fact says where it comes from.
    pub fn validate(&self, component: &str, has_port: bool) -> Result<(), String> {
        let empty = |what: &str| {
            Err(format!(
                "component `{component}`: the contract's {what} has no `from` (the upstream file it was read from)"
            ))
        };
        if self.code.trim().is_empty() {
            return Err(format!(
                "component `{component}`: the contract has no `code` (the source, pinned to a commit or tag)"
            ));
        }
        if has_port && self.port_from.as_deref().unwrap_or("").trim().is_empty() {
            return empty("port (`port_from`)");
        }
        if let Some(h) = &self.health {
            if h.from.trim().is_empty() {
                return empty("health");
            }
            if !h.path.starts_with('/') || !h.liveness_path().starts_with('/') {
                return Err(format!(
                    "component `{component}`: health paths must start with `/`"
                ));
            }
            if h.port.is_none() && !has_port {
                return Err(format!(
                    "component `{component}`: health has no `port` and the component has none"
                ));
            }
        }
        for (name, var) in self.env.iter().chain(&self.build_env) {
            if var.from.trim().is_empty() {
                return empty(&format!("variable `{name}`"));
            }
            if var.required && var.default.is_some() {
                return Err(format!(
                    "component `{component}`: variable `{name}` is both `required` and has a `default`; a default the app has makes it optional"
                ));
            }
        }
        if self
            .database
            .as_ref()
            .is_some_and(|d| d.from.trim().is_empty())
        {
            return empty("database");
        }
        if let Some(w) = self.writes.iter().find(|w| w.from.trim().is_empty()) {
            return empty(&format!("write to `{}`", w.path));
        }
        Ok(())
    }
}
