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
    fn start(port: u16, backend: &str, entra: &str, extra: &[&str]) -> FakeAcr {
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
            .args(extra)
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

/// An aks environment (the fake ARM) whose blueprint runs one published image, with the fake
/// ACR login server in front of a real registry.
struct AcrWorld {
    ns: String,
    backend: Registry,
    _source: Registry,
    image: common::registry::TestImage,
    fake: FakeArm,
    acr: FakeAcr,
    sb: Sandbox,
    docker: tempfile::TempDir,
}

impl AcrWorld {
    /// `acr_args`: the fake login server's options (token life, slow uploads).
    fn new(env: &str, acr_args: &[&str]) -> AcrWorld {
        let ns = format!("{env}-web");
        let backend = Registry::start(None);
        let source = Registry::start(None);
        let image = push_image(&source, "team/web", "1.0", &[(61, 110_000), (62, 70_000)]);
        let acr_port = free_port();
        let fake = FakeArm::start_with(
            &testbed(),
            &["--login-server", &format!("127.0.0.1:{acr_port}")],
        );
        let acr = FakeAcr::start(acr_port, &backend.host, &fake.token(), acr_args);
        let sb = Sandbox::new(&format!(
            "environment: {env}\nprovider:\n  name: aks\n  region: westeurope\n  nodes: {{min: 1, max: 3, count: 1}}\nblueprint:\n  name: ./bp\n"
        ));
        let bp = sb.path().join("bp");
        std::fs::create_dir_all(bp.join("templates")).unwrap();
        std::fs::write(
            bp.join("blueprint.yaml"),
            BLUEPRINT.replace("SOURCE", &source.host).replace("NS", &ns),
        )
        .unwrap();
        std::fs::write(bp.join("templates/00-namespace.yaml"), NAMESPACE).unwrap();
        std::fs::write(bp.join("templates/web.yaml"), DEPLOYMENT).unwrap();
        AcrWorld {
            ns,
            backend,
            _source: source,
            image,
            fake,
            acr,
            sb,
            docker: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let mut c = self.sb.cmd(&all);
        self.fake.apply(&mut c);
        c.env("KAT_AZURE_NO_IMDS", "1")
            .env("KUBECONFIG", self.sb.path().join("home-kube-config"))
            .env("KAT_CACHE_DIR", self.sb.path().join("cache"))
            .env("KAT_AZURE_FAKE_ACR", &self.acr.host)
            // No `docker login`: the only credentials are the provider's.
            .env("DOCKER_CONFIG", self.docker.path());
        events_of(&c.output().expect("run kat"))
    }

    /// Registry calls the login server refused.
    fn refused(&self) -> Vec<serde_json::Value> {
        self.acr
            .log()
            .into_iter()
            .filter(|l| l["method"].is_string() && l["allowed"] == false)
            .collect()
    }
}

#[test]
fn aks_mirrors_into_acr_with_a_repository_token_from_the_exchange() {
    let w = AcrWorld::new("acrpush", &[]);
    let (ns, backend, image, acr) = (w.ns.as_str(), &w.backend, &w.image, &w.acr);
    let run = |args: &[&str]| w.run(args);
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
    let refused = w.refused();
    assert!(
        refused.is_empty(),
        "every registry call carried a valid Bearer: {refused:#?}"
    );
    let deployed = deployed_image(&testbed(), ns, "web");
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

/// Access tokens that expire while the copy is still going (3 s here, 75 minutes in ACR; every
/// upload held 2 s): the mirror asks the provider again before each blob and the manifest, and
/// the provider renews a token close to its end, so no call goes out with an expired one.
#[test]
fn a_copy_that_outlasts_its_access_token_logs_in_again() {
    let w = AcrWorld::new("acrslow", &["--access-life", "3", "--slow-put", "2"]);
    let (code, events, stderr) = w.run(&["up", "--until", "images"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}\n{:#?}", w.acr.log());
    assert_eq!(result_of(&events, "images"), "changed");
    assert_eq!(
        w.backend.manifest("team/web", &w.image.digest).as_deref(),
        Some(w.image.manifest.as_slice())
    );
    let log = w.acr.log();
    let tokens = log
        .iter()
        .filter(|l| l["path"] == "/oauth2/token" && l["ok"] == true)
        .count();
    assert!(tokens >= 2, "a token renewed during the copy: {log:#?}");
    assert!(w.refused().is_empty(), "{:#?}", w.refused());
    let (code, _, stderr) = w.run(&["down"]);
    assert_eq!(code, 0, "{stderr}");
}
