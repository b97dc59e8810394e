//! ingress-nginx, cert-manager (with kat's ClusterIssuer) and metrics-server as stages, through the
//! real binary on the testbed, with a blueprint whose Ingress asks for TLS (see kube_support for
//! how to start the testbed).
//!
//! Tests cannot reach the internet, so a local server serves stand-ins for the upstream release
//! manifests, of their shape: namespaces, CRDs, Deployments, Services, admission webhooks whose CA
//! bundle someone else injects. The testbed runs no cert-manager, so a thread here plays its parts:
//! the cainjector (writes the CA bundle), the controller (marks issuers and certificates Ready) and
//! the ingress-shim (makes the Certificate an Ingress asks for). It also checks the one ordering
//! that matters: no issuer exists before cert-manager's webhook has its CA bundle.

mod common;
#[path = "kube_support/mod.rs"]
mod kube_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::http::FixtureServer;
use common::*;
use serde_json::{json, Value};

const CA: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==";

const INGRESS_NGINX: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: ingress-nginx}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
spec:
  selector: {matchLabels: {app: ingress-nginx}}
  template:
    metadata: {labels: {app: ingress-nginx}}
    spec:
      containers: [{name: controller, image: registry.k8s.io/ingress-nginx/controller:v1.11.5}]
---
apiVersion: v1
kind: Service
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
spec:
  type: LoadBalancer
  selector: {app: ingress-nginx}
  ports:
  - {name: http, port: 80, targetPort: 80, protocol: TCP}
  - {name: https, port: 443, targetPort: 443, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata: {name: ingress-nginx-controller-admission, namespace: ingress-nginx}
spec:
  selector: {app: ingress-nginx}
  ports: [{name: webhook, port: 443, targetPort: 8443, protocol: TCP}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: ingress-nginx-admission}
webhooks:
- name: validate.nginx.ingress.kubernetes.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Ignore
  clientConfig:
    service: {namespace: ingress-nginx, name: ingress-nginx-controller-admission, path: /networking/v1/ingresses}
  rules:
  - {apiGroups: [networking.k8s.io], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [ingresses]}
"#;

fn crd(plural: &str, kind: &str, scope: &str) -> String {
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.cert-manager.io}}
spec:
  group: cert-manager.io
  scope: {scope}
  names: {{plural: {plural}, kind: {kind}, singular: {}}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"#,
        kind.to_lowercase()
    )
}

fn cert_manager() -> String {
    [
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: cert-manager}\n".to_string(),
        crd("certificates", "Certificate", "Namespaced"),
        crd("clusterissuers", "ClusterIssuer", "Cluster"),
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: cert-manager-webhook, namespace: cert-manager}
spec:
  selector: {matchLabels: {app: webhook}}
  template:
    metadata: {labels: {app: webhook}}
    spec:
      containers: [{name: webhook, image: quay.io/jetstack/cert-manager-webhook:v1.16.2}]
---
apiVersion: v1
kind: Service
metadata: {name: cert-manager-webhook, namespace: cert-manager}
spec:
  selector: {app: webhook}
  ports: [{name: https, port: 443, targetPort: 10250, protocol: TCP}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: cert-manager-webhook
  annotations: {cert-manager.io/inject-ca-from-secret: cert-manager/cert-manager-webhook-ca}
webhooks:
- name: webhook.cert-manager.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Ignore
  clientConfig:
    service: {namespace: cert-manager, name: cert-manager-webhook, path: /validate}
  rules:
  - {apiGroups: [cert-manager.io], apiVersions: [v1], operations: [CREATE, UPDATE], resources: ["*/*"]}
"#
        .to_string(),
    ]
    .join("---\n")
}

const METRICS_SERVER: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: metrics-server, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: metrics-server}}
  template:
    metadata: {labels: {k8s-app: metrics-server}}
    spec:
      containers:
      - name: metrics-server
        image: registry.k8s.io/metrics-server/metrics-server:v0.7.2
        args: [--cert-dir=/tmp, --secure-port=10250]
---
apiVersion: v1
kind: Service
metadata: {name: metrics-server, namespace: kube-system}
spec:
  selector: {k8s-app: metrics-server}
  ports: [{name: https, port: 443, targetPort: 10250, protocol: TCP}]
"#;

fn kubectl(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("kubectl")
        .args(["--kubeconfig", kube_support::kubeconfig().to_str().unwrap()])
        .args(args)
        .output()
        .expect("kubectl runs");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn items(args: &[&str]) -> Vec<Value> {
    kubectl(args)
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
}

fn ready(o: &Value) -> bool {
    o["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|x| x["type"] == "Ready" && x["status"] == "True")
    })
}

