//! The ClusterIssuer kat creates with cert-manager: Let's Encrypt (HTTP-01 through the nginx
//! ingress class) when the user gives an email and a host, otherwise a CA kat makes in the cluster,
//! so TLS works for local clusters and environments without a public DNS name.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::error::AddonError;

const ALLOWED: &[&str] = &["email", "host", "acme", "issuer"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerKind {
    /// A CA certificate made by cert-manager itself (self-signed root), issuing for any name.
    KatCa,
    /// Let's Encrypt ACME, HTTP-01 solved through ingress-nginx.
    LetsEncrypt { email: String, production: bool },
}

impl IssuerKind {
    pub fn name(&self) -> &'static str {
        match self {
            IssuerKind::KatCa => "kat-ca",
            IssuerKind::LetsEncrypt {
                production: true, ..
            } => "letsencrypt-production",
            IssuerKind::LetsEncrypt {
                production: false, ..
            } => "letsencrypt-staging",
        }
    }
}

fn bad(key: &str, message: String) -> AddonError {
    AddonError::Setting {
        addon: "cert-manager".into(),
        key: key.into(),
        message,
    }
}

/// Reads `addons.cert-manager.settings`.
pub fn issuer_from(settings: &BTreeMap<String, Value>) -> Result<IssuerKind, AddonError> {
    if let Some(k) = settings.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
        return Err(bad(
            k,
            format!("unknown setting `{k}`; allowed: {}", ALLOWED.join(", ")),
        ));
    }
    let text = |k: &str| settings.get(k).and_then(Value::as_str).map(str::to_string);
    let production = match text("acme").as_deref() {
        None | Some("staging") => false,
        Some("production") => true,
        Some(other) => {
            return Err(bad(
                "acme",
                format!("`{other}`; allowed: staging, production"),
            ))
        }
    };
    let email = text("email");
    match text("issuer").as_deref() {
        Some("ca") => Ok(IssuerKind::KatCa),
        Some("letsencrypt") | None if email.is_some() => Ok(IssuerKind::LetsEncrypt {
            email: email.expect("checked"),
            production,
        }),
        Some("letsencrypt") => Err(bad(
            "email",
            "Let's Encrypt needs `email` (and `host` for the certificate)".into(),
        )),
        None => Ok(IssuerKind::KatCa),
        Some(other) => Err(bad(
            "issuer",
            format!("`{other}`; allowed: ca, letsencrypt"),
        )),
    }
}

/// The objects that make the issuer.
pub fn issuer_objects(kind: &IssuerKind) -> Vec<Value> {
    match kind {
        IssuerKind::KatCa => vec![
            json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                   "metadata": {"name": "kat-selfsigned"}, "spec": {"selfSigned": {}}}),
            json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                   "metadata": {"name": "kat-ca", "namespace": "cert-manager"},
                   "spec": {"isCA": true, "commonName": "kat-ca", "secretName": "kat-ca",
                            "privateKey": {"algorithm": "ECDSA", "size": 256},
                            "issuerRef": {"name": "kat-selfsigned", "kind": "ClusterIssuer", "group": "cert-manager.io"}}}),
            json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                   "metadata": {"name": "kat-ca"}, "spec": {"ca": {"secretName": "kat-ca"}}}),
        ],
        IssuerKind::LetsEncrypt { email, production } => {
            let server = if *production {
                "https://acme-v02.api.letsencrypt.org/directory"
            } else {
                "https://acme-staging-v02.api.letsencrypt.org/directory"
            };
            vec![
                json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                "metadata": {"name": kind.name()},
                "spec": {"acme": {"server": server, "email": email,
                                  "privateKeySecretRef": {"name": format!("{}-account", kind.name())},
                                  "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]}}}),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect()
    }

    #[test]
    fn no_email_means_a_kat_made_ca() {
        let kind = issuer_from(&settings(&[])).unwrap();
        assert_eq!(kind, IssuerKind::KatCa);
        let objs = issuer_objects(&kind);
        assert_eq!(objs.last().unwrap()["spec"]["ca"]["secretName"], "kat-ca");
    }

    #[test]
    fn an_email_means_lets_encrypt_staging_unless_production_is_asked() {
        let staging = issuer_from(&settings(&[("email", "a@b.c"), ("host", "app.b.c")])).unwrap();
        assert_eq!(staging.name(), "letsencrypt-staging");
        let objs = issuer_objects(&staging);
        assert!(objs[0]["spec"]["acme"]["server"]
            .as_str()
            .unwrap()
            .contains("acme-staging"));
        assert_eq!(
            objs[0]["spec"]["acme"]["solvers"][0]["http01"]["ingress"]["ingressClassName"],
            "nginx"
        );
        let prod = issuer_from(&settings(&[("email", "a@b.c"), ("acme", "production")])).unwrap();
        assert_eq!(prod.name(), "letsencrypt-production");
    }

    #[test]
    fn bad_settings_are_named() {
        let err = issuer_from(&settings(&[("emial", "x")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown setting `emial`") && err.contains("allowed: email"),
            "{err}"
        );
        let err = issuer_from(&settings(&[("acme", "prod")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("allowed: staging, production"), "{err}");
        let err = issuer_from(&settings(&[("issuer", "letsencrypt")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs `email`"), "{err}");
    }
}
