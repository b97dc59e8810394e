//! Counts every AWS request this process sends (retries included), by `Service.Operation`. With
//! `KAT_EKS_CALL_LOG=<file>` the counts are written there after each request, so tests and the
//! benchmark can tell how many calls `up` and `down` made, whether any of them mutated, and how
//! many were retries of a failed attempt.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Clone, Default)]
pub struct CallLog {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    retries: Arc<Mutex<u64>>,
    file: Option<PathBuf>,
}

/// Operations that read: everything else (create, delete, attach, tag, ...) counts as mutating.
pub fn is_read_only(operation: &str) -> bool {
    ["Describe", "List", "Get", "Lookup"]
        .iter()
        .any(|p| operation.starts_with(p))
}

impl CallLog {
    /// The process's log: every set of clients the process builds (each environment of a fleet,
    /// the credential's owner asked before `up`) counts into it, so the file holds the whole
    /// process's calls rather than the last client's.
    pub fn from_env() -> Self {
        static LOG: std::sync::OnceLock<CallLog> = std::sync::OnceLock::new();
        LOG.get_or_init(|| CallLog {
            counts: Arc::default(),
            retries: Arc::default(),
            file: std::env::var_os("KAT_EKS_CALL_LOG").map(PathBuf::from),
        })
        .clone()
    }

    fn record(&self, service: &str, operation: &str, retry: bool) {
        let key = format!("{service}.{operation}");
        tracing::debug!(call = %key, retry, "aws request");
        let retries = {
            let mut n = self.retries.lock().expect("call log lock");
            *n += u64::from(retry);
            *n
        };
        let snapshot = {
            let mut counts = self.counts.lock().expect("call log lock");
            *counts.entry(key).or_default() += 1;
            counts.clone()
        };
        if let Some(file) = &self.file {
            let total: u64 = snapshot.values().sum();
            let mutating: u64 = snapshot
                .iter()
                .filter(|(k, _)| !is_read_only(k.rsplit('.').next().unwrap_or(k)))
                .map(|(_, v)| v)
                .sum();
            let doc = serde_json::json!({"total": total, "mutating": mutating, "retries": retries, "calls": snapshot});
            // Best effort: a counter must never fail a run.
            let _ = std::fs::write(file, doc.to_string());
        }
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "kat-call-log"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let retry = cfg
            .load::<RequestAttempts>()
            .is_some_and(|a| a.attempts() > 1);
        if let Some(m) = cfg.load::<Metadata>() {
            self.record(m.service(), m.name(), retry);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_and_writes_are_told_apart() {
        assert!(super::is_read_only("DescribeVpcs"));
        assert!(super::is_read_only("GetCallerIdentity"));
        assert!(!super::is_read_only("CreateVpc"));
        assert!(!super::is_read_only("AttachRolePolicy"));
    }
}
