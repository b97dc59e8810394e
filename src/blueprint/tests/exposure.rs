//! How each app is reached, and the namespaces and API versions it uses.

use super::support::*;
use crate::blueprint::ApiVersions;

#[test]
fn voting_app_uses_node_ports_on_one_node_and_ingress_otherwise() {
    let single = objects("voting-app", &context("in-cluster", true));
    assert!(kind(&single, "Ingress").is_empty());
    for name in ["vote", "result"] {
        let svc = named(&single, "Service", name).unwrap();
        assert_eq!(svc["spec"]["type"], "NodePort", "{name}");
        assert!(svc["spec"]["ports"][0]["nodePort"].is_u64(), "{name}");
    }
    for name in ["redis", "db"] {
        assert_eq!(
            named(&single, "Service", name).unwrap()["spec"]["type"],
            "ClusterIP"
        );
    }

    let multi = objects("voting-app", &context("in-cluster", false));
    let ingress = &kind(&multi, "Ingress")[0];
    let backends: Vec<&str> = ingress["spec"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["http"]["paths"][0]["backend"]["service"]["name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(backends, ["vote", "result"]);
    for svc in kind(&multi, "Service") {
        assert_eq!(svc["spec"]["type"], "ClusterIP");
    }
    assert!(named(&multi, "Service", "worker").is_none());
}

#[test]
fn ratings_hpa_uses_the_discovered_api_version() {
    for hpa_api in ["autoscaling/v2", "autoscaling/v2beta2"] {
        let mut cx = context("in-cluster", false);
        cx.api = ApiVersions {
            hpa: hpa_api.into(),
            pdb: "policy/v1".into(),
        };
        let objects = objects("ratings", &cx);
        let hpa = named(&objects, "HorizontalPodAutoscaler", "ratings-api").expect("hpa");
        assert_eq!(hpa["apiVersion"], hpa_api);
        assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "ratings-api");
        let target = &hpa["spec"]["metrics"][0]["resource"]["target"];
        assert_eq!(target["type"], "Utilization");
        // The workshop's ratings-api-hpa.yaml: 1 to 10 pods at 30% CPU.
        assert_eq!(target["averageUtilization"], 30);
        assert_eq!(hpa["spec"]["maxReplicas"], 10);
    }
}

#[test]
fn ratings_ingress_has_tls_from_the_issuer() {
    let objects = objects("ratings", &context("in-cluster", false));
    let ingress = named(&objects, "Ingress", "ratings-web").unwrap();
    assert_eq!(
        ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
        "letsencrypt"
    );
    assert_eq!(ingress["spec"]["tls"][0]["hosts"][0], "app.example.test");
    assert_eq!(ingress["spec"]["rules"][0]["host"], "app.example.test");
}

#[test]
fn todo_uses_namespaces_fe_be_pg() {
    let objects = objects("todo", &context("in-cluster", false));
    let ns: Vec<&str> = kind(&objects, "Namespace")
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(ns, ["fe", "be", "pg"]);
    assert_eq!(
        namespace_of(named(&objects, "Deployment", "frontend").unwrap()),
        "fe"
    );
    assert_eq!(
        namespace_of(named(&objects, "Deployment", "api").unwrap()),
        "be"
    );
    assert_eq!(
        namespace_of(named(&objects, "StatefulSet", "postgres").unwrap()),
        "pg"
    );
    let paths: Vec<&str> = kind(&objects, "Ingress")
        .iter()
        .map(|i| {
            i["spec"]["rules"][0]["http"]["paths"][0]["path"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(paths, ["/frontend", "/djangoapi"]);
}

#[test]
fn fastapi_react_proxy_routes_root_and_api_behind_a_load_balancer() {
    let objects = objects("fastapi-react", &context("in-cluster", false));
    assert_eq!(
        named(&objects, "Service", "proxy").unwrap()["spec"]["type"],
        "LoadBalancer"
    );
    let conf = named(&objects, "ConfigMap", "proxy").unwrap()["data"]["default.conf"]
        .as_str()
        .unwrap();
    assert!(
        conf.contains("location /api {\n    proxy_pass http://backend."),
        "{conf}"
    );
    assert!(
        conf.contains("location / {\n    proxy_pass http://frontend."),
        "{conf}"
    );
    // FastAPI's own documentation pages, which the SPA would answer with its 404.
    assert!(
        conf.contains("location ~ ^/(docs|redoc) {\n    proxy_pass http://backend."),
        "{conf}"
    );
    let backend = named(&objects, "Deployment", "backend").unwrap();
    // The init container and the server share one env list through a YAML anchor.
    let pod = &backend["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["env"], pod["initContainers"][0]["env"]);
    assert_eq!(pod["containers"][0]["env"][0]["name"], "POSTGRES_SERVER");
    assert!(
        backend["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .starts_with("123456789012.dkr.ecr.eu-west-1.amazonaws.com/")
    );
}

#[test]
fn nanomon_routes_frontend_and_api_through_ingress() {
    let objects = objects("nanomon", &context("in-cluster", false));
    let ingress = named(&objects, "Ingress", "nanomon").unwrap();
    let paths = ingress["spec"]["rules"][0]["http"]["paths"]
        .as_array()
        .unwrap();
    let routes: Vec<(&str, &str)> = paths
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap(),
                p["backend"]["service"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(routes, [("/api", "api"), ("/", "frontend")]);
    assert!(named(&objects, "Service", "runner").is_none());
}

#[test]
fn every_autoscaled_component_has_an_hpa_that_owns_its_replicas() {
    let mut autoscaled = 0;
    for bp in BUILTINS {
        let info = crate::blueprint::load(bp).unwrap().info().clone();
        for cx in variants(bp) {
            let objects = objects(bp, &cx);
            for c in info.components.iter().filter(|c| c.autoscaling.is_some()) {
                autoscaled += 1;
                let scaling = c.autoscaling.as_ref().unwrap();
                let hpa = named(&objects, "HorizontalPodAutoscaler", &c.name)
                    .unwrap_or_else(|| panic!("{bp}: {} declares autoscaling, no HPA", c.name));
                assert_eq!(hpa["spec"]["minReplicas"], scaling.min_replicas, "{bp}");
                assert_eq!(hpa["spec"]["maxReplicas"], scaling.max_replicas, "{bp}");
                let target = hpa["spec"]["scaleTargetRef"]["name"].as_str().unwrap();
                let workload = workloads(&objects)
                    .into_iter()
                    .find(|w| w["metadata"]["name"] == target)
                    .unwrap_or_else(|| panic!("{bp}: the HPA targets {target}, not rendered"));
                // kat setting replicas would fight the HPA on every `up`.
                assert!(
                    workload["spec"].get("replicas").is_none(),
                    "{bp}: {target} sets replicas under an HPA"
                );
            }
        }
    }
    assert!(autoscaled > 0, "no builtin declares autoscaling");
}