fn mark_ready(kind: &str, o: &Value) {
    let name = o["metadata"]["name"].as_str().unwrap();
    let status =
        json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}]}});
    let mut args = vec!["patch", kind, name, "--type=merge", "-p"];
    let patch = status.to_string();
    args.push(&patch);
    if let Some(ns) = o["metadata"]["namespace"].as_str() {
        args.extend(["-n", ns]);
    }
    kubectl(&args);
}

/// What cert-manager and ingress-nginx's patch Job would do on a real cluster.
struct FakeControllers {
    stop: Arc<AtomicBool>,
    /// Issuers that existed before cert-manager's webhook had its CA bundle.
    early: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeControllers {
    fn start(env: &str) -> FakeControllers {
        let stop = Arc::new(AtomicBool::new(false));
        let early = Arc::new(Mutex::new(Vec::new()));
        let (s, e, env) = (stop.clone(), early.clone(), env.to_string());
        let thread = std::thread::spawn(move || {
            let selector = format!("kat.dev/environment={env}");
            while !s.load(Ordering::Relaxed) {
                for hook in items(&[
                    "get",
                    "validatingwebhookconfigurations",
                    "-l",
                    &selector,
                    "-o",
                    "json",
                ]) {
                    if hook["webhooks"][0]["clientConfig"]["caBundle"].is_string() {
                        continue;
                    }
                    let name = hook["metadata"]["name"].as_str().unwrap().to_string();
                    if name == "cert-manager-webhook" {
                        let issuers = items(&["get", "clusterissuers", "-o", "json"]);
                        e.lock().unwrap().extend(
                            issuers
                                .iter()
                                .map(|i| i["metadata"]["name"].as_str().unwrap_or("").to_string()),
                        );
                    }
                    let patch = format!(
                        r#"[{{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": "{CA}"}}]"#
                    );
                    kubectl(&[
                        "patch",
                        "validatingwebhookconfiguration",
                        &name,
                        "--type=json",
                        "-p",
                        &patch,
                    ]);
                }
                for kind in ["clusterissuers", "certificates"] {
                    for o in items(&["get", kind, "-A", "-o", "json"]) {
                        if !ready(&o) {
                            mark_ready(kind, &o);
                        }
                    }
                }
                for ing in items(&["get", "ingresses", "-A", "-l", &selector, "-o", "json"]) {
                    if ing["metadata"]["annotations"]["cert-manager.io/cluster-issuer"].is_null() {
                        continue;
                    }
                    let ns = ing["metadata"]["namespace"].as_str().unwrap();
                    for tls in ing["spec"]["tls"].as_array().cloned().unwrap_or_default() {
                        let secret = tls["secretName"].as_str().unwrap();
                        if kubectl(&["get", "certificate", secret, "-n", ns]).is_none() {
                            // As cert-manager's ingress-shim makes it: owned by the Ingress.
                            let owner = json!([{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                                "name": ing["metadata"]["name"], "uid": ing["metadata"]["uid"],
                                "controller": true, "blockOwnerDeletion": true}]);
                            let cert = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                                "metadata": {"name": secret, "namespace": ns, "ownerReferences": owner},
                                "spec": {"secretName": secret, "issuerRef": {"name": "kat-ca", "kind": "ClusterIssuer"}}});
                            let file = std::env::temp_dir().join(format!("{env}-{secret}.json"));
                            std::fs::write(&file, cert.to_string()).unwrap();
                            kubectl(&[
                                "create",
                                "--field-manager=cert-manager-ingress-shim",
                                "-f",
                                file.to_str().unwrap(),
                            ]);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        FakeControllers {
            stop,
            early,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeControllers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn ingress_cert_manager_and_metrics_server_stages_wait_right_and_down_removes_them() {
    let env = "addon-stages";
    let server = FixtureServer::start();
    let nginx = server.serve("/ingress-nginx.yaml", INGRESS_NGINX);
    let cm = server.serve("/cert-manager.yaml", &cert_manager());
    let ms = server.serve("/components.yaml", METRICS_SERVER);
    let sb = Sandbox::new(&format!(
        "environment: {env}\nprovider:\n  name: kubeconfig\n  kubeconfig:\n    path: {}\nregistry:\n  url: registry.example.test/ratings\nblueprint:\n  name: ratings\naddons:\n  ingress-nginx: {{enabled: true, url: \"{nginx}\", settings: {{host: ratings.example.test}}}}\n  cert-manager: {{enabled: true, url: \"{cm}\"}}\n  metrics-server: {{enabled: true, url: \"{ms}\"}}\ntimeouts:\n  default: 3m\n",
        kube_support::kubeconfig().display()
    ));
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = sb
            .cmd(&all)
            .env("KAT_CACHE_DIR", cache.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (
            out.status.code(),
            parse_events(&String::from_utf8_lossy(&out.stdout)),
            stderr,
        )
    };
    let controllers = FakeControllers::start(env);
    // What an earlier, interrupted run of this test left on a long-lived testbed.
    run(&["down", "--yes", "--force"]);

    let (code, events, stderr) = run(&["up"]);
    assert_eq!(code, Some(0), "{stderr}\n{:#?}", summary(&events));
    for stage in [
        "ingress-nginx",
        "cert-manager",
        "metrics-server",
        "blueprint",
    ] {
        assert_eq!(result_of(&events, stage), "changed", "{stage}");
    }
    assert!(
        controllers.early.lock().unwrap().is_empty(),
        "issuers were created before cert-manager's webhook had its CA bundle: {:?}",
        controllers.early.lock().unwrap()
    );
    let progress: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "stage_progress")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        progress.iter().any(|m| m.contains(
            "CA bundle to be injected into ValidatingWebhookConfiguration/cert-manager-webhook"
        )),
        "{progress:#?}"
    );
    // The blueprint stage waited for the certificate cert-manager made for its Ingress.
    let cert = kubectl(&[
        "get",
        "certificate",
        "ratings-web-tls",
        "-n",
        "ratingsapp",
        "-o",
        "json",
    ])
    .expect("the Certificate the Ingress asked for");
    assert!(ready(&serde_json::from_str(&cert).unwrap()));
    // The ingress address is an output; metrics-server kept upstream's arguments.
    let outputs = summary(&events)["shown"].as_object().unwrap();
    assert!(
        outputs
            .values()
            .any(|v| v.as_str().is_some_and(|s| s.contains("lb.local"))),
        "{outputs:#?}"
    );
    let args = kubectl(&[
        "-n",
        "kube-system",
        "get",
        "deployment",
        "metrics-server",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].args}",
    ])
    .unwrap();
    assert!(args.contains("--secure-port=10250"), "{args}");

    let (code, events, stderr) = run(&["up"]);
    assert_eq!(code, Some(0), "{stderr}");
    let drifted: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["message"].as_str().is_some_and(|m| m.contains("drifted")))
        .collect();
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{drifted:#?}\n{:#?}",
        summary(&events)
    );

    let (code, events, stderr) = run(&["down", "--yes"]);
    assert_eq!(code, Some(0), "{stderr}\n{:#?}", summary(&events));

    // A workshop room without network: what `kat fetch` bundled is all `up --offline` needs.
    let bundle = sb.path().join("bundle");
    let fetched = sb
        .cmd(&["fetch", "--bundle", bundle.to_str().unwrap()])
        .env("KAT_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    assert!(
        fetched.status.success(),
        "{}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    server.clear();
    let empty_cache = tempfile::tempdir().unwrap();
    let all = [
        "up",
        "--offline",
        "--bundle",
        bundle.to_str().unwrap(),
        "-o",
        "json",
    ];
    let out = sb
        .cmd(&all)
        .env("KAT_CACHE_DIR", empty_cache.path())
        .output()
        .unwrap();
    let events = parse_events(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{:#?}",
        String::from_utf8_lossy(&out.stderr),
        summary(&events)
    );
    assert_eq!(result_of(&events, "cert-manager"), "changed");
    let (code, events, stderr) = run(&["down", "--yes"]);
    assert_eq!(code, Some(0), "{stderr}\n{:#?}", summary(&events));
    drop(controllers);
    let left = kubectl(&[
        "get",
        "all,ingress,validatingwebhookconfigurations,customresourcedefinitions,namespaces",
        "-A",
        "-l",
        &format!("kat.dev/environment={env}"),
        "-o",
        "name",
    ])
    .unwrap();
    assert!(left.is_empty(), "left behind: {left}");
}

#[test]
fn an_addon_the_provider_cannot_run_is_refused_before_anything_is_applied() {
    let env = "addon-refused";
    let sb = Sandbox::new(&format!(
        "environment: {env}\nprovider:\n  name: kubeconfig\n  kubeconfig:\n    path: {}\naddons:\n  cluster-autoscaler:\n    enabled: true\n",
        kube_support::kubeconfig().display()
    ));
    let out = sb.run(&["up"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("kat.yaml:8:5: addons.cluster-autoscaler.enabled")
            && stderr.contains("not available on the kubeconfig provider")
            && stderr.contains("fixed set of nodes"),
        "{stderr}"
    );
    let left = kubectl(&[
        "get",
        "all,namespaces",
        "-A",
        "-l",
        &format!("kat.dev/environment={env}"),
        "-o",
        "name",
    ]);
    assert_eq!(left.as_deref(), Some(""), "nothing was applied");
}
