//! What can go wrong talking to the API server, and how it reads at the provider boundary: every
//! message names the object, the manifest (`file#index`) and what to do about it.

use std::path::PathBuf;
use std::time::Duration;

use kat_provider::ProviderError;

/// A field another manager owns, from the API server's conflict causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// `.spec.replicas`
    pub field: String,
    /// The other field manager, such as `kubectl` or `helm`.
    pub manager: String,
}

/// An object of the set that exists and is not this environment's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub object: String,
    pub source_ref: String,
    /// Whose it is, as a phrase ("kat environment `a` (stage blueprint)").
    pub holder: String,
    pub other_environment: bool,
}

/// An object the server refused in a dry run, with its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub object: String,
    pub source_ref: String,
    pub message: String,
}

/// Objects in a namespace kat is deleting that kat did not make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occupied {
    pub namespace: String,
    /// Each object with whose it is.
    pub objects: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig {
        path: String,
        context: Option<String>,
        message: String,
    },
    #[error("cannot reach the API server {server}: {message}")]
    Connect { server: String, message: String },
    #[error("{source_ref}: {message}")]
    Invalid { source_ref: String, message: String },
    #[error("{source_ref}: {kind} ({api_version}) is not served by this cluster")]
    UnknownKind {
        source_ref: String,
        api_version: String,
        kind: String,
    },
    #[error(
        "{source_ref}: {kind} belongs to API group {group}, which does not answer ({message})"
    )]
    GroupUnavailable {
        source_ref: String,
        kind: String,
        group: String,
        message: String,
    },
    #[error("{object} ({source_ref}): conflicts with other field managers: {}", describe_conflicts(.conflicts))]
    Conflict {
        object: String,
        source_ref: String,
        conflicts: Vec<Conflict>,
    },
    #[error("{operation} {object}{}: {message}", source_suffix(.source_ref))]
    Api {
        operation: String,
        object: String,
        source_ref: Option<String>,
        message: String,
        retryable: bool,
    },
    #[error("{object} failed: {message}")]
    Failed { object: String, message: String },
    #[error("not ready: {report}")]
    NotReady { report: String, after: Duration },
    #[error("interrupted")]
    Interrupted,
    #[error("{}", describe_held(.objects))]
    NotOurs { objects: Vec<Held> },
    #[error("{}", describe_rejected(.problems))]
    Rejected { problems: Vec<Rejection> },
    #[error("{}", describe_occupied(.namespaces))]
    Occupied { namespaces: Vec<Occupied> },
}

fn describe_held(objects: &[Held]) -> String {
    let list: Vec<String> = objects
        .iter()
        .map(|h| format!("{} ({}) is {}", h.object, h.source_ref, h.holder))
        .collect();
    format!(
        "the set names objects kat did not make for this environment: {}",
        list.join("; ")
    )
}

fn describe_rejected(problems: &[Rejection]) -> String {
    let list: Vec<String> = problems
        .iter()
        .map(|r| format!("{} ({}): {}", r.object, r.source_ref, r.message))
        .collect();
    format!(
        "the API server refuses {} of the set's objects, so none was applied: {}",
        problems.len(),
        list.join("; ")
    )
}

fn describe_occupied(namespaces: &[Occupied]) -> String {
    let list: Vec<String> = namespaces
        .iter()
        .map(|o| format!("namespace {} holds {}", o.namespace, o.objects.join(", ")))
        .collect();
    format!(
        "objects kat did not make would be deleted with their namespace: {}",
        list.join("; ")
    )
}

fn describe_conflicts(conflicts: &[Conflict]) -> String {
    conflicts
        .iter()
        .map(|c| format!("field {} is owned by manager \"{}\"", c.field, c.manager))
        .collect::<Vec<_>>()
        .join("; ")
}

fn source_suffix(source: &Option<String>) -> String {
    source
        .as_ref()
        .map(|s| format!(" ({s})"))
        .unwrap_or_default()
}

impl KubeError {
    pub(crate) fn kubeconfig(
        path: &Option<PathBuf>,
        context: Option<&str>,
        message: impl ToString,
    ) -> Self {
        KubeError::Kubeconfig {
            path: path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(KUBECONFIG or ~/.kube/config)".into()),
            context: context.map(str::to_string),
            message: message.to_string(),
        }
    }

    /// Wraps a kube-rs error of one request.
    pub(crate) fn api(
        operation: &str,
        object: impl ToString,
        source: Option<&str>,
        err: kube::Error,
    ) -> Self {
        let retryable = match &err {
            kube::Error::Api(s) => s.code == 429 || s.code >= 500,
            kube::Error::HyperError(_) | kube::Error::Service(_) => true,
            _ => false,
        };
        let message = match &err {
            kube::Error::Api(s) if !s.message.is_empty() => s.message.clone(),
            other => error_chain(other),
        };
        KubeError::Api {
            operation: operation.to_string(),
            object: object.to_string(),
            source_ref: source.map(str::to_string),
            message,
            retryable,
        }
    }
}

