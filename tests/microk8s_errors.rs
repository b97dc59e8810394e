//! What the user must fix is one line naming the key or the command, exit 2, before anything on
//! the machine is touched.
#![cfg(feature = "microk8s")]

mod common;
mod microk8s_support;

use common::Sandbox;
use microk8s_support::*;
use serde_json::json;

fn refused(state: serde_json::Value, provider: &str) -> (i32, String, FakeHost) {
    let host = FakeHost::new(state);
    let sb = Sandbox::new(&config("mk8s-err", provider, ""));
    let (code, _, stderr) = kat(&sb, &host, &["up"]);
    assert!(
        !sb.path().join(".kat").join("mk8s-err").exists(),
        "a refused run leaves no state"
    );
    (code, error_line(&stderr), host)
}

#[test]
fn missing_microk8s_gives_the_install_command() {
    let (code, err, host) = refused(json!({"installed": false}), "");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("sudo snap install microk8s --classic --channel=1.32/stable")
            && err.contains("provider.microk8s.install: true"),
        "{err}"
    );
    assert_eq!(host.mutating_calls(), Vec::<String>::new());
}

#[test]
fn a_user_outside_the_group_is_told_how_to_join_it() {
    let mut state = installed(&[]);
    state["permission_denied"] = json!(true);
    let (code, err, host) = refused(state, "");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("usermod -a -G microk8s") && err.contains("command_prefix"),
        "{err}"
    );
    assert_eq!(host.mutating_calls(), Vec::<String>::new());
}

#[test]
fn a_stopped_microk8s_is_named_with_the_command_that_starts_it() {
    let mut state = installed(&[]);
    state["running"] = json!(false);
    let (code, err, _) = refused(state, "");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("not running") && err.contains("microk8s start"),
        "{err}"
    );
}

#[test]
fn another_channel_than_the_pinned_one_is_refused_naming_both() {
    let mut state = installed(&[]);
    state["channel"] = json!("1.30/stable");
    let (code, err, host) = refused(state, "");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("1.30/stable") && err.contains("provider.microk8s.channel"),
        "{err}"
    );
    assert_eq!(host.mutating_calls(), Vec::<String>::new());
}

#[test]
fn an_unreachable_host_names_the_host_key() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Nothing listens on a port just released.
    let (code, err, _) = refused(
        installed(&[]),
        &format!("host: root@127.0.0.1\nport: {port}"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("provider.microk8s.host") && err.contains("Connection refused"),
        "{err}"
    );
}

#[test]
fn a_missing_key_file_names_the_key() {
    let (code, err, _) = refused(
        installed(&[]),
        "host: root@127.0.0.1\nkey: /nonexistent/id_ed25519",
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("provider.microk8s.key") && err.contains("/nonexistent/id_ed25519"),
        "{err}"
    );
}

#[test]
fn a_malformed_host_is_refused() {
    let (code, err, _) = refused(installed(&[]), "host: \"root@127.0.0.1;reboot\"");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("provider.microk8s.host"), "{err}");
}
