use std::path::PathBuf;

use miette::{Diagnostic, NamedSource, SourceSpan};

/// A mistake in kat.yaml or in a setting given by flag or environment. Always exit code 2.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    #[diagnostic(help(
        "pass an existing file with --config, or run without it to use ./kat.yaml or defaults"
    ))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A problem at a known place in a file.
    #[error("{file}:{line}:{column}: {key}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        key: String,
        message: String,
        #[help]
        help: Option<String>,
        #[source_code]
        source_code: NamedSource<String>,
        #[label("here")]
        span: SourceSpan,
    },

    /// A problem with a value that came from a flag or environment variable, or from a key whose
    /// place in the file could not be found.
    #[error("{origin}: {message}")]
    Setting {
        origin: String,
        message: String,
        #[help]
        help: Option<String>,
    },
}

impl ConfigError {
    pub fn setting(origin: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Setting {
            origin: origin.into(),
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, text: impl Into<String>) -> Self {
        match &mut self {
            ConfigError::Invalid { help, .. } | ConfigError::Setting { help, .. } => {
                *help = Some(text.into())
            }
            ConfigError::Read { .. } => {}
        }
        self
    }
}
