//! The microk8s provider on macOS/Windows: canonical's installer, whose `microk8s install` creates
//! a multipass VM. The fake plays the installer (tests/microk8s_support/fake/microk8s, `"vm":
//! true`) and kat is told it runs on macOS (KAT_MICROK8S_PLATFORM), so this runs on Linux.
#![cfg(feature = "microk8s")]

mod common;
mod microk8s_support;

use common::Sandbox;
use microk8s_support::*;
use serde_json::json;

const VM: &str =
    "install: true\nchannel: 1.31/stable\nvm:\n  cpus: 4\n  memory_gb: 8\n  disk_gb: 40";

const INSTALL: &str =
    "microk8s install --cpu 4 --mem 8 --disk 40 --channel 1.31/stable --assume-yes";

#[test]
fn the_vm_is_installed_with_the_configured_size_once_and_purge_uninstalls_it() {
    let _one = testbed_lock();
    let host = FakeHost::macos();
    let sb = Sandbox::new(&config("mk8s-vm", VM, ""));

    kat_ok(&sb, &host, &["up"]);
    let mutating = host.mutating_calls();
    assert_eq!(mutating[0], INSTALL, "{:#?}", host.calls());
    assert_eq!(
        host.state()["vm_size"],
        json!({"cpu": "4", "mem": "8", "disk": "40"})
    );
    assert_eq!(host.state()["channel"], "1.31/stable");
    // The snap inside the VM, through multipass: its refreshes held for the environment's life.
    assert_eq!(
        mutating[1],
        "multipass exec microk8s-vm -- sudo snap refresh --hold microk8s"
    );
    assert_eq!(host.state()["held"], true);
    // Then the installer's CLI as on Linux: one enable; no snap on the Mac itself.
    assert!(mutating[2..]
        .iter()
        .all(|c| c.starts_with("microk8s enable")));
    assert_eq!(mutating.len(), 3, "{mutating:#?}");
    assert!(!host.calls().iter().any(|c| c.starts_with("snap")));

    host.clear_log();
    kat_ok(&sb, &host, &["up"]);
    assert_eq!(host.mutating_calls(), Vec::<String>::new());

    host.clear_log();
    let (code, events, stderr) = kat(&sb, &host, &["down", "--yes", "--purge"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        events.iter().any(|e| e["event"] == "warning"
            && e["message"]
                .as_str()
                .unwrap()
                .contains("`microk8s uninstall`")),
        "--purge says what it removes"
    );
    assert_eq!(host.state()["installed"], false);
    assert_eq!(
        host.mutating_calls().last().map(String::as_str),
        Some("microk8s uninstall")
    );
}

#[test]
fn a_plain_down_keeps_the_vm() {
    let _one = testbed_lock();
    let host = FakeHost::macos();
    let sb = Sandbox::new(&config("mk8s-vm-keep", VM, ""));
    kat_ok(&sb, &host, &["up"]);
    host.clear_log();
    kat_ok(&sb, &host, &["down", "--yes"]);
    assert_eq!(host.state()["installed"], true);
    assert_eq!(host.state()["held"], false, "the hold kat set is released");
    assert!(!host.calls().iter().any(|c| c == "microk8s uninstall"));
    assert_eq!(
        host.addons(),
        Vec::<String>::new(),
        "kat's addons are disabled"
    );
}

#[test]
fn without_install_a_missing_vm_names_the_install_command() {
    let host = FakeHost::macos();
    let sb = Sandbox::new(&config("mk8s-vm-none", "vm:\n  cpus: 3", ""));
    let (code, _, stderr) = kat(&sb, &host, &["up"]);
    let err = error_line(&stderr);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`microk8s install --cpu 3 --mem 4 --disk 50 --channel 1.32/stable")
            && err.contains("brew install ubuntu/microk8s/microk8s")
            && err.contains("provider.microk8s.install: true"),
        "{err}"
    );
    assert_eq!(host.mutating_calls(), Vec::<String>::new());
}

#[test]
fn a_vm_tracking_another_channel_is_refused_with_the_command_that_moves_it() {
    let host = FakeHost::macos();
    host.set("installed", json!(true));
    host.set("channel", json!("1.30/stable"));
    let sb = Sandbox::new(&config("mk8s-vm-chan", "channel: 1.31/stable", ""));
    let (code, _, stderr) = kat(&sb, &host, &["up"]);
    let err = error_line(&stderr);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("tracks channel 1.30/stable")
            && err.contains(
                "`multipass exec microk8s-vm -- sudo snap refresh microk8s --channel=1.31/stable`"
            ),
        "{err}"
    );
    assert_eq!(host.mutating_calls(), Vec::<String>::new());
}
