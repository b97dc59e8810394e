use serde_json::Value;

use super::*;

const PASSWORD: &str = "s3cret-Pa55word-for-test";

fn rendered(exposure: &Exposure, blueprint: Option<&BlueprintRef>) -> Vec<Value> {
    render(&Inputs {
        release: Release::of("2.55.1").unwrap(),
        exposure,
        blueprint,
        admin_password: PASSWORD,
    })
}

fn todo() -> BlueprintRef {
    BlueprintRef {
        name: "todo".into(),
        namespaces: vec!["fe".into(), "be".into(), "pg".into()],
    }
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn env_of<'a>(deploy: &'a Value, name: &str) -> &'a Value {
    deploy["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no env {name}"))
}

#[test]
fn everything_is_namespaced_in_monitoring_and_images_are_pinned() {
    let objs = rendered(&Exposure::default(), None);
    for o in &objs {
        let cluster_scoped = matches!(
            o["kind"].as_str().unwrap(),
            "Namespace" | "ClusterRole" | "ClusterRoleBinding"
        );
        assert!(
            cluster_scoped || o["metadata"]["namespace"] == NAMESPACE,
            "{o}"
        );
    }
    let images: Vec<_> = crate::addons::images_of(objs.iter()).into_iter().collect();
    assert_eq!(
        images,
        vec![
            "docker.io/grafana/grafana:11.3.1",
            "quay.io/prometheus/prometheus:v2.55.1"
        ]
    );
    assert_eq!(images, {
        let mut i = Release::of("2.55.1").unwrap().images();
        i.sort();
        i
    });
}

#[test]
fn every_container_has_probes_resources_and_runs_as_non_root() {
    let objs = rendered(&Exposure::default(), None);
    let deployments: Vec<_> = objs.iter().filter(|o| o["kind"] == "Deployment").collect();
    assert_eq!(deployments.len(), 2);
    for d in deployments {
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{d}");
        assert_ne!(pod["securityContext"]["runAsUser"], 0);
        for c in pod["containers"].as_array().unwrap() {
            for probe in ["readinessProbe", "livenessProbe"] {
                assert!(c[probe]["httpGet"]["path"].is_string(), "{probe} of {c}");
            }
            for r in ["requests", "limits"] {
                assert!(c["resources"][r]["memory"].is_string(), "{r} of {c}");
                assert!(c["resources"][r]["cpu"].is_string(), "{r} of {c}");
            }
            assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
            assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        }
    }
}

