//! What kat adds to the upstream Kubernetes dashboard (v2 `recommended.yaml`, applied as fetched):
//! an Ingress that serves it at `/dashboard`, and a ServiceAccount to sign in with.
//!
//! - The dashboard serves only HTTPS (its own certificate) on Service port 443, at `/`: nginx
//!   talks HTTPS to it and strips `/dashboard` (a regex path with a rewrite; the page uses
//!   relative links, so `/dashboard/` works). The dashboard refuses to sign in over plain HTTP,
//!   so HTTP is redirected to HTTPS.
//! - Signing in: the ServiceAccount `kat-dashboard` (ClusterRole `view` by default, `cluster-admin`
//!   with `settings.access: admin`). Its token is asked for when needed, short-lived
//!   (`kubectl create token`, Kubernetes 1.24+), rather than kept in a long-lived token Secret:
//!   nothing to leak, and no race with the token controller, which deletes a token Secret applied
//!   before its ServiceAccount exists. kat never reads nor prints a token; the outputs show the
//!   command.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::error::AddonError;
use super::expose::{self, Exposure};

pub const NAMESPACE: &str = "kubernetes-dashboard";
pub const PATH: &str = "/dashboard";
pub const ACCOUNT: &str = "kat-dashboard";

/// The upstream Service and its port.
const UPSTREAM_SERVICE: (&str, u16) = ("kubernetes-dashboard", 443);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    View,
    Admin,
}

impl Access {
    fn cluster_role(self) -> &'static str {
        match self {
            Access::View => "view",
            Access::Admin => "cluster-admin",
        }
    }
}

/// Reads `addons.dashboard.settings`.
pub fn access_from(settings: &BTreeMap<String, Value>) -> Result<Access, AddonError> {
    let bad = |key: &str, message: String| AddonError::Setting {
        addon: "dashboard".into(),
        key: key.into(),
        message,
    };
    if let Some(k) = settings.keys().find(|k| k.as_str() != "access") {
        return Err(bad(k, format!("unknown setting `{k}`; allowed: access")));
    }
    match settings.get("access").map(|v| v.as_str()) {
        None | Some(Some("view")) => Ok(Access::View),
        Some(Some("admin")) => Ok(Access::Admin),
        Some(other) => Err(bad(
            "access",
            format!(
                "`{}`; allowed: view, admin",
                other.map_or_else(|| settings["access"].to_string(), str::to_string)
            ),
        )),
    }
}

pub fn extra_objects(access: Access, exposure: &Exposure) -> Vec<Value> {
    let mut annotations = Map::new();
    for (k, v) in [
        ("nginx.ingress.kubernetes.io/backend-protocol", "HTTPS"),
        ("nginx.ingress.kubernetes.io/use-regex", "true"),
        ("nginx.ingress.kubernetes.io/rewrite-target", "/$2"),
        ("nginx.ingress.kubernetes.io/force-ssl-redirect", "true"),
    ] {
        annotations.insert(k.into(), json!(v));
    }
    vec![
        expose::ingress(
            "kubernetes-dashboard",
            NAMESPACE,
            &format!("{PATH}(/|$)(.*)"),
            "ImplementationSpecific",
            UPSTREAM_SERVICE,
            annotations,
            exposure,
        ),
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": ACCOUNT, "namespace": NAMESPACE}}),
        // Named by role: a binding's roleRef cannot change, so another access is another binding
        // (and the old one is pruned).
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": format!("{ACCOUNT}-{}", access.cluster_role())},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": access.cluster_role()},
               "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}]}),
    ]
}

/// How to get a sign-in token, without kat ever holding one.
pub fn token_command() -> String {
    format!("kubectl -n {NAMESPACE} create token {ACCOUNT}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn the_ingress_rewrites_dashboard_to_the_https_backend() {
        let objs = extra_objects(Access::View, &Exposure::default());
        let ing = &objs[0];
        assert_eq!(ing["kind"], "Ingress");
        assert_eq!(ing["metadata"]["namespace"], NAMESPACE);
        let a = &ing["metadata"]["annotations"];
        assert_eq!(a["nginx.ingress.kubernetes.io/backend-protocol"], "HTTPS");
        assert_eq!(a["nginx.ingress.kubernetes.io/rewrite-target"], "/$2");
        assert_eq!(a["nginx.ingress.kubernetes.io/use-regex"], "true");
        let path = &ing["spec"]["rules"][0]["http"]["paths"][0];
        assert_eq!(path["path"], "/dashboard(/|$)(.*)");
        assert_eq!(path["pathType"], "ImplementationSpecific");
        assert_eq!(path["backend"]["service"]["name"], "kubernetes-dashboard");
        assert_eq!(path["backend"]["service"]["port"]["number"], 443);
    }

    #[test]
    fn sign_in_is_a_service_account_with_the_role_asked_for_and_no_stored_token() {
        let objs = extra_objects(Access::View, &Exposure::default());
        let binding = objs
            .iter()
            .find(|o| o["kind"] == "ClusterRoleBinding")
            .unwrap();
        assert_eq!(binding["roleRef"]["name"], "view");
        assert_eq!(binding["subjects"][0]["name"], ACCOUNT);
        assert!(objs.iter().all(|o| o["kind"] != "Secret"));
        let admin = extra_objects(
            access_from(&settings(&[("access", json!("admin"))])).unwrap(),
            &Exposure::default(),
        );
        assert!(admin
            .iter()
            .any(|o| o["roleRef"]["name"] == "cluster-admin"));
        assert_eq!(
            token_command(),
            "kubectl -n kubernetes-dashboard create token kat-dashboard"
        );
    }

    #[test]
    fn bad_settings_are_named() {
        assert_eq!(access_from(&settings(&[])).unwrap(), Access::View);
        let err = access_from(&settings(&[("access", json!("root"))]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("addons.dashboard.settings.access") && err.contains("view, admin"),
            "{err}"
        );
        let err = access_from(&settings(&[("acess", json!("admin"))]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown setting `acess`"), "{err}");
    }
}
