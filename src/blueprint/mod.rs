//! Blueprints: the workshop apps as data (see `blueprints/`), rendered with minijinja.
//!
//! A blueprint is `blueprint.yaml` (what the app is made of, its images and values) plus manifest
//! templates. The builtin ones are embedded in the binary; `load("./dir")` reads one from disk.

mod context;
mod contract;
mod contract_spec;
mod error;
mod manifests;
mod render;
mod source;
mod spec;
mod values;

#[cfg(test)]
mod tests;

use std::path::Path;

use kat_provider::DatabaseMode;

pub use context::{ApiVersions, ClusterContext, DatabaseContext, IngressContext, RenderContext};
pub use contract::check_contracts;
pub use contract_spec::{Contract, DatabaseUse, EnvVar, Health, SchemaBy, Waiter, Write};
pub use error::BlueprintError;
pub use manifests::parse_manifests;
pub use spec::{
    Autoscaling, BlueprintInfo, BuildParts, BuildSpec, ComponentInfo, DatabaseInfo, ImageSpec,
    ValueSpec,
};

/// One rendered template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Relative, `<blueprint>/<template>`, such as `nanomon/api.yaml`.
    pub path: String,
    pub content: String,
}

/// A loaded blueprint, ready to render.
#[derive(Debug, Clone)]
pub struct Blueprint {
    sources: source::Sources,
}

/// The builtin blueprints, for `kat blueprints`.
pub fn builtin() -> Vec<BlueprintInfo> {
    source::builtin_names()
        .iter()
        // The embedded blueprints are tested to load; one that did not would be a build defect.
        .filter_map(|name| source::builtin(name).ok())
        .map(|s| s.info)
        .collect()
}

/// A builtin name, or a path to a blueprint folder (anything with `/` or starting with `.`).
pub fn load(spec: &str) -> Result<Blueprint, BlueprintError> {
    let sources = if spec.contains('/') || spec.starts_with('.') {
        source::from_path(Path::new(spec))?
    } else {
        source::builtin(spec)?
    };
    Ok(Blueprint { sources })
}

impl Blueprint {
    pub fn info(&self) -> &BlueprintInfo {
        &self.sources.info
    }

    /// Every image reference the blueprint can name without user input: published images as
    /// pinned, built ones without the registry prefix (the caller knows its registry). Images the
    /// user must supply (`value:`) are not listed; see [`Blueprint::image_specs`].
    pub fn images(&self) -> Vec<String> {
        self.info()
            .images
            .values()
            .filter_map(|i| i.reference.clone())
            .collect()
    }

    /// Image key → spec, for callers that build images (`build:`) or create registry repositories.
    pub fn image_specs(&self) -> &std::collections::BTreeMap<String, ImageSpec> {
        &self.info().images
    }

    /// The blueprint needs a database the caller can provide (in-cluster or rds).
    pub fn needs_database(&self) -> bool {
        self.info().database.is_some()
    }

    /// The database modes `render` accepts: the blueprint's (`in-cluster`, `managed`), or `none`
    /// for a blueprint without a database (which accepts any mode and ignores it).
    pub fn database_modes(&self) -> Vec<DatabaseMode> {
        match &self.info().database {
            Some(db) => db.modes.clone(),
            None => vec![DatabaseMode::None],
        }
    }

    /// Namespaces where, in `managed` mode, the database Secret must exist (its clients' namespaces).
    pub fn database_secret_namespaces(&self) -> Vec<String> {
        let info = self.info();
        let mut out: Vec<String> = Vec::new();
        for client in info.database.iter().flat_map(|d| &d.clients) {
            if let Some(c) = info.component(client) {
                let ns = info.namespace_of(c);
                if !out.contains(&ns) {
                    out.push(ns);
                }
            }
        }
        out
    }

    /// The same blueprint with every workload in `namespace` (a namespaces fleet's attendee).
    /// A component that names its own namespace is refused: two attendees would share it.
    pub fn in_namespace(&self, namespace: &str) -> Result<Blueprint, BlueprintError> {
        let info = self.info();
        if let Some(c) = info.components.iter().find(|c| c.namespace.is_some()) {
            return Err(BlueprintError::OwnNamespace {
                blueprint: info.name.clone(),
                component: c.name.clone(),
                namespace: info.namespace_of(c),
            });
        }
        let mut sources = self.sources.clone();
        sources.info.namespace = namespace.to_string();
        Ok(Blueprint { sources })
    }

    /// The rendered files, checked against every component's contract: a template that does
    /// not give the app what its source says it needs fails here, naming the component.
    pub fn render(&self, cx: &RenderContext) -> Result<Vec<RenderedFile>, BlueprintError> {
        let files = render::render(&self.sources, cx)?;
        let manifests = parse_manifests(&files)?;
        check_contracts(self.info(), &manifests, cx.database.mode)?;
        Ok(files)
    }
}

/// Database modes as a list for messages: `in-cluster, managed`.
pub fn joined(modes: &[DatabaseMode]) -> String {
    modes
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
