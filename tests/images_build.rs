//! `kat up` builds a blueprint's `build:` image in the cluster with a rootless BuildKit Job (the
//! testbed: a real v1.20 API server and Job controller, a simulated kubelet that runs nothing).
//! The test plays the node: it completes the build pod with the termination message BuildKit's
//! metadata would give (the digest of an image the test pushed itself), holds it running for the
//! timeout, or lets the simulated kubelet crash-loop a builder image named `crash-loop`. The pods
//! the test plays ask for more CPU than a testbed node has (`images.build_resources`): unbound,
//! the simulated kubelet leaves them to the test alone.

mod common;
#[path = "kube_support/mod.rs"]
mod kube_support;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use common::registry::{push_image, Registry};
use common::*;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use kube::Api;
use serde_json::{json, Value};

const BLUEPRINT: &str = "name: buildtest\ndescription: one Deployment whose image kat builds\nsource: https://example.invalid/buildtest\nnamespace: NS\ncomponents:\n  - name: api\n    description: an API\n    image: api\n    port: 8080\nimages:\n  api:\n    ref: \"team/api:1.0\"\n    build: { git: \"https://example.invalid/api.git\", ref: \"v1.0\", context: api, dockerfile: Dockerfile.prod, args: { MODE: prod } }\n";
const NAMESPACE: &str =
    "{% import \"kat/k8s.j2\" as k -%}\n{{ k.namespace(blueprint.name, namespace) }}\n";
const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: {{ namespace }}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: api}\n  template:\n    metadata:\n      labels: {app: api}\n    spec:\n      containers:\n        - name: api\n          image: {{ images.api }}\n";

/// What the test's node does with a build pod.
#[derive(Clone)]
enum Node {
    /// Succeeds with this termination message.
    Complete(String),
    /// Running forever.
    Hold,
    /// Leaves it to the simulated kubelet.
    Watch,
}

