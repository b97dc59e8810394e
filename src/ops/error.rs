//! How a command ends: the exit codes are part of kat's interface (0 ok, 1 failure, 2 usage or
//! configuration, 130 interrupted).

use crate::config::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    Failed,
    Usage,
    Interrupted,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Interrupted => 130,
        }
    }
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum KatError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] ConfigError),
    /// Something the user must change (a flag, a credential), said in one line.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failure(String),
}

impl KatError {
    pub fn exit(&self) -> Exit {
        match self {
            KatError::Config(_) | KatError::Usage(_) => Exit::Usage,
            KatError::Failure(_) => Exit::Failed,
        }
    }
}

impl From<kat_provider::ProviderError> for KatError {
    fn from(e: kat_provider::ProviderError) -> Self {
        if e.is_usage() {
            KatError::Usage(e.to_string())
        } else {
            KatError::Failure(e.to_string())
        }
    }
}