#[test]
fn prometheus_discovers_through_the_api_and_may_read_what_it_scrapes() {
    let objs = rendered(&Exposure::default(), None);
    let config: Value = serde_yaml_ng::from_str(
        find(&objs, "ConfigMap", "prometheus-config")["data"]["prometheus.yml"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let jobs: Vec<&str> = config["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_name"].as_str().unwrap())
        .collect();
    for job in [
        "kubernetes-apiservers",
        "kubernetes-nodes",
        "kubernetes-cadvisor",
        "kubernetes-pods",
    ] {
        assert!(jobs.contains(&job), "{jobs:?}");
    }
    let cadvisor = config["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "kubernetes-cadvisor")
        .unwrap();
    assert!(cadvisor["relabel_configs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["replacement"] == "/api/v1/nodes/$1/proxy/metrics/cadvisor"));
    let pods = config["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "kubernetes-pods")
        .unwrap();
    assert_eq!(
        pods["relabel_configs"][0]["source_labels"][0],
        "__meta_kubernetes_pod_annotation_prometheus_io_scrape"
    );
    let role = find(&objs, "ClusterRole", "kat-monitoring-prometheus");
    let resources = &role["rules"][0]["resources"];
    for r in ["nodes/proxy", "pods", "endpoints"] {
        assert!(resources.as_array().unwrap().contains(&json!(r)), "{r}");
    }
    let binding = find(&objs, "ClusterRoleBinding", "kat-monitoring-prometheus");
    assert_eq!(binding["subjects"][0]["namespace"], NAMESPACE);
    let deploy = find(&objs, "Deployment", "prometheus");
    assert_eq!(
        deploy["spec"]["template"]["spec"]["serviceAccountName"],
        "prometheus"
    );
    assert!(deploy["spec"]["template"]["spec"]["volumes"][1]["emptyDir"]["sizeLimit"].is_string());
}

#[test]
fn grafana_serves_from_its_sub_path_behind_the_ingress() {
    let exposure = Exposure {
        host: Some("ws.example.com".into()),
        controller: true,
        ..Default::default()
    };
    let objs = rendered(&exposure, None);
    let deploy = find(&objs, "Deployment", "grafana");
    assert_eq!(
        env_of(deploy, "GF_SERVER_ROOT_URL")["value"],
        "%(protocol)s://%(domain)s/monitoring-grafana/"
    );
    assert_eq!(
        env_of(deploy, "GF_SERVER_SERVE_FROM_SUB_PATH")["value"],
        "true"
    );
    assert_eq!(
        env_of(deploy, "GF_SERVER_DOMAIN")["value"],
        "ws.example.com"
    );
    let c = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["readinessProbe"]["httpGet"]["path"],
        "/monitoring-grafana/api/health"
    );
    let ing = find(&objs, "Ingress", "grafana");
    assert_eq!(ing["spec"]["ingressClassName"], "nginx");
    let path = &ing["spec"]["rules"][0]["http"]["paths"][0];
    assert_eq!(path["path"], GRAFANA_PATH);
    assert_eq!(path["pathType"], "Prefix");
    assert_eq!(path["backend"]["service"]["name"], "grafana");
    let svc = find(&objs, "Service", "grafana");
    assert_eq!(
        svc["spec"]["ports"][0]["port"],
        path["backend"]["service"]["port"]["number"]
    );
    assert!(
        ing["metadata"]["annotations"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.contains("rewrite")),
        "Grafana serves the sub-path itself"
    );
}

#[test]
fn grafana_has_prometheus_as_its_data_source_and_both_dashboards() {
    let bp = todo();
    let objs = rendered(&Exposure::default(), Some(&bp));
    let ds: Value = serde_yaml_ng::from_str(
        find(&objs, "ConfigMap", "grafana-datasources")["data"]["datasources.yaml"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        ds["datasources"][0]["url"],
        "http://prometheus.monitoring.svc:9090"
    );
    let prom_svc = find(&objs, "Service", "prometheus");
    assert_eq!(prom_svc["spec"]["ports"][0]["port"], 9090);

    let boards = &find(&objs, "ConfigMap", "grafana-dashboards")["data"];
    let cluster: Value = serde_json::from_str(boards["cluster.json"].as_str().unwrap()).unwrap();
    let exprs = |b: &Value| -> Vec<String> {
        b["panels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["targets"][0]["expr"].as_str().unwrap().to_string())
            .collect()
    };
    let all = exprs(&cluster).join("\n");
    assert!(
        all.contains(r#"{id="/"}"#) && all.contains("by (namespace)"),
        "{all}"
    );

    let blueprint: Value =
        serde_json::from_str(boards["blueprint.json"].as_str().unwrap()).unwrap();
    assert_eq!(blueprint["title"], "Blueprint: todo");
    let var = &blueprint["templating"]["list"][0];
    assert_eq!(var["query"], "fe,be,pg");
    assert_eq!(var["allValue"], "fe|be|pg");
    assert!(exprs(&blueprint)
        .iter()
        .all(|e| e.contains(r#"namespace=~"$namespace""#)));
    for b in [&cluster, &blueprint] {
        for p in b["panels"].as_array().unwrap() {
            assert_eq!(p["datasource"]["uid"], ds["datasources"][0]["uid"]);
        }
    }

    let without = rendered(&Exposure::default(), None);
    let boards = &find(&without, "ConfigMap", "grafana-dashboards")["data"];
    assert!(boards.get("blueprint.json").is_none() && boards.get("cluster.json").is_some());
}

#[test]
fn the_admin_password_is_only_in_a_create_only_secret() {
    let objs = rendered(&Exposure::default(), Some(&todo()));
    for o in &objs {
        let text = o.to_string();
        if o["kind"] == "Secret" {
            assert!(text.contains(PASSWORD));
            assert_eq!(
                o["metadata"]["annotations"][crate::kube::CREATE_ONLY],
                "true"
            );
        } else {
            assert!(!text.contains(PASSWORD), "the password leaks into {text}");
        }
    }
    let deploy = find(&objs, "Deployment", "grafana");
    assert_eq!(
        env_of(deploy, "GF_SECURITY_ADMIN_PASSWORD")["valueFrom"]["secretKeyRef"]["name"],
        ADMIN_SECRET
    );
}

#[test]
fn prometheus_admits_only_grafana_and_grafana_only_the_ingress_controller() {
    let objs = rendered(&Exposure::default(), None);
    let prom = find(&objs, "NetworkPolicy", "prometheus");
    assert_eq!(
        prom["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
            ["app.kubernetes.io/name"],
        "grafana"
    );
    let grafana = find(&objs, "NetworkPolicy", "grafana");
    assert_eq!(
        grafana["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]
            ["kubernetes.io/metadata.name"],
        "ingress-nginx"
    );
    assert_eq!(grafana["spec"]["ingress"][0]["ports"][0]["port"], 3000);
}

#[test]
fn rendering_is_deterministic_and_bad_settings_and_versions_are_named() {
    let a = rendered(&Exposure::default(), None);
    let b = rendered(&Exposure::default(), None);
    let digest_of = |objs: &[Value]| {
        find(objs, "Deployment", "prometheus")["spec"]["template"]["metadata"]["annotations"]
            ["kat.dev/config-digest"]
            .clone()
    };
    assert_eq!(digest_of(&a), digest_of(&b), "rendering is deterministic");
    assert!(digest_of(&a).as_str().unwrap().starts_with("sha256:"));

    let err = check_settings(&[("retention".to_string(), json!("7d"))].into())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("addons.monitoring.settings.retention"),
        "{err}"
    );
    let err = Release::of("1.0.0").unwrap_err().to_string();
    assert!(err.contains("2.55.1, 2.54.1"), "{err}");
}

#[test]
fn every_catalogue_version_has_its_pinned_pair() {
    let def = crate::addons::AddonDef::get("monitoring").unwrap();
    let pinned: Vec<&str> = RELEASES.iter().map(|r| r.version).collect();
    assert_eq!(def.versions, pinned.as_slice());
    assert_eq!(def.version(None).unwrap(), "2.55.1");
}
