//! Admission webhooks between kat and the objects they intercept. An object a webhook intercepts is
//! refused (`failurePolicy: Fail`) or let through unchecked (`Ignore`) while the webhook cannot be
//! called, and "its pods are Ready" is not "it can be called": the Service needs a ready endpoint,
//! and the webhook configuration needs the CA bundle that cert-manager's cainjector (or a chart's
//! patch Job) writes into it some seconds later (cert-manager issues 1873, 2908, 3045). So kat waits
//! for both, and still retries, for a bounded time, a request refused with "failed calling webhook".

use std::time::Duration;

use kat_provider::OpContext;
use kube::api::ListParams;
use serde_json::Value;

use super::apply::{self, apply_one, Prepared};
use super::client::KubeWorkloads;
use super::diagnose::explain;
use super::error::KubeError;
use super::inventory::ObjectRef;
use super::labels::env_selector;
use super::marks::WriteMark;
use super::wait::{self, waits_for};
use super::workloads::guard;

const WEBHOOK_GROUP: &str = "admissionregistration.k8s.io";
const CONFIG_KINDS: [&str; 2] = [
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
];

pub fn is_webhook_config(r: &ObjectRef) -> bool {
    r.group() == WEBHOOK_GROUP && CONFIG_KINDS.contains(&r.kind.as_str())
}

/// A Service-backed webhook: the configuration that holds it, the Service it calls and the API
/// groups/resources it intercepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub config: ObjectRef,
    pub name: String,
    pub service_namespace: String,
    pub service_name: String,
    /// (apiGroups, resources) of each rule; `*` matches all.
    pub rules: Vec<(Vec<String>, Vec<String>)>,
    /// The configuration names no CA bundle itself: someone (cainjector, a patch Job) will write it,
    /// and until then the API server cannot verify the webhook's certificate.
    pub ca_injected: bool,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn has_ca_bundle(hook: &Value) -> bool {
    hook.pointer("/clientConfig/caBundle")
        .and_then(Value::as_str)
        .is_some_and(|b| !b.is_empty())
}

fn service_backed(config: &Value) -> impl Iterator<Item = &Value> {
    config
        .get("webhooks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|h| h.pointer("/clientConfig/service").is_some())
}

/// The Service-backed webhooks of the webhook configurations among `objects`.
pub fn webhooks(objects: &[(ObjectRef, &Value)]) -> Vec<Webhook> {
    let mut out = Vec::new();
    for (r, obj) in objects.iter().filter(|(r, _)| is_webhook_config(r)) {
        for hook in service_backed(obj) {
            let svc = &hook["clientConfig"]["service"];
            let text = |v: &Value, default: &str| v.as_str().unwrap_or(default).to_string();
            out.push(Webhook {
                config: r.clone(),
                name: text(&hook["name"], ""),
                service_namespace: text(&svc["namespace"], "default"),
                service_name: text(&svc["name"], ""),
                rules: hook
                    .get("rules")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|rule| {
                        (
                            strings(rule.get("apiGroups")),
                            strings(rule.get("resources")),
                        )
                    })
                    .collect(),
                ca_injected: !has_ca_bundle(hook),
            });
        }
    }
    out
}

/// Whether a rule's resource pattern covers `resource` (a plural, no subresource): `*` is every
/// resource, `*/*` every resource and subresource, `pods/*` a resource with its subresources.
fn resource_matches(pattern: &str, resource: &str) -> bool {
    match pattern.split_once('/') {
        None => pattern == "*" || pattern == resource,
        Some((res, _)) => res == "*" || res == resource,
    }
}

impl Webhook {
    /// Whether creating `r` (of the plural `resource`) goes through this webhook. A rule for every
    /// group spares the webhook's own namespace: its backend lives there and must not wait for
    /// itself. A rule naming its groups intercepts there too (cert-manager's own CA Certificate).
    pub fn intercepts(&self, r: &ObjectRef, resource: &str) -> bool {
        if is_webhook_config(r) {
            return false;
        }
        let own_namespace = r.namespace.as_deref() == Some(self.service_namespace.as_str());
        let group = r.group();
        self.rules.iter().any(|(groups, resources)| {
            let any_group = groups.iter().any(|g| g == "*");
            (any_group || groups.iter().any(|g| g == group))
                && !(any_group && own_namespace)
                && resources.iter().any(|p| resource_matches(p, resource))
        })
    }
}

/// Every Service-backed webhook of `config` has its CA bundle.
pub fn ca_bundle_present(config: &Value) -> bool {
    service_backed(config).all(has_ca_bundle)
}

/// A request the API server refused because it could not call a webhook (not yet serving, its
/// certificate not yet trusted): worth retrying while the webhook comes up.
pub fn is_webhook_refusal(e: &KubeError) -> bool {
    match e {
        KubeError::Api { message, .. } => message.contains("failed calling webhook"),
        _ => false,
    }
}

