//! Drives the real `kat` binary in a scratch directory, and reads what it leaves: the journal and
//! the simulated cloud.
#![allow(dead_code)]

pub mod charts;
pub mod http;
pub mod registry;
pub mod screen;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};

use serde_json::Value;

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    /// A scratch directory with `kat.yaml` holding `config`.
    pub fn new(config: &str) -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("kat.yaml"), config).expect("write kat.yaml");
        Sandbox { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write_config(&self, config: &str) {
        std::fs::write(self.path().join("kat.yaml"), config).expect("write kat.yaml");
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kat"));
        c.args(args).current_dir(self.path()).env("CI", "true");
        for var in [
            "KAT_ENV",
            "KAT_PROVIDER",
            "KAT_CONFIG",
            "KAT_STATE_DIR",
            "KAT_OUTPUT",
            "KAT_BLUEPRINT",
            "RUST_LOG",
        ] {
            c.env_remove(var);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run kat")
    }

    /// `kat <args> -o json`, returning exit code and the parsed events.
    pub fn run_json(&self, args: &[&str]) -> (i32, Vec<Value>, String) {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        events_of(&self.run(&all))
    }

    /// Starts `kat <args> -o json` and streams its events.
    pub fn spawn_json(&self, args: &[&str]) -> Running {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let mut child = self
            .cmd(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kat");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        Running {
            child,
            events: rx,
            seen: Vec::new(),
        }
    }

    pub fn state_path(&self, env: &str) -> PathBuf {
        self.path().join(".kat").join(env).join("state.json")
    }

    pub fn state(&self, env: &str) -> Value {
        let text = std::fs::read_to_string(self.state_path(env)).expect("state.json exists");
        serde_json::from_str(&text).expect("state.json is valid JSON")
    }

    pub fn world(&self, env: &str) -> Value {
        let path = self
            .path()
            .join(".kat")
            .join(".sim-cloud")
            .join(format!("{env}.json"));
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).expect("world is valid JSON"),
            Err(_) => serde_json::json!({"resources": {}, "calls": []}),
        }
    }
}

pub struct Running {
    pub child: Child,
    events: Receiver<Value>,
    pub seen: Vec<Value>,
}

impl Running {
    /// Blocks until an event matching `pred` arrives (or the process's output ends: panic).
    pub fn wait_for(&mut self, what: &str, mut pred: impl FnMut(&Value) -> bool) -> Value {
        loop {
            match self.events.recv() {
                Ok(ev) => {
                    self.seen.push(ev.clone());
                    if pred(&ev) {
                        return ev;
                    }
                }
                Err(_) => panic!("kat ended before {what}; events: {:#?}", self.seen),
            }
        }
    }

    pub fn signal(&self, sig: i32) {
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill({sig})");
    }

    /// Waits for exit; returns code (None when killed by a signal) and all events.
    pub fn finish(mut self) -> (Option<i32>, Vec<Value>) {
        let status = self.child.wait().expect("wait");
        while let Ok(ev) = self.events.recv() {
            self.seen.push(ev);
        }
        (status.code(), self.seen)
    }
}

/// A finished `kat ... -o json`: exit code, parsed events, stderr.
pub fn events_of(out: &Output) -> (i32, Vec<Value>, String) {
    (
        out.status.code().unwrap_or(-1),
        parse_events(&String::from_utf8_lossy(&out.stdout)),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `kubectl --kubeconfig <kubeconfig> <args>` (the `kubectl` on PATH), asserting success; its
/// trimmed stdout.
pub fn kubectl_at(kubeconfig: &Path, args: &[&str]) -> String {
    kubectl_with("kubectl", kubeconfig, args)
}

/// The image a Deployment's first container runs, as the API server has it.
pub fn deployed_image(kubeconfig: &Path, namespace: &str, deployment: &str) -> String {
    kubectl_at(
        kubeconfig,
        &[
            "-n",
            namespace,
            "get",
            "deployment",
            deployment,
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
    )
    .trim()
    .to_string()
}

/// [`kubectl_at`] with a given kubectl executable.
pub fn kubectl_with(exe: &str, kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new(exe)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn parse_events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

pub fn is(ev: &Value, kind: &str, stage: &str) -> bool {
    ev["event"] == kind && ev["stage"] == stage
}

pub fn summary(events: &[Value]) -> &Value {
    events
        .iter()
        .rev()
        .find(|e| e["event"] == "summary")
        .expect("a summary event")
}

/// The last `fleet_summary` line of a fleet's JSON run.
pub fn fleet_summary(events: &[Value]) -> &Value {
    events
        .iter()
        .rev()
        .find(|e| e["event"] == "fleet_summary")
        .unwrap_or_else(|| panic!("no fleet_summary in {events:#?}"))
}

/// Result of `stage` in the summary.
pub fn result_of<'a>(events: &'a [Value], stage: &str) -> &'a Value {
    let s = summary(events);
    &s["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|x| x["stage"] == stage)
        .unwrap_or_else(|| panic!("{stage} in summary: {s:#}"))["result"]
}

/// How many accepted calls created `key` in the simulated cloud.
pub fn creates_of(world: &Value, key: &str) -> usize {
    world["calls"].as_array().map_or(0, |calls| {
        calls
            .iter()
            .filter(|c| {
                c["resource"] == key
                    && c["op"]
                        .as_str()
                        .is_some_and(|o| o.ends_with(".create") || o.starts_with("apply."))
            })
            .count()
    })
}

pub fn mutating_calls(world: &Value) -> usize {
    world["calls"].as_array().map_or(0, |c| c.len())
}

/// A sim environment with every stage: fast (1:1000 of real-world latencies).
pub fn full_config(env: &str, scale: f64) -> String {
    format!(
        "environment: {env}\nprovider:\n  name: sim\n  sim:\n    scale: {scale}\ndatabase:\n  mode: managed\naddons:\n  ingress-nginx: {{enabled: true}}\n  cert-manager: {{enabled: true}}\n  metrics-server: {{enabled: true}}\n  cluster-autoscaler: {{enabled: true}}\n"
    )
}
