//! The microk8s provider over SSH: a real sshd on loopback (tests/microk8s_support/sshd.rs)
//! whose sessions find the fake microk8s first on PATH.
#![cfg(feature = "microk8s")]

mod common;
mod microk8s_support;

use common::{summary, Sandbox};
use microk8s_support::sshd::Sshd;
use microk8s_support::*;

#[test]
fn up_and_down_over_ssh_with_a_key() {
    let _one = testbed_lock();
    let env = "mk8s-ssh";
    let host = FakeHost::new(installed(&[]));
    let sshd = Sshd::start(&host);
    let sb = Sandbox::new(&config(
        env,
        &sshd.provider_lines(&sshd.client_key()),
        "addons:\n  ingress-nginx:\n    enabled: true\n",
    ));
    let events = kat_ok(&sb, &host, &["up"]);
    assert_eq!(
        host.mutating_calls(),
        [
            "snap refresh --hold microk8s",
            "microk8s enable dns hostpath-storage registry ingress",
        ],
        "sshd log: {}",
        sshd.log()
    );
    let outputs = &summary(&events)["shown"];
    // The kubeconfig's server is the host's address (127.0.0.1 here), its port microk8s's.
    assert!(
        outputs["Kubernetes API"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:"),
        "{outputs:#}"
    );
    assert!(outputs["registry"]
        .as_str()
        .unwrap()
        .contains("push from this machine to 127.0.0.1:32000"));
    assert!(sshd.known_hosts().exists(), "the host key was recorded");

    host.clear_log();
    kat_ok(&sb, &host, &["up"]);
    assert_eq!(host.mutating_calls(), Vec::<String>::new());

    kat_ok(&sb, &host, &["down", "--yes"]);
    assert_eq!(host.addons(), Vec::<String>::new());
    assert_eq!(host.state()["held"], false);
}

#[test]
fn a_key_the_host_does_not_accept_is_a_credentials_error() {
    let host = FakeHost::new(installed(&[]));
    let sshd = Sshd::start(&host);
    let other = sshd.dir.path().join("other_key");
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let sb = Sandbox::new(&config("mk8s-badkey", &sshd.provider_lines(&other), ""));
    let (code, _, stderr) = kat(&sb, &host, &["up"]);
    let err = error_line(&stderr);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("refused the SSH login")
            && err.contains("Permission denied")
            && err.contains("provider.microk8s.key"),
        "{err}"
    );
    assert!(host.calls().is_empty(), "nothing ran on the host");
}

/// A login outside the `microk8s` group: refused with the exact commands unless kat may join it
/// (`join_group: true`), then added over SSH (the next session has the group), its ~/.kube given
/// back, and taken out of the group again at `down`. The fake's group is a list in its state that
/// its `usermod`/`gpasswd` change; `sudo -n` is the fake's shim.
#[test]
fn a_user_outside_the_group_is_added_only_when_allowed_and_removed_at_down() {
    let _one = testbed_lock();
    let mut state = installed(&[]);
    state["group"] = serde_json::json!([]);
    let host = FakeHost::new(state);
    let sshd = Sshd::start(&host);
    let lines = sshd.provider_lines(&sshd.client_key());

    let refused = Sandbox::new(&config("mk8s-nogroup", &lines, ""));
    let (code, _, stderr) = kat(&refused, &host, &["up"]);
    let err = error_line(&stderr);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`sudo usermod -a -G microk8s root`")
            && err.contains("`sudo chown -R root ~/.kube`")
            && err.contains("provider.microk8s.join_group: true"),
        "{err}"
    );
    assert_eq!(host.mutating_calls(), Vec::<String>::new());

    let extra = format!("{lines}join_group: true\nsnap_prefix: [sudo, -n]\n");
    let sb = Sandbox::new(&config("mk8s-join", &extra, ""));
    kat_ok(&sb, &host, &["up"]);
    let kube = host.home().join(".kube").display().to_string();
    let calls = host.calls();
    assert!(
        calls.contains(&"sudo -n usermod -a -G microk8s root".to_string())
            && calls.contains(&format!("sudo -n chown -R root {kube}")),
        "{calls:#?}"
    );
    assert_eq!(host.state()["group"], serde_json::json!(["root"]));

    host.clear_log();
    kat_ok(&sb, &host, &["up"]);
    assert_eq!(host.mutating_calls(), Vec::<String>::new());

    kat_ok(&sb, &host, &["down", "--yes"]);
    assert_eq!(host.state()["group"], serde_json::json!([]));
    assert!(host
        .calls()
        .contains(&"sudo -n gpasswd -d root microk8s".to_string()));
}