impl KubeWorkloads {
    /// Webhooks this environment's earlier stages installed (ingress-nginx's admission webhook,
    /// cert-manager's), which intercept this set's objects as much as its own would. Other tools'
    /// webhooks are not kat's to wait for.
    pub(crate) async fn installed_webhooks(
        &self,
        in_set: &[Webhook],
    ) -> Result<Vec<Webhook>, KubeError> {
        let mut found = Vec::new();
        for kind in CONFIG_KINDS {
            let api_version = format!("{WEBHOOK_GROUP}/v1");
            let Some(resolved) = self.discovery.resolve(&api_version, kind).await else {
                continue;
            };
            let api = apply::api_for(&self.client, &resolved, None);
            let list = api
                .list(&ListParams::default().labels(&env_selector(&self.env)))
                .await
                .map_err(|e| {
                    let r = ObjectRef {
                        api_version: api_version.clone(),
                        kind: kind.to_string(),
                        namespace: None,
                        name: String::new(),
                    };
                    KubeError::api("list", &r, None, e)
                })?;
            for item in list.items {
                let r = ObjectRef {
                    api_version: api_version.clone(),
                    kind: kind.to_string(),
                    namespace: None,
                    name: item.metadata.name.clone().unwrap_or_default(),
                };
                if in_set
                    .iter()
                    .any(|h| h.config.name == r.name && h.config.kind == r.kind)
                {
                    continue;
                }
                let value = serde_json::to_value(&item).unwrap_or(Value::Null);
                found.extend(webhooks(&[(r, &value)]));
            }
        }
        Ok(found)
    }

