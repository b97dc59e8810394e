//! ACR push credentials: `kat up --provider aks` (the fake ARM) mirrors the blueprint's published
//! image into "ACR" by default, through ACR's token exchange: the Entra token (the fake `az`'s)
//! for a refresh token at `/oauth2/exchange`, that for a repository-scoped access token at
//! `/oauth2/token`, sent as a Bearer. The fake ACR login server (`aks_support/fake_acr.py`) takes
//! only those tokens and forwards `/v2/` to a real docker-registry. The Kubernetes stages run on
//! the testbed (the fake ARM serves its kubeconfig).
#![cfg(feature = "aks")]

#[path = "aks_support/mod.rs"]
mod aks_support;
mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use aks_support::FakeArm;
use common::registry::{free_port, push_image, Registry};
use common::*;

const BLUEPRINT: &str = "name: acrtest\ndescription: one Deployment whose image comes from a registry of the test\nsource: https://example.invalid/acrtest\nnamespace: NS\ncomponents:\n  - name: web\n    description: a web server\n    image: web\n    port: 8080\nimages:\n  web: { ref: \"SOURCE/team/web:1.0\" }\n";
const NAMESPACE: &str =
    "{% import \"kat/k8s.j2\" as k -%}\n{{ k.namespace(blueprint.name, namespace) }}\n";
const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {{ namespace }}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: {{ images.web }}\n";

fn testbed() -> PathBuf {
    PathBuf::from(
        std::env::var_os("KAT_TEST_KUBECONFIG").expect(
            "KAT_TEST_KUBECONFIG: the aks tests run their Kubernetes stages on the testbed",
        ),
    )
}

/// The fake ACR login server, stopped by PID on drop.
struct FakeAcr {
    child: Child,
    host: String,
}

impl FakeAcr {
    fn start(port: u16, backend: &str, entra: &str) -> FakeAcr {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/aks_support/fake_acr.py");
        let mut child = Command::new(aks_support::python())
            .arg(script)
            .args([
                "--port",
                &port.to_string(),
                "--backend",
                backend,
                "--entra-token",
                entra,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the fake ACR starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let host = line
            .trim()
            .trim_start_matches("listening on http://")
            .to_string();
        assert_eq!(host, format!("127.0.0.1:{port}"), "{line}");
        FakeAcr { child, host }
    }

    fn log(&self) -> Vec<serde_json::Value> {
        let text = ureq::get(&format!("http://{}/_fake/log", self.host))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

impl Drop for FakeAcr {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn aks_mirrors_into_acr_with_a_repository_token_from_the_exchange() {
    let env = "acrpush";
    let ns = "acrpush-web";
    let backend = Registry::start(None);
    let source = Registry::start(None);
    let image = push_image(&source, "team/web", "1.0", &[(61, 110_000), (62, 70_000)]);
    let acr_port = free_port();
    let fake = FakeArm::start_with(
        &testbed(),
        &["--login-server", &format!("127.0.0.1:{acr_port}")],
    );
    let acr = FakeAcr::start(acr_port, &backend.host, &fake.token());

    let sb = Sandbox::new(&format!(
        "environment: {env}\nprovider:\n  name: aks\n  region: westeurope\n  nodes: {{min: 1, max: 3, count: 1}}\nblueprint:\n  name: ./bp\n"
    ));
    let bp = sb.path().join("bp");
    std::fs::create_dir_all(bp.join("templates")).unwrap();
    std::fs::write(
        bp.join("blueprint.yaml"),
        BLUEPRINT.replace("SOURCE", &source.host).replace("NS", ns),
    )
    .unwrap();
    std::fs::write(bp.join("templates/00-namespace.yaml"), NAMESPACE).unwrap();
    std::fs::write(bp.join("templates/web.yaml"), DEPLOYMENT).unwrap();
    let docker = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let mut c = sb.cmd(&all);
        fake.apply(&mut c);
        c.env("KAT_AZURE_NO_IMDS", "1")
            .env("KUBECONFIG", sb.path().join("home-kube-config"))
            .env("KAT_CACHE_DIR", sb.path().join("cache"))
            .env("KAT_AZURE_FAKE_ACR", &acr.host)
            // No `docker login`: the only credentials are the provider's.
            .env("DOCKER_CONFIG", docker.path());
        events_of(&c.output().expect("run kat"))
    };

    let (code, events, stderr) = run(&["up"]);
    if code != 0 {
        let _ = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(testbed())
            .args(["delete", "ns", ns, "--ignore-not-found", "--wait=false"])
            .status();
    }
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(
        result_of(&events, "images"),
        "changed",
        "mirrored by default on aks"
    );
    assert_eq!(
        backend.manifest("team/web", &image.digest).as_deref(),
        Some(image.manifest.as_slice()),
        "the manifest arrived byte for byte through the token-checking login server"
    );
    let log = acr.log();
    let asked = |path: &str| {
        log.iter()
            .filter(|l| l["path"] == path && l["ok"] == true)
            .count()
    };
    assert_eq!(asked("/oauth2/exchange"), 1, "one refresh token: {log:#?}");
    assert!(asked("/oauth2/token") >= 1, "{log:#?}");
    assert!(
        log.iter()
            .any(|l| l["path"] == "/oauth2/token" && l["scope"] == "repository:team/web:pull,push"),
        "scoped to the repository: {log:#?}"
    );
    let refused: Vec<_> = log
        .iter()
        .filter(|l| l["method"].is_string() && l["allowed"] == false)
        .collect();
    assert!(
        refused.is_empty(),
        "every registry call carried a valid Bearer: {refused:#?}"
    );
    let deployed = kubectl_at(
        &testbed(),
        &[
            "-n",
            ns,
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
    );
    assert_eq!(
        deployed.trim(),
        format!("{}/team/web@{}", acr.host, image.digest)
    );

    let (code, events, stderr) = run(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{:#?}",
        summary(&events)
    );

    let (code, events, stderr) = run(&["down"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
}
