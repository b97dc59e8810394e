//! kat's declared, provider-specific patches on top of upstream manifests. Each names the object
//! it patches; one that matches nothing is an error (the upstream file changed shape), never a
//! silent no-op.

use kat_provider::{Capabilities, LoadBalancerKind};
use serde_json::{json, Value};

use super::error::AddonError;

#[derive(Debug, Clone, PartialEq)]
pub struct Overlay {
    /// Why it exists, shown in errors.
    pub name: &'static str,
    pub kind: &'static str,
    pub namespace: &'static str,
    pub object: &'static str,
    /// An RFC 7386 JSON merge patch.
    pub patch: Value,
    /// Arguments added to the named container's `args` unless already there: restating the list
    /// would drop what the upstream version passes (metrics-server 0.6 and 0.7 differ).
    pub add_args: Option<(&'static str, &'static [&'static str])>,
}

pub fn overlays_for(addon: &str, caps: &Capabilities) -> Vec<Overlay> {
    let ingress_service = |name, patch| Overlay {
        name,
        kind: "Service",
        namespace: "ingress-nginx",
        object: "ingress-nginx-controller",
        patch,
        add_args: None,
    };
    if caps.node_ports() {
        return match addon {
            "ingress-nginx" => vec![ingress_service(
                "single node: fixed NodePorts 30080/30443, so the URL is known before the Service exists",
                json!({"spec": {"type": "NodePort", "ports": [
                    {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http", "nodePort": 30080, "appProtocol": "http"},
                    {"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https", "nodePort": 30443, "appProtocol": "https"}
                ]}}),
            )],
            "metrics-server" => vec![Overlay {
                name: "local clusters: kubelets serve self-signed certificates",
                kind: "Deployment",
                namespace: "kube-system",
                object: "metrics-server",
                patch: json!({}),
                add_args: Some(("metrics-server", &["--kubelet-insecure-tls"])),
            }],
            _ => vec![],
        };
    }
    match (addon, caps.load_balancer) {
        ("ingress-nginx", LoadBalancerKind::AwsNlb) => vec![ingress_service(
            "eks: internet-facing NLB spread across zones",
            json!({"metadata": {"annotations": {
                "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
                "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true"
            }}}),
        )],
        ("ingress-nginx", LoadBalancerKind::AzureLoadBalancer) => vec![ingress_service(
            "aks: the Azure load balancer probes /healthz (AKS 1.24+ probes / otherwise and marks nginx down)",
            json!({"metadata": {"annotations": {
                "service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path": "/healthz"
            }}}),
        )],
        _ => vec![],
    }
}

/// Applies each overlay to the object it names.
pub fn apply_overlays(
    addon: &str,
    objects: &mut [Value],
    overlays: &[Overlay],
) -> Result<(), AddonError> {
    for o in overlays {
        let target = objects.iter_mut().find(|v| {
            v["kind"] == o.kind
                && v["metadata"]["name"] == o.object
                && v["metadata"]["namespace"] == o.namespace
        });
        match target {
            Some(obj) => {
                merge_containers_by_name(obj, &o.patch);
                if let Some((container, args)) = o.add_args {
                    add_container_args(obj, container, args);
                }
            }
            None => {
                return Err(AddonError::OverlayUnmatched {
                    addon: addon.into(),
                    overlay: o.name.into(),
                    target: format!("{} {}/{}", o.kind, o.namespace, o.object),
                })
            }
        }
    }
    Ok(())
}

fn add_container_args(obj: &mut Value, container: &str, args: &[&str]) {
    let Some(containers) = obj
        .pointer_mut("/spec/template/spec/containers")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for c in containers.iter_mut().filter(|c| c["name"] == container) {
        if !c["args"].is_array() {
            c["args"] = json!([]);
        }
        let list = c["args"].as_array_mut().expect("made an array above");
        for a in args {
            if !list.iter().any(|x| x == a) {
                list.push(json!(a));
            }
        }
    }
}

/// RFC 7386 merge patch, except that a `containers` list is merged by container name (as
/// strategic merge patch does), so a patch can change one container's args without restating the
/// pod.
fn merge_containers_by_name(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, pv) in p {
                if pv.is_null() {
                    t.remove(k);
                } else if k == "containers"
                    && pv.is_array()
                    && t.get(k).is_some_and(Value::is_array)
                {
                    let list = t.get_mut(k).and_then(Value::as_array_mut).expect("checked");
                    for pc in pv.as_array().expect("checked") {
                        match list.iter_mut().find(|c| c["name"] == pc["name"]) {
                            Some(c) => merge_containers_by_name(c, pc),
                            None => list.push(pc.clone()),
                        }
                    }
                } else {
                    merge_containers_by_name(t.entry(k.clone()).or_insert(Value::Null), pv);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kat_provider::AutoscalerKind;

    fn caps(lb: LoadBalancerKind) -> Capabilities {
        Capabilities {
            creates_cluster: true,
            managed_database: None,
            autoscaler: AutoscalerKind::NotApplicable,
            load_balancer: lb,
            registry: false,
            registry_push: false,
            single_node: lb == LoadBalancerKind::HostPorts,
            simulated: false,
        }
    }

    fn controller_service() -> Value {
        json!({"kind": "Service", "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx",
               "annotations": {"keep": "me"}}, "spec": {"type": "LoadBalancer", "ports": []}})
    }

    #[test]
    fn each_provider_gets_its_own_ingress_service() {
        let mut eks = vec![controller_service()];
        apply_overlays(
            "ingress-nginx",
            &mut eks,
            &overlays_for("ingress-nginx", &caps(LoadBalancerKind::AwsNlb)),
        )
        .unwrap();
        assert_eq!(
            eks[0]["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-type"],
            "nlb"
        );
        assert_eq!(eks[0]["metadata"]["annotations"]["keep"], "me");
        assert_eq!(eks[0]["spec"]["type"], "LoadBalancer");

        let mut aks = vec![controller_service()];
        apply_overlays(
            "ingress-nginx",
            &mut aks,
            &overlays_for("ingress-nginx", &caps(LoadBalancerKind::AzureLoadBalancer)),
        )
        .unwrap();
        assert_eq!(
            aks[0]["metadata"]["annotations"]
                ["service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path"],
            "/healthz"
        );

        let mut local = vec![controller_service()];
        apply_overlays(
            "ingress-nginx",
            &mut local,
            &overlays_for("ingress-nginx", &caps(LoadBalancerKind::HostPorts)),
        )
        .unwrap();
        assert_eq!(local[0]["spec"]["type"], "NodePort");
        assert_eq!(local[0]["spec"]["ports"][0]["nodePort"], 30080);
    }

    #[test]
    fn a_container_is_patched_by_name_and_others_kept() {
        let mut objs = vec![
            json!({"kind": "Deployment", "metadata": {"name": "metrics-server", "namespace": "kube-system"},
            "spec": {"template": {"spec": {"containers": [{"name": "metrics-server", "image": "ms:1", "args": ["--a"]}, {"name": "sidecar"}]}}}}),
        ];
        apply_overlays(
            "metrics-server",
            &mut objs,
            &overlays_for("metrics-server", &caps(LoadBalancerKind::HostPorts)),
        )
        .unwrap();
        let containers = objs[0]["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 2);
        assert_eq!(containers[0]["image"], "ms:1");
        // Upstream's own arguments stay (its port differs between versions); the flag is added once.
        assert_eq!(
            containers[0]["args"],
            json!(["--a", "--kubelet-insecure-tls"])
        );
        apply_overlays(
            "metrics-server",
            &mut objs,
            &overlays_for("metrics-server", &caps(LoadBalancerKind::HostPorts)),
        )
        .unwrap();
        assert_eq!(
            objs[0]["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["--a", "--kubelet-insecure-tls"])
        );
    }

    #[test]
    fn a_single_node_cluster_behind_a_kubeconfig_is_treated_as_local() {
        let mut single = caps(LoadBalancerKind::ClusterDefault);
        single.single_node = true;
        let mut svc = vec![controller_service()];
        apply_overlays(
            "ingress-nginx",
            &mut svc,
            &overlays_for("ingress-nginx", &single),
        )
        .unwrap();
        assert_eq!(svc[0]["spec"]["type"], "NodePort");
        assert!(overlays_for("metrics-server", &single)[0]
            .add_args
            .is_some());
        assert!(overlays_for("metrics-server", &caps(LoadBalancerKind::ClusterDefault)).is_empty());
    }

    #[test]
    fn an_overlay_matching_nothing_is_an_error_naming_it() {
        let err = apply_overlays(
            "ingress-nginx",
            &mut [],
            &overlays_for("ingress-nginx", &caps(LoadBalancerKind::AwsNlb)),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("matches no object")
                && err.contains("Service ingress-nginx/ingress-nginx-controller"),
            "{err}"
        );
    }
}
