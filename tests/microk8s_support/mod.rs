//! Shared by the microk8s_* tests: a fake microk8s machine (the `fake/microk8s` script as both
//! `microk8s` and `snap`, with its state and argv log in a temp dir) whose Kubernetes is the
//! testbed, and kat run against it.
#![allow(dead_code)]

pub mod sshd;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use serde_json::{json, Value};

use crate::common::{events_of, kubectl_with, Sandbox};

/// The fake's addons put cluster-wide objects on the shared testbed (the registry's ConfigMap,
/// the IngressClasses): one such test at a time.
pub fn testbed_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// The testbed's kubeconfig; missing is a failure, as for the kube_* tests.
pub fn testbed_kubeconfig() -> PathBuf {
    match std::env::var_os("KAT_TEST_KUBECONFIG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "KAT_TEST_KUBECONFIG is not set. Start a test API server with\n  \
             KAT_TESTBED_RUN=/tmp/kat-testbed-mk8s KAT_TESTBED_PORT=17443 ../shared/testbed/start.sh\n\
             and rerun with KAT_TEST_KUBECONFIG set to the kubeconfig path it prints last"
        ),
    }
}

pub fn kubectl_path() -> String {
    let testbed = Path::new("/opt/kat-testbed/bin/kubectl");
    if testbed.exists() {
        testbed.display().to_string()
    } else {
        "kubectl".into()
    }
}

pub fn kubectl(args: &[&str]) -> String {
    kubectl_with(&kubectl_path(), &testbed_kubeconfig(), args)
}

/// A machine with (or without) microk8s, as the fake keeps it.
pub struct FakeHost {
    pub dir: tempfile::TempDir,
    /// `KAT_MICROK8S_PLATFORM` for kat: the VM path of macOS/Windows.
    platform: Option<&'static str>,
}

/// microk8s installed on the default channel, running, with `addons` enabled, refreshes not held.
pub fn installed(addons: &[&str]) -> Value {
    json!({"installed": true, "channel": "1.32/stable", "held": false, "running": true,
           "addons": addons})
}

impl FakeHost {
    pub fn new(state: Value) -> FakeHost {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/microk8s_support/fake/microk8s");
        for name in [
            "microk8s",
            "snap",
            "usermod",
            "gpasswd",
            "sudo",
            "chown",
            "multipass",
        ] {
            std::fs::copy(&script, bin.join(name)).unwrap();
        }
        let host = FakeHost {
            dir,
            platform: None,
        };
        host.write_state(&state);
        std::fs::write(host.log_path(), "").unwrap();
        host
    }

    /// The macOS installer's machine: no VM yet, no snap; kat is told it runs on macOS.
    pub fn macos() -> FakeHost {
        let mut host = FakeHost::new(json!({"vm": true, "installed": false}));
        host.platform = Some("macos");
        host
    }

    /// The home directory of the SSH sessions (sshd.rs).
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn state_path(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("argv.log")
    }

    pub fn write_state(&self, state: &Value) {
        std::fs::write(self.state_path(), serde_json::to_vec_pretty(state).unwrap()).unwrap();
    }

    pub fn state(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.state_path()).unwrap()).unwrap()
    }

    pub fn set(&self, key: &str, value: Value) {
        let mut s = self.state();
        s[key] = value;
        self.write_state(&s);
    }

    pub fn addons(&self) -> Vec<String> {
        let mut v: Vec<String> = self.state()["addons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    }

    /// The environment the fake needs (and PATH with it first).
    pub fn vars(&self) -> Vec<(String, String)> {
        let path = format!(
            "{}:{}",
            self.bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        vec![
            ("PATH".into(), path),
            (
                "FAKE_MK8S_DIR".into(),
                self.dir.path().display().to_string(),
            ),
            (
                "FAKE_MK8S_KUBECONFIG".into(),
                testbed_kubeconfig().display().to_string(),
            ),
            ("FAKE_MK8S_KUBECTL".into(), kubectl_path()),
        ]
        .into_iter()
        .chain(
            self.platform
                .map(|p| ("KAT_MICROK8S_PLATFORM".to_string(), p.to_string())),
        )
        .collect()
    }

    /// Every call so far, as `prog arg arg`.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.log_path())
            .unwrap()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                let mut words = vec![v["prog"].as_str().unwrap().to_string()];
                words.extend(
                    v["argv"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_string()),
                );
                words.join(" ")
            })
            .collect()
    }

    /// The calls that change the machine.
    pub fn mutating_calls(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| {
                [
                    "microk8s enable",
                    "microk8s disable",
                    "microk8s start",
                    "microk8s stop",
                    "microk8s install",
                    "microk8s uninstall",
                    "usermod",
                    "gpasswd",
                    "chown",
                    "snap install",
                    "snap refresh",
                    "snap remove",
                    "multipass exec microk8s-vm -- sudo snap",
                ]
                .iter()
                .any(|m| c.starts_with(m))
            })
            .collect()
    }

    /// Runs the fake itself (as the machine's owner would, before kat), then forgets the call.
    pub fn run(&self, args: &[&str]) {
        let mut cmd = Command::new(self.bin().join("microk8s"));
        cmd.args(args);
        for (k, v) in self.vars() {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("the fake runs");
        assert!(out.status.success(), "fake microk8s {args:?}: {out:?}");
        self.clear_log();
    }

    pub fn clear_log(&self) {
        std::fs::write(self.log_path(), "").unwrap();
    }
}

/// kat.yaml for the microk8s provider; `provider_extra` goes under `provider.microk8s`.
pub fn config(env: &str, provider_extra: &str, rest: &str) -> String {
    let mut c = format!("environment: {env}\nprovider:\n  name: microk8s\n  microk8s:\n    ready_timeout: 20\n    command_timeout: 60\n");
    for line in provider_extra.lines() {
        c.push_str(&format!("    {line}\n"));
    }
    // The user's own kubeconfig is not the test's to change.
    c.push_str("kubeconfig:\n  merge: false\n");
    c.push_str(rest);
    c
}

/// `kat <args> -o json` with the fake on PATH: exit code, events, stderr.
pub fn kat(sb: &Sandbox, host: &FakeHost, args: &[&str]) -> (i32, Vec<Value>, String) {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let mut cmd = sb.cmd(&all);
    for (k, v) in host.vars() {
        cmd.env(k, v);
    }
    events_of(&cmd.output().expect("run kat"))
}

/// Runs kat and asserts exit 0.
pub fn kat_ok(sb: &Sandbox, host: &FakeHost, args: &[&str]) -> Vec<Value> {
    let (code, events, stderr) = kat(sb, host, args);
    assert_eq!(
        code,
        0,
        "kat {args:?}: {stderr}\n{:#?}\nfake calls: {:#?}",
        events.iter().rev().find(|e| e["event"] == "summary"),
        host.calls()
    );
    events
}

/// The error of a refused run: its one line on stderr.
pub fn error_line(stderr: &str) -> String {
    stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}