    /// Waits until each webhook can be called: its Service has a ready endpoint and, where the CA
    /// bundle is injected, the configuration carries it.
    pub(crate) async fn wait_webhooks(
        &self,
        hooks: &[Webhook],
        live: &[(Prepared, Value)],
        cx: &OpContext,
    ) -> Result<(), KubeError> {
        let Some(endpoints) = self.discovery.resolve("v1", "Endpoints").await else {
            return Ok(());
        };
        for h in hooks {
            let r = ObjectRef {
                api_version: "v1".into(),
                kind: "Endpoints".into(),
                namespace: Some(h.service_namespace.clone()),
                name: h.service_name.clone(),
            };
            let what = format!(
                "webhook Service {}/{} (called by {}) to have a ready endpoint",
                h.service_namespace, h.service_name, h.config
            );
            cx.step(format!("waiting for {what}"));
            let ready = wait::watch_until(&self.client, &endpoints, &r, |o| {
                o.filter(|o| wait::endpoints_ready(o)).map(|_| ())
            });
            match guard(cx, &what, ready).await {
                Ok(()) => {}
                Err(KubeError::NotReady { report, after }) => {
                    // The backend is most likely a workload of the set in the Service's namespace.
                    let mut parts = vec![report];
                    for (p, _) in live.iter().filter(|(p, v)| {
                        p.r.namespace.as_deref() == Some(h.service_namespace.as_str())
                            && waits_for(&p.r, v)
                    }) {
                        if let Some(resolved) = &p.resolved {
                            parts.push(explain(&self.client, resolved, &p.r).await);
                        }
                    }
                    return Err(KubeError::NotReady {
                        report: parts.join(" | "),
                        after,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        for config in unique_injected(hooks) {
            let Some(resolved) = self
                .discovery
                .resolve(&config.api_version, &config.kind)
                .await
            else {
                continue;
            };
            let what = format!(
                "the CA bundle to be injected into {config} (by cert-manager's cainjector or the addon's patch Job)"
            );
            cx.step(format!("waiting for {what}"));
            let injected = wait::watch_until(&self.client, &resolved, config, |o| {
                o.filter(|o| ca_bundle_present(o)).map(|_| ())
            });
            guard(cx, &what, injected).await?;
        }
        Ok(())
    }

    /// Applies an object a webhook intercepts, retrying while the API server cannot call the
    /// webhook, for at most `ApplyOptions::webhook_retry` (and never past the stage deadline).
    pub(crate) async fn apply_through_webhook(
        &self,
        p: &Prepared,
        force: bool,
        before: Option<&WriteMark>,
        cx: &OpContext,
    ) -> Result<apply::Outcome, KubeError> {
        let until = tokio::time::Instant::now() + self.opts.webhook_retry;
        let mut pause = Duration::from_millis(250);
        loop {
            match apply_one(&self.client, p, force, before).await {
                Err(e) if is_webhook_refusal(&e) && tokio::time::Instant::now() + pause < until => {
                    cx.step(format!("{} refused by a webhook, retrying: {e}", p.r));
                    // Past the deadline the refusal says more than "timed out".
                    cx.sleep(pause, &format!("applying {}", p.r))
                        .await
                        .map_err(|stop| match stop {
                            kat_provider::ProviderError::Interrupted => KubeError::Interrupted,
                            _ => e,
                        })?;
                    pause = (pause * 2).min(Duration::from_secs(4));
                }
                other => return other,
            }
        }
    }
}

fn unique_injected(hooks: &[Webhook]) -> Vec<&ObjectRef> {
    let mut out: Vec<&ObjectRef> = Vec::new();
    for h in hooks.iter().filter(|h| h.ca_injected) {
        if !out.contains(&&h.config) {
            out.push(&h.config);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(api_version: &str, kind: &str, ns: Option<&str>) -> ObjectRef {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: ns.map(str::to_string),
            name: "x".into(),
        }
    }

    fn vwc() -> ObjectRef {
        r(
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
            None,
        )
    }

    /// cert-manager's own validating webhook, as its release manifest declares it.
    fn cert_manager() -> Value {
        json!({"metadata": {"annotations": {"cert-manager.io/inject-ca-from-secret": "cert-manager/cert-manager-webhook-ca"}},
               "webhooks": [{"name": "webhook.cert-manager.io",
                 "clientConfig": {"service": {"namespace": "cert-manager", "name": "cert-manager-webhook", "path": "/validate"}},
                 "rules": [{"apiGroups": ["cert-manager.io", "acme.cert-manager.io"], "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"], "resources": ["*/*"]}]}]})
    }

    #[test]
    fn cert_manager_intercepts_its_kinds_everywhere_even_its_own_namespace() {
        let cfg = cert_manager();
        let hooks = webhooks(&[(vwc(), &cfg)]);
        assert_eq!(hooks.len(), 1);
        assert!(hooks[0].ca_injected);
        let issuer = r("cert-manager.io/v1", "ClusterIssuer", None);
        assert!(hooks[0].intercepts(&issuer, "clusterissuers"));
        let own_ca = r("cert-manager.io/v1", "Certificate", Some("cert-manager"));
        assert!(hooks[0].intercepts(&own_ca, "certificates"));
        let deployment = r("apps/v1", "Deployment", Some("cert-manager"));
        assert!(!hooks[0].intercepts(&deployment, "deployments"));
    }

    #[test]
    fn a_rule_for_every_group_spares_the_backend_namespace() {
        let cfg = json!({"webhooks": [{"clientConfig": {"service": {"namespace": "policy", "name": "hook"}, "caBundle": "Zm9v"},
            "rules": [{"apiGroups": ["*"], "resources": ["*"]}]}]});
        let hooks = webhooks(&[(vwc(), &cfg)]);
        assert!(!hooks[0].ca_injected);
        assert!(!hooks[0].intercepts(&r("apps/v1", "Deployment", Some("policy")), "deployments"));
        assert!(hooks[0].intercepts(&r("apps/v1", "Deployment", Some("app")), "deployments"));
        assert!(!hooks[0].intercepts(&vwc(), "validatingwebhookconfigurations"));
    }

    #[test]
    fn resource_patterns() {
        assert!(resource_matches("*", "pods"));
        assert!(resource_matches("*/*", "pods"));
        assert!(resource_matches("pods/*", "pods"));
        assert!(resource_matches("pods", "pods"));
        assert!(!resource_matches("configmaps", "pods"));
        assert!(!resource_matches("pods/status", "secrets"));
    }

    #[test]
    fn ca_bundle_presence_counts_every_service_webhook() {
        let mut cfg = cert_manager();
        assert!(!ca_bundle_present(&cfg));
        cfg["webhooks"][0]["clientConfig"]["caBundle"] = json!("");
        assert!(!ca_bundle_present(&cfg));
        cfg["webhooks"][0]["clientConfig"]["caBundle"] = json!("LS0tLS1CRUdJTg==");
        assert!(ca_bundle_present(&cfg));
        // A URL webhook has no in-cluster CA to wait for.
        let url = json!({"webhooks": [{"clientConfig": {"url": "https://hooks.example.com"}}]});
        assert!(ca_bundle_present(&url));
        assert!(webhooks(&[(vwc(), &url)]).is_empty());
    }

    #[test]
    fn only_failed_webhook_calls_are_retried() {
        let api = |message: &str| KubeError::Api {
            operation: "server-side apply".into(),
            object: "ClusterIssuer/kat-ca".into(),
            source_ref: None,
            message: message.into(),
            retryable: true,
        };
        assert!(is_webhook_refusal(&api(
            "Internal error occurred: failed calling webhook \"webhook.cert-manager.io\": Post \"https://cert-manager-webhook.cert-manager.svc:443/mutate?timeout=10s\": x509: certificate signed by unknown authority"
        )));
        assert!(!is_webhook_refusal(&api("admission webhook \"webhook.cert-manager.io\" denied the request: spec.ca.secretName: Required value")));
        assert!(!is_webhook_refusal(&KubeError::Interrupted));
    }
}
