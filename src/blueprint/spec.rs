//! `blueprint.yaml`: what a blueprint is made of, as data. Templates read it through the render
//! context (`components.<name>.port`, `images.<key>`), so ports, exposed paths and autoscaling are
//! written once.

use kat_provider::DatabaseMode;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::contract_spec::Contract;

/// The summary `kat blueprints` lists, and the whole of `blueprint.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueprintInfo {
    pub name: String,
    pub description: String,
    /// Where the application's source lives.
    pub source: String,
    /// The namespace workloads go to unless a component names its own.
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseInfo>,
    pub components: Vec<ComponentInfo>,
    /// Image key → where the image comes from. Components refer to images by key.
    pub images: BTreeMap<String, ImageSpec>,
    /// Settings the user may override (`blueprint.values` in kat.yaml, `--set key=value`).
    #[serde(default)]
    pub values: BTreeMap<String, ValueSpec>,
    /// Anything the reader should know: images that are not published, images that need root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseInfo {
    /// `postgres`, `mongodb`, ...
    pub engine: String,
    /// The database modes the blueprint renders: `in-cluster`, `managed`.
    pub modes: Vec<DatabaseMode>,
    /// The components that connect to the database; its NetworkPolicy admits only these, and in
    /// `managed` mode the connection Secret must exist in their namespaces.
    pub clients: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentInfo {
    pub name: String,
    pub description: String,
    /// Key into `images`.
    pub image: String,
    /// Overrides the blueprint's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The container port its Service targets; none for workers without a Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// HTTP paths routed to it from outside the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    /// The old documentation-only list, replaced by `contract.env`; kept only to say so.
    #[serde(default, skip_serializing)]
    pub env: Option<Value>,
    /// What the application's own source says it needs (checked against the rendered manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<Contract>,
    /// The component is the blueprint's database (only rendered in `in-cluster` mode).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub database: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Autoscaling {
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub cpu_utilization: u32,
}

/// One image: a published reference, an image kat builds from source, or one the user supplies.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// `repository:tag`, pinned (never `latest`).
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Source to build from (a git URL with `#ref:dir`, or `{git, ref, context, dockerfile,
    /// args}`); the image is built in the cluster and pushed to the environment's registry, so
    /// its reference is prefixed with the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildSpec>,
    /// Build arguments the image needs (`--build-arg K=V`), such as a front end's API address
    /// that is baked into its bundle.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build_args: BTreeMap<String, String>,
    /// Why `ref` cannot be pinned (the upstream publishes only moving tags), for `kat lock` to
    /// record the digest it resolves. Without it, `ref` must carry a tag other than `latest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpinned: Option<String>,
    /// The image is not published: the named (required) value holds its reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Where a built image's source is: the short form `<git url>#<ref>[:<context>]`, or every part
/// named. The ref is a commit or a tag; a branch (which moves) only with `branch: true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BuildSpec {
    Url(String),
    Parts(BuildParts),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildParts {
    pub git: String,
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    /// The ref is a branch, rebuilt whenever kat is told to (`kat lock --update-images`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub branch: bool,
}