/// Watches the environments' build pods, records them and their Secrets, and plays `node`.
struct Player {
    pods: Arc<Mutex<Vec<Value>>>,
    secrets: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Player {
    fn start(env: &str, node: Node) -> Player {
        Player::start_for(&[env], node)
    }

    /// [`Player::start`] for the build pods of several environments (a fleet's members).
    fn start_for(envs: &[&str], node: Node) -> Player {
        let pods: Arc<Mutex<Vec<Value>>> = Arc::default();
        let secrets: Arc<Mutex<Vec<Value>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let selector = format!("kat.dev/environment in ({})", envs.join(","));
        let env = envs[0].to_string();
        let (p, s, st) = (pods.clone(), secrets.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let w = kube_support::connect(&env).await;
                let client = w.client().clone();
                let pod_api: Api<Pod> = Api::namespaced(client.clone(), "kat-build");
                let secret_api: Api<Secret> = Api::namespaced(client, "kat-build");
                let lp = ListParams::default().labels(&selector);
                let mut done: Vec<String> = Vec::new();
                // A watch, not a poll: the simulated kubelet completes a pod within half a
                // second, and the test's node must act first.
                while !st.load(Ordering::SeqCst) {
                    let wp = WatchParams::default().labels(&selector).timeout(1);
                    let Ok(stream) = pod_api.watch(&wp, "0").await else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let mut stream = Box::pin(stream);
                    while let Some(Ok(WatchEvent::Added(pod) | WatchEvent::Modified(pod))) =
                        stream.next().await
                    {
                        let name = pod.metadata.name.clone().unwrap_or_default();
                        if done.contains(&name) {
                            continue;
                        }
                        done.push(name.clone());
                        let t = "2026-01-01T00:00:00Z";
                        let status = match &node {
                            Node::Watch => None,
                            Node::Complete(message) => Some(json!({"status": {"phase": "Succeeded", "containerStatuses": [{
                                "name": "buildkitd", "ready": false, "restartCount": 0, "image": "b", "imageID": "b",
                                "state": {"terminated": {"exitCode": 0, "reason": "Completed", "message": message, "startedAt": t, "finishedAt": t}}}]}})),
                            Node::Hold => Some(json!({"status": {"phase": "Running", "containerStatuses": [{
                                "name": "buildkitd", "ready": true, "restartCount": 0, "image": "b", "imageID": "b",
                                "state": {"running": {"startedAt": t}}}]}})),
                        };
                        if let Some(status) = status {
                            pod_api
                                .patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
                                .await
                                .expect("the test's node acts before the simulated kubelet");
                        }
                        p.lock().unwrap().push(serde_json::to_value(&pod).unwrap());
                        for sec in secret_api.list(&lp).await.unwrap().items {
                            s.lock().unwrap().push(serde_json::to_value(&sec).unwrap());
                        }
                    }
                }
            })
        });
        Player {
            pods,
            secrets,
            stop,
            thread: Some(thread),
        }
    }

    fn pods(&self) -> Vec<Value> {
        self.pods.lock().unwrap().clone()
    }

    fn secrets(&self) -> Vec<Value> {
        self.secrets.lock().unwrap().clone()
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Env {
    sb: Sandbox,
    docker: tempfile::TempDir,
    cache: tempfile::TempDir,
    name: String,
}

impl Env {
    fn new(name: &str, registry: &Registry, extra: &str) -> Env {
        let sb = Sandbox::new("");
        let bp = sb.path().join("bp");
        std::fs::create_dir_all(bp.join("templates")).unwrap();
        std::fs::write(
            bp.join("blueprint.yaml"),
            BLUEPRINT.replace("NS", &format!("{name}-app")),
        )
        .unwrap();
        std::fs::write(bp.join("templates/00-namespace.yaml"), NAMESPACE).unwrap();
        std::fs::write(bp.join("templates/api.yaml"), DEPLOYMENT).unwrap();
        // A registry of the user's: building is asked for. The build pod asks for more CPU
        // than any testbed node has, so the scheduler never binds it and the simulated kubelet
        // (which only acts on bound pods) never races the test's node.
        let images = if extra.contains("images:") {
            ""
        } else {
            "images:\n  build: true\n  build_resources: { cpu: \"64\", memory: 3Gi }\n"
        };
        sb.write_config(&format!(
            "environment: {name}\nprovider:\n  name: kubeconfig\n  kubeconfig:\n    path: {}\nregistry:\n  url: {}\nblueprint:\n  name: ./bp\n{images}{extra}",
            kube_support::kubeconfig().display(),
            registry.host
        ));
        let docker = tempfile::tempdir().unwrap();
        let (u, p) = registry.login.clone().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        std::fs::write(
            docker.path().join("config.json"),
            format!(
                r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
                registry.host
            ),
        )
        .unwrap();
        Env {
            sb,
            docker,
            cache: tempfile::tempdir().unwrap(),
            name: name.to_string(),
        }
    }

    fn json(&self, args: &[&str]) -> (i32, Vec<Value>, String) {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let mut c = self.sb.cmd(&all);
        c.env("DOCKER_CONFIG", self.docker.path())
            .env("KAT_CACHE_DIR", self.cache.path());
        events_of(&c.output().expect("run kat"))
    }

    fn lock(&self) -> Value {
        let text = std::fs::read_to_string(self.sb.path().join("kat.lock")).unwrap_or_default();
        serde_yaml_ng::from_str(&text).unwrap_or_default()
    }

    /// Build Jobs and Secrets of this environment still in the cluster.
    fn leftovers(&self) -> String {
        kubectl(&[
            "-n",
            "kat-build",
            "get",
            "jobs,secrets,pods",
            "-l",
            &format!("kat.dev/environment={}", self.name),
            "-o",
            "name",
        ])
    }
}

fn kubectl(args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kube_support::kubeconfig())
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Pods are deleted with the Job in the background: waited for, not raced.
fn wait_gone(e: &Env) {
    for _ in 0..100 {
        if e.leftovers().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("left in kat-build: {}", e.leftovers());
}

const KEY: &str = "https://example.invalid/api.git#v1.0:api dockerfile=Dockerfile.prod MODE=prod";

#[test]
fn up_builds_in_a_job_runs_the_digest_and_does_not_rebuild_an_unchanged_source() {
    let registry = Registry::start(Some(("kat", "pw-build")));
    // What BuildKit would have pushed: an image the test puts there itself.
    let image = push_image(&registry, "team/api", "1.0", &[(7, 50_000)]);
    let e = Env::new(&kube_support::unique("bld-ok"), &registry, "");
    let meta = json!({"containerimage.digest": image.digest, "image.name": "x"}).to_string();
    let player = Player::start(&e.name, Node::Complete(meta));

    let (code, events, stderr) = e.json(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    let deployed = kubectl(&[
        "-n",
        &format!("{}-app", e.name),
        "get",
        "deployment",
        "api",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(
        deployed,
        format!("{}/team/api@{}", registry.host, image.digest)
    );
    assert_eq!(e.lock()["builds"][KEY], image.digest.as_str());

    // The Job's pod as the cluster made it: v1.20, so the annotations, not the fields.
    let pods = player.pods();
    assert_eq!(pods.len(), 1, "one build pod");
    let pod = &pods[0];
    let ann = &pod["metadata"]["annotations"];
    assert_eq!(
        ann["container.seccomp.security.alpha.kubernetes.io/buildkitd"],
        "unconfined"
    );
    assert_eq!(
        ann["container.apparmor.security.beta.kubernetes.io/buildkitd"],
        "unconfined"
    );
    let c = &pod["spec"]["containers"][0];
    assert_eq!(
        c["resources"],
        json!({"requests": {"cpu": "64", "memory": "3Gi"}, "limits": {"memory": "3Gi"}}),
        "images.build_resources"
    );
    // 1.19+ servers copy the seccomp annotation into the field; 1.20 has no AppArmor field.
    assert_eq!(c["securityContext"]["seccompProfile"]["type"], "Unconfined");
    assert!(c["securityContext"]["appArmorProfile"].is_null());
    assert_eq!(c["securityContext"]["runAsUser"], 1000);
    assert!(c["env"]
        .to_string()
        .contains("--oci-worker-no-process-sandbox"));
    let cmd = c["command"].to_string();
    assert!(
        cmd.contains("context=https://example.invalid/api.git#v1.0:api"),
        "{cmd}"
    );
    assert!(
        cmd.contains(&format!("name={}/team/api:1.0,push=true", registry.host)),
        "{cmd}"
    );
    assert!(cmd.contains("build-arg:MODE=prod") && cmd.contains("filename=Dockerfile.prod"));
    // Its push Secret: a dockerconfigjson with the registry's credentials.
    let secrets = player.secrets();
    assert_eq!(secrets.len(), 1, "{secrets:#?}");
    assert_eq!(secrets[0]["type"], "kubernetes.io/dockerconfigjson");
    let config = base64::engine::general_purpose::STANDARD
        .decode(secrets[0]["data"][".dockerconfigjson"].as_str().unwrap())
        .unwrap();
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert!(
        config["auths"][&registry.host]["auth"].is_string(),
        "{config}"
    );
    let ns_labels = kubectl(&[
        "get",
        "namespace",
        "kat-build",
        "-o",
        "jsonpath={.metadata.labels}",
    ]);
    assert!(
        ns_labels.contains("\"pod-security.kubernetes.io/enforce\":\"privileged\""),
        "{ns_labels}"
    );
    wait_gone(&e);

    // Unchanged source, digest still in the registry: nothing is built.
    let (code, events, stderr) = e.json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{:#?}",
        summary(&events)
    );
    assert_eq!(player.pods().len(), 1, "no second build pod");
    let (code, listed, stderr) = e.json(&["images"]);
    assert_eq!(code, 0, "{stderr}");
    let row = listed
        .iter()
        .flat_map(|v| v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]))
        .find(|r| r["key"] == "api")
        .unwrap_or_else(|| panic!("{listed:#?}"));
    assert_eq!(row["git"], "https://example.invalid/api.git");
    assert_eq!(row["ref"], "v1.0");
    assert_eq!(row["digest"], image.digest.as_str());
    assert!(
        row["state"].as_str().unwrap().starts_with("built:"),
        "{row}"
    );
    drop(player);
    let (code, _, stderr) = e.json(&["down"]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_crashing_builder_fails_the_stage_naming_the_component_and_cause_and_leaves_nothing() {
    let registry = Registry::start(Some(("kat", "pw-build")));
    let e = Env::new(
        &kube_support::unique("bld-crash"),
        &registry,
        "images:\n  build: true\n  builder: example.invalid/crash-loop/buildkit:1\n",
    );
    let player = Player::start(&e.name, Node::Watch);
    let (code, events, stderr) = e.json(&["up"]);
    assert_eq!(code, 1, "{stderr}");
    let said = format!("{stderr}{}", serde_json::to_string(&events).unwrap());
    assert!(said.contains("building api"), "{said}");
    assert!(said.contains("CrashLoopBackOff"), "{said}");
    assert!(
        said.contains("kat-build/kat-build-"),
        "names the Job: {said}"
    );
    assert_eq!(player.pods().len(), 1);
    assert!(e.lock()["builds"].is_null(), "nothing pinned");
    wait_gone(&e);
}

#[test]
fn a_build_past_the_stage_timeout_fails_naming_the_job_and_is_cleaned_up() {
    let registry = Registry::start(Some(("kat", "pw-build")));
    let e = Env::new(
        &kube_support::unique("bld-slow"),
        &registry,
        "timeouts:\n  stages:\n    build: 4s\n",
    );
    let player = Player::start(&e.name, Node::Hold);
    let (code, events, stderr) = e.json(&["up"]);
    assert_eq!(code, 1, "{stderr}");
    let said = format!("{stderr}{}", serde_json::to_string(&events).unwrap());
    assert!(said.contains("build Job kat-build/kat-build-"), "{said}");
    // The scheduler's reason is said while the pod waits for a node.
    assert!(
        said.contains("no node can take the build pod yet") && said.contains("Insufficient cpu"),
        "{said}"
    );
    assert_eq!(player.pods().len(), 1);
    wait_gone(&e);
}

/// Members of a fleet building into the registry they share take turns: the first builds and
/// pins the source, the other finds it pinned and pushed and builds nothing.
#[test]
fn a_fleets_members_build_each_source_once_into_the_registry_they_share() {
    let registry = Registry::start(Some(("kat", "pw-build")));
    let image = push_image(&registry, "team/api", "1.0", &[(8, 40_000)]);
    let e = Env::new(
        &kube_support::unique("bld-fleet"),
        &registry,
        "fleet:\n  count: 2\n",
    );
    let members = [format!("{}-01", e.name), format!("{}-02", e.name)];
    let meta = json!({"containerimage.digest": image.digest, "image.name": "x"}).to_string();
    let player = Player::start_for(&[&members[0], &members[1]], Node::Complete(meta));

    // As far as the build: both members would deploy the blueprint into one namespace.
    let (code, events, stderr) = e.json(&["up", "--until", "build"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(player.pods().len(), 1, "one build for the two members");
    assert_eq!(e.lock()["builds"][KEY], image.digest.as_str());
    let pinned = format!("{}/team/api@{}", registry.host, image.digest);
    for m in &members {
        let state =
            std::fs::read_to_string(e.sb.path().join(".kat").join(m).join("state.json")).unwrap();
        assert!(state.contains(&pinned), "{m} runs {pinned}: {state}");
    }
    let skipped: Vec<&Value> = events
        .iter()
        .filter(|ev| ev["event"] == "stage_progress")
        .filter(|ev| {
            ev["message"]
                .as_str()
                .is_some_and(|m| m.contains("unchanged, already built as"))
        })
        .collect();
    assert_eq!(
        skipped.len(),
        1,
        "the other member built nothing: {events:#?}"
    );
    drop(player);
    let (code, _, stderr) = e.json(&["down"]);
    assert_eq!(code, 0, "{stderr}");
}
