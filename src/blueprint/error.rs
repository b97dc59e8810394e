//! Blueprint errors. Each names the blueprint, the file (and line when minijinja knows it), the
//! value or key at fault, and what the user can do about it.

use thiserror::Error;

/// A required value nobody set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub key: String,
    pub description: String,
}

fn describe_missing(missing: &[Missing]) -> String {
    let each: Vec<String> = missing
        .iter()
        .map(|m| format!("`{}` ({})", m.key, m.description))
        .collect();
    let sets: Vec<String> = missing
        .iter()
        .map(|m| format!("--set {}=...", m.key))
        .collect();
    let (noun, verb) = if missing.len() == 1 {
        ("value", "is")
    } else {
        ("values", "are")
    };
    format!(
        "{noun} {} {verb} required; set {} under `blueprint.values` in kat.yaml or with `{}`",
        each.join(", "),
        if missing.len() == 1 {
            format!("`blueprint.values.{}`", missing[0].key)
        } else {
            "them".to_string()
        },
        sets.join(" ")
    )
}

#[derive(Debug, Error)]
pub enum BlueprintError {
    #[error("blueprint `{blueprint}`: component `{component}` runs in its own namespace `{namespace}`, which every attendee of a namespaces fleet would share; remove its `namespace` key in blueprint.yaml, or use `fleet.shape: clusters`")]
    OwnNamespace {
        blueprint: String,
        component: String,
        namespace: String,
    },

    #[error("no builtin blueprint `{name}`; builtin blueprints are: {known}. To load one from disk, pass a path (`./my-blueprint`)")]
    UnknownBuiltin { name: String, known: String },

    #[error("cannot read blueprint at `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("blueprint `{blueprint}`: {file} is invalid: {message}")]
    Invalid {
        blueprint: String,
        file: String,
        message: String,
    },

    #[error(
        "blueprint `{blueprint}`: unknown value `{key}`; the values it accepts are: {allowed}"
    )]
    UnknownValue {
        blueprint: String,
        key: String,
        allowed: String,
    },

    #[error("blueprint `{blueprint}`: {}", describe_missing(.missing))]
    MissingValue {
        blueprint: String,
        /// Every value left unset, not only the first.
        missing: Vec<Missing>,
    },

    #[error("blueprint `{blueprint}`: cannot generate a password: the operating system's random source failed ({message})")]
    Random { blueprint: String, message: String },

    #[error(
        "blueprint `{blueprint}` does not support database mode `{mode}`; it supports: {supported}"
    )]
    UnsupportedDatabase {
        blueprint: String,
        mode: String,
        supported: String,
    },

    #[error("blueprint `{blueprint}`: database mode `managed` needs the name of the Secret holding host, port, dbname, username and password (`database.secret`)")]
    MissingDatabaseSecret { blueprint: String },

    #[error("blueprint `{blueprint}`: image `{image}` is built from source ({source_url}) and pushed to the environment's registry, but this environment has no registry; use a provider that makes one (eks, aks, microk8s) or name yours with `registry.url` in kat.yaml (images built from source are then expected there)")]
    NoRegistry {
        blueprint: String,
        image: String,
        source_url: String,
    },

    #[error("blueprint `{blueprint}`: {file}{line}: {message}")]
    Template {
        blueprint: String,
        file: String,
        /// `:N` when minijinja reports a line, else empty.
        line: String,
        message: String,
    },

    #[error("blueprint `{blueprint}`: component `{component}` does not meet its contract (blueprint.yaml, from the app's own source): {}; fix its template, or the contract if the app's source says otherwise", .problems.join("; "))]
    Contract {
        blueprint: String,
        component: String,
        /// Every problem of that component, not only the first.
        problems: Vec<String>,
    },

    #[error("{source_ref}: {message}")]
    Manifest {
        /// `file#index` (index counts documents from 0, empty ones included).
        source_ref: String,
        message: String,
    },
}

impl BlueprintError {
    /// The kat.yaml key the mistake is at, so the error can point at its line.
    pub fn config_key(&self) -> Option<String> {
        match self {
            BlueprintError::UnknownValue { key, .. } => Some(format!("blueprint.values.{key}")),
            BlueprintError::MissingValue { .. } => Some("blueprint".into()),
            BlueprintError::UnsupportedDatabase { .. } => Some("database.mode".into()),
            _ => None,
        }
    }

    pub(crate) fn invalid(blueprint: &str, file: &str, message: impl Into<String>) -> Self {
        BlueprintError::Invalid {
            blueprint: blueprint.to_string(),
            file: file.to_string(),
            message: message.into(),
        }
    }

    /// Turns a minijinja error into one that names the template file and line.
    pub(crate) fn template(blueprint: &str, fallback_file: &str, err: &minijinja::Error) -> Self {
        let name = err.name().unwrap_or(fallback_file);
        // Shared macros are named as imported; a blueprint's own templates by their path.
        let file = if name.starts_with(super::source::LIB_PREFIX) {
            name.to_string()
        } else {
            format!("templates/{name}")
        };
        let line = err.line().map(|l| format!(":{l}")).unwrap_or_default();
        let message = match err.detail() {
            Some(detail) => format!("{} ({detail})", err.kind()),
            None => err.kind().to_string(),
        };
        BlueprintError::Template {
            blueprint: blueprint.to_string(),
            file,
            line,
            message,
        }
    }
}