impl std::fmt::Display for BuildSpec {
    /// The short form, for messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildSpec::Url(u) => f.write_str(u),
            BuildSpec::Parts(p) => {
                write!(f, "{}#{}", p.git, p.reference)?;
                match &p.context {
                    Some(c) => write!(f, ":{c}"),
                    None => Ok(()),
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueSpec {
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// No default: rendering fails until the user sets it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// Unset, kat makes one per environment (`password`: 24 letters and digits). The object
    /// that holds it must be create-only, or each `up` would change it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<Generated>,
}

/// What kat generates for a value nobody set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Generated {
    Password,
}

impl BlueprintInfo {
    pub fn component(&self, name: &str) -> Option<&ComponentInfo> {
        self.components.iter().find(|c| c.name == name)
    }

    pub fn namespace_of(&self, component: &ComponentInfo) -> String {
        component
            .namespace
            .clone()
            .unwrap_or_else(|| self.namespace.clone())
    }

    /// Every namespace the blueprint's workloads use, in first-seen order.
    pub fn namespaces(&self) -> Vec<String> {
        let mut all = vec![self.namespace.clone()];
        for c in &self.components {
            let ns = self.namespace_of(c);
            if !all.contains(&ns) {
                all.push(ns);
            }
        }
        all
    }

    /// Checks what serde cannot: references between sections and pinned tags. Returns the first
    /// problem as a sentence.
    pub fn validate(&self) -> Result<(), String> {
        for c in &self.components {
            if c.env.is_some() {
                return Err(format!(
                    "component `{}`: `env` is no longer read; declare the variables the app reads under `contract.env` (each with `what`, `from` and `required: true` or its `default`)",
                    c.name
                ));
            }
            if let Some(contract) = &c.contract {
                contract.validate(&c.name, c.port.is_some())?;
            }
            if !self.images.contains_key(&c.image) {
                return Err(format!(
                    "component `{}` uses image `{}`, which `images` does not declare",
                    c.name, c.image
                ));
            }
        }
        for (key, image) in &self.images {
            if let (Some(r), None) = (&image.reference, &image.value) {
                match &image.unpinned {
                    Some(why) if why.trim().is_empty() => {
                        return Err(format!(
                        "image `{key}`: `unpinned` must say why the upstream tag cannot be pinned"
                    ))
                    }
                    Some(_) if r.contains("@sha256:") => {
                        return Err(format!(
                            "image `{key}` is pinned by digest: drop `unpinned`"
                        ))
                    }
                    Some(_) => {}
                    None => check_pinned(key, r)?,
                }
            }
            if let Some(build) = &image.build {
                crate::images::build::BuildSource::of(build, &image.build_args)
                    .map_err(|e| format!("image `{key}`: {e}"))?;
            }
            match (&image.reference, &image.value) {
                (Some(_), None) => {}
                (None, Some(v)) => {
                    if !self.values.contains_key(v) {
                        return Err(format!(
                            "image `{key}` takes its reference from value `{v}`, which `values` does not declare"
                        ));
                    }
                    if image.build.is_some() {
                        return Err(format!("image `{key}` cannot both be built and come from a value"));
                    }
                }
                _ => {
                    return Err(format!(
                        "image `{key}` needs exactly one of `ref` (a pinned published image) or `value` (supplied by the user)"
                    ))
                }
            }
        }
        for (key, v) in &self.values {
            let sources = usize::from(v.required)
                + usize::from(v.default.is_some())
                + usize::from(v.generate.is_some());
            if sources != 1 {
                return Err(format!(
                    "value `{key}` needs exactly one of `default`, `generate: password` or `required: true`"
                ));
            }
        }
        if let Some(db) = &self.database {
            for client in &db.clients {
                let Some(c) = self.component(client) else {
                    return Err(format!("database client `{client}` is not a component"));
                };
                if c.contract.as_ref().is_some_and(|k| k.database.is_none()) {
                    return Err(format!(
                        "database client `{client}` has a contract without `database` (who waits for it and who creates the schema)"
                    ));
                }
            }
            if db.modes.contains(&DatabaseMode::None) {
                return Err("database mode `none` is not one a blueprint renders: list in-cluster and/or managed".into());
            }
        }
        Ok(())
    }
}

/// Pinned means a tag other than `latest`, or a digest.
fn check_pinned(key: &str, reference: &str) -> Result<(), String> {
    if reference.contains("@sha256:") {
        return Ok(());
    }
    // The tag follows the last ':' after the last '/', so a registry port is not mistaken for it.
    let last = reference.rsplit('/').next().unwrap_or(reference);
    match last.split_once(':') {
        Some((_, tag)) if !tag.is_empty() && tag != "latest" => Ok(()),
        _ => Err(format!(
            "image `{key}` (`{reference}`) is not pinned: give it a tag other than `latest`, or a digest"
        )),
    }
}