/// An error with every cause below it: a transport failure's own text is only "client error
/// (SendRequest)"; what happened (connection refused, reset, a certificate) is in its sources.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        // Wrappers often repeat their source's text; say each thing once.
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// The HTTP status of an API error, if the server answered.
pub(crate) fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

pub(crate) fn is_not_found(err: &kube::Error) -> bool {
    status_code(err) == Some(404)
}

/// The conflicts of a server-side apply 409, if that is what the error is.
pub(crate) fn conflicts(err: &kube::Error) -> Option<Vec<Conflict>> {
    let kube::Error::Api(status) = err else {
        return None;
    };
    if status.code != 409 {
        return None;
    }
    let causes = status
        .details
        .as_ref()
        .map(|d| d.causes.as_slice())
        .unwrap_or(&[]);
    let found: Vec<Conflict> = causes
        .iter()
        .filter(|c| c.reason == "FieldManagerConflict")
        .map(|c| Conflict {
            field: c.field.clone(),
            // The cause reads `conflict with "kubectl" using apps/v1`.
            manager: c
                .message
                .split('"')
                .nth(1)
                .unwrap_or(c.message.as_str())
                .to_string(),
        })
        .collect();
    (!found.is_empty()).then_some(found)
}

impl From<KubeError> for ProviderError {
    fn from(e: KubeError) -> Self {
        match e {
            KubeError::Kubeconfig { path, context, message } => ProviderError::Credentials {
                message: format!("cannot use the kubeconfig: {message}"),
                tried: match context {
                    Some(c) => format!("file {path}, context `{c}`"),
                    None => format!("file {path}, its current context"),
                },
                hint: "point `provider.kubeconfig.path` (or KUBECONFIG) at a kubeconfig and `--context` at one of its contexts; `kubectl config get-contexts` lists them".into(),
            },
            KubeError::Connect { server, message } => ProviderError::Api {
                operation: "connect to".into(),
                resource: server,
                message: format!("{message}; check that the cluster is running and the kubeconfig's server address is reachable"),
                retryable: true,
            },
            KubeError::Invalid { source_ref, message } => ProviderError::config(source_ref, message),
            KubeError::UnknownKind { source_ref, api_version, kind } => ProviderError::config(
                source_ref,
                format!("kind {kind} of apiVersion {api_version} is not served by this cluster; check the spelling, or add the CustomResourceDefinition that defines it to the set (or an earlier stage)"),
            ),
            KubeError::GroupUnavailable { source_ref, kind, group, message } => ProviderError::Api {
                operation: "apply".into(),
                resource: format!("{kind} ({source_ref})"),
                message: format!(
                    "its API group {group} is listed by the API server but does not answer ({message}). An aggregated API answers so while its backend is not ready: `kubectl get apiservices` shows which; run `kat up` again once it is Available"
                ),
                retryable: true,
            },
            KubeError::Conflict { object, source_ref, conflicts } => ProviderError::Api {
                operation: "server-side apply".into(),
                resource: format!("{object} ({source_ref})"),
                message: format!(
                    "{}; another tool manages these fields. Remove them from the manifest, or rerun with --force-conflicts to take them over",
                    describe_conflicts(&conflicts)
                ),
                retryable: false,
            },
            KubeError::Api { operation, object, source_ref, message, retryable } => ProviderError::Api {
                operation,
                resource: format!("{object}{}", source_suffix(&source_ref)),
                message,
                retryable,
            },
            KubeError::Failed { object, message } => ProviderError::api("wait for", object, message),
            KubeError::NotReady { report, after } => ProviderError::Timeout { what: report, after },
            KubeError::Interrupted => ProviderError::Interrupted,
            KubeError::NotOurs { objects } => {
                let key = objects.first().map(|h| h.source_ref.clone()).unwrap_or_default();
                let advice = if objects.iter().any(|h| h.other_environment) {
                    "Two environments cannot share these objects (a blueprint's namespaces belong to one environment in a cluster): tear the other environment down (`kat down --env NAME`), use another cluster, or rerun with --adopt to take them over from it"
                } else {
                    "Rerun with --adopt to take them over (kat then manages them, and `kat down` gives them back without kat's labels instead of deleting them), or delete or rename them first"
                };
                ProviderError::config(key, format!("{}. {advice}", describe_held(&objects)))
            }
            KubeError::Rejected { problems } => {
                let key = problems.first().map(|r| r.source_ref.clone()).unwrap_or_default();
                ProviderError::config(
                    key,
                    format!("{}. Fix the manifests or values named, then run kat up again", describe_rejected(&problems)),
                )
            }
            e @ KubeError::Occupied { .. } => ProviderError::Api {
                operation: "delete".into(),
                resource: "namespaces".into(),
                message: format!(
                    "{e}. Nothing was deleted. Move or delete those objects, or rerun with --force to delete them with the namespace"
                ),
                retryable: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("client error (SendRequest)")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_transport_error_says_its_cause() {
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by peer",
        ));
        assert_eq!(
            error_chain(&e),
            "client error (SendRequest): connection reset by peer"
        );
    }
}
