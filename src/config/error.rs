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
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(Box<Located>),

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

/// A problem at a known place in a file: where, which key, what, and what to do.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{file}:{line}:{column}: {key}: {message}")]
pub struct Located {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
    #[help]
    pub help: Option<String>,
    #[source_code]
    pub source_code: NamedSource<String>,
    #[label("here")]
    pub span: SourceSpan,
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
            ConfigError::Invalid(located) => located.help = Some(text.into()),
            ConfigError::Setting { help, .. } => *help = Some(text.into()),
            ConfigError::Read { .. } => {}
        }
        self
    }
}
