//! How the web UIs of kat's addons (Grafana, the Kubernetes dashboard) are reached: an Ingress of
//! the nginx class on the environment's ingress host, with a certificate from cert-manager's
//! issuer when there is a host to certify, and the URL shown at the end of `up`.

use kat_provider::{Capabilities, OpContext};
use serde_json::{json, Map, Value};

/// What the environment's ingress looks like, as kat.yaml sets it (the blueprint uses the same).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Exposure {
    /// `addons.ingress-nginx.settings.host` (or cert-manager's); none matches any host.
    pub host: Option<String>,
    /// cert-manager's ClusterIssuer, when cert-manager is enabled.
    pub tls_issuer: Option<String>,
    /// Whether ingress-nginx is enabled (otherwise an Ingress has no controller).
    pub controller: bool,
    /// The IngressClass of a controller the provider's cluster brings instead of kat's
    /// ingress-nginx (microk8s: `public`); none: kat's own, `nginx`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
}

/// The nginx-class Ingress for one path. A certificate is asked for only with a host: an issuer
/// cannot certify "any host", and ingress-nginx then serves its default certificate on 443.
pub fn ingress(
    name: &str,
    namespace: &str,
    path: &str,
    path_type: &str,
    backend: (&str, u16),
    mut annotations: Map<String, Value>,
    exposure: &Exposure,
) -> Value {
    let mut rule = json!({"http": {"paths": [{"path": path, "pathType": path_type,
        "backend": {"service": {"name": backend.0, "port": {"number": backend.1}}}}]}});
    let mut spec = json!({"ingressClassName": exposure.class.as_deref().unwrap_or("nginx")});
    if let Some(host) = &exposure.host {
        rule["host"] = json!(host);
        if let Some(issuer) = &exposure.tls_issuer {
            annotations.insert("cert-manager.io/cluster-issuer".into(), json!(issuer));
            spec["tls"] = json!([{"hosts": [host], "secretName": format!("{name}-tls")}]);
        }
    }
    spec["rules"] = json!([rule]);
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
           "spec": spec})
}

/// The ingress controller's address as its stage recorded it (the load balancer's, else the
/// first address the Kubernetes layer showed for its Service).
pub fn controller_address(cx: &OpContext) -> Option<String> {
    cx.input::<String>("ingress-nginx", "address")
        .ok()
        .or_else(|| {
            // The Kubernetes layer shows each LoadBalancer Service's addresses, comma-separated.
            cx.upstream
                .get("ingress-nginx")?
                .shown
                .get("Service ingress-nginx/ingress-nginx-controller")?
                .split(", ")
                .next()
                .map(str::to_string)
        })
}

/// Where the ingress controller answers, for the URLs shown after `up`: the configured host, else
/// the controller's load-balancer address (an output of the ingress-nginx stage), else its fixed
/// NodePort on single-node clusters. `None` when nothing is known yet.
pub fn base_url(
    exposure: &Exposure,
    caps: &Capabilities,
    cx: &OpContext,
    https: bool,
) -> Option<String> {
    let scheme = if https || exposure.tls_issuer.is_some() && exposure.host.is_some() {
        "https"
    } else {
        "http"
    };
    if let Some(host) = &exposure.host {
        return Some(format!("{scheme}://{host}"));
    }
    if !exposure.controller {
        return None;
    }
    match controller_address(cx) {
        Some(a) => Some(format!("{scheme}://{a}")),
        // The fixed NodePorts of the single-node overlay (overlay.rs).
        None if caps.node_ports() => Some(format!(
            "{scheme}://<node address>:{}",
            if https { 30443 } else { 30080 }
        )),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kat_provider::LoadBalancerKind;
    use kat_provider::{AutoscalerKind, Outputs};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn caps(lb: LoadBalancerKind) -> Capabilities {
        Capabilities {
            creates_cluster: true,
            managed_database: None,
            autoscaler: AutoscalerKind::NotApplicable,
            load_balancer: lb,
            registry: false,
            registry_push: false,
            single_node: false,
            simulated: false,
        }
    }

    fn cx_with_ingress(outputs: Outputs) -> OpContext {
        let mut cx = OpContext::detached("t", "monitoring");
        cx.upstream = Arc::new(BTreeMap::from([("ingress-nginx".to_string(), outputs)]));
        cx
    }

    #[test]
    fn a_host_with_an_issuer_gets_tls_and_no_host_gets_none() {
        let with_host = Exposure {
            host: Some("ws.example.com".into()),
            tls_issuer: Some("kat-ca".into()),
            controller: true,
            class: None,
        };
        let ing = ingress(
            "grafana",
            "monitoring",
            "/g",
            "Prefix",
            ("grafana", 80),
            Map::new(),
            &with_host,
        );
        assert_eq!(ing["spec"]["ingressClassName"], "nginx");
        assert_eq!(ing["spec"]["rules"][0]["host"], "ws.example.com");
        assert_eq!(ing["spec"]["tls"][0]["hosts"][0], "ws.example.com");
        assert_eq!(
            ing["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
            "kat-ca"
        );
        let any_host = Exposure {
            tls_issuer: Some("kat-ca".into()),
            controller: true,
            ..Default::default()
        };
        let ing = ingress(
            "grafana",
            "monitoring",
            "/g",
            "Prefix",
            ("grafana", 80),
            Map::new(),
            &any_host,
        );
        assert!(ing["spec"].get("tls").is_none() && ing["spec"]["rules"][0].get("host").is_none());
    }

    #[test]
    fn the_url_comes_from_the_host_then_the_load_balancer_then_the_node_port() {
        let exposure = Exposure {
            controller: true,
            ..Default::default()
        };
        let mut lb = Outputs::new();
        lb.show(
            "Service ingress-nginx/ingress-nginx-controller",
            "a1.elb.example.com, 10.0.0.1",
        );
        let cx = cx_with_ingress(lb);
        assert_eq!(
            base_url(&exposure, &caps(LoadBalancerKind::AwsNlb), &cx, false).as_deref(),
            Some("http://a1.elb.example.com")
        );
        let mut sim = Outputs::new();
        sim.set("address", "x.lb.sim.kat.local");
        assert_eq!(
            base_url(
                &exposure,
                &caps(LoadBalancerKind::AwsNlb),
                &cx_with_ingress(sim),
                true
            )
            .as_deref(),
            Some("https://x.lb.sim.kat.local")
        );
        let none = cx_with_ingress(Outputs::new());
        assert_eq!(
            base_url(&exposure, &caps(LoadBalancerKind::HostPorts), &none, false).as_deref(),
            Some("http://<node address>:30080")
        );
        assert_eq!(
            base_url(&exposure, &caps(LoadBalancerKind::AwsNlb), &none, false),
            None
        );
        let host = Exposure {
            host: Some("ws.example.com".into()),
            tls_issuer: Some("kat-ca".into()),
            controller: true,
            class: None,
        };
        assert_eq!(
            base_url(&host, &caps(LoadBalancerKind::AwsNlb), &none, false).as_deref(),
            Some("https://ws.example.com")
        );
    }
}
