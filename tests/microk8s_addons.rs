//! `addons.<id>.source: microk8s`: the cluster's own addon instead of kat's manifests, enabled in
//! the same single `microk8s enable` as the rest, nothing applied by kat for it, and disabled
//! again by `down`; a source the provider cannot give is refused before anything is touched.
#![cfg(feature = "microk8s")]

mod common;
mod microk8s_support;

use common::{summary, Sandbox};
use microk8s_support::*;

const OWN: &str = "addons:
  metrics-server:
    enabled: true
    source: microk8s
  monitoring:
    enabled: true
    source: microk8s
";

#[test]
fn the_cluster_s_own_addons_are_enabled_once_and_given_back_by_down() {
    let _one = testbed_lock();
    let env = "mk8s-own";
    let host = FakeHost::new(installed(&[]));
    let sb = Sandbox::new(&config(env, "", OWN));

    let events = kat_ok(&sb, &host, &["up"]);
    let enables: Vec<String> = host
        .mutating_calls()
        .into_iter()
        .filter(|c| c.starts_with("microk8s enable"))
        .collect();
    assert_eq!(enables.len(), 1, "one enable for every addon: {enables:?}");
    for addon in [
        "dns",
        "hostpath-storage",
        "registry",
        "metrics-server",
        "observability",
    ] {
        assert!(
            enables[0].split(' ').any(|w| w == addon),
            "{addon} in {enables:?}"
        );
    }
    // kat applied nothing of its own for them: no monitoring namespace of kat's.
    let namespaces = kubectl(&[
        "get",
        "namespace",
        "-l",
        &format!("kat.dev/environment={env}"),
        "-o",
        "name",
    ]);
    assert!(!namespaces.contains("namespace/monitoring"), "{namespaces}");
    let shown = &summary(&events)["shown"];
    assert!(
        shown["monitoring"]
            .as_str()
            .is_some_and(|s| s.contains("microk8s addon `observability`")),
        "{shown:#}"
    );

    host.clear_log();
    kat_ok(&sb, &host, &["down", "--yes"]);
    let disables: Vec<String> = host
        .mutating_calls()
        .into_iter()
        .filter(|c| c.starts_with("microk8s disable"))
        .collect();
    assert!(
        disables
            .iter()
            .any(|c| c.contains("observability") && c.contains("metrics-server")),
        "{disables:?}"
    );
    assert_eq!(host.addons(), Vec::<String>::new());
}

fn refused(rest: &str) -> (i32, String, FakeHost) {
    let host = FakeHost::new(installed(&[]));
    let sb = Sandbox::new(&config("mk8s-src", "", rest));
    let (code, _, stderr) = kat(&sb, &host, &["up"]);
    (code, error_line(&stderr), host)
}

#[test]
fn an_addon_microk8s_does_not_have_is_refused_naming_the_key() {
    let (code, err, host) =
        refused("addons:\n  cluster-autoscaler:\n    enabled: true\n    source: microk8s\n");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("addons.cluster-autoscaler.source")
            && err.contains("no addon of its own for cluster-autoscaler"),
        "{err}"
    );
    assert_eq!(host.mutating_calls(), Vec::<String>::new());
}

#[test]
fn another_provider_s_name_as_a_source_is_refused() {
    let (code, err, host) =
        refused("addons:\n  metrics-server:\n    enabled: true\n    source: eks\n");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("addons.metrics-server.source")
            && err.contains("`kat`")
            && err.contains("`microk8s`"),
        "{err}"
    );
    assert_eq!(host.mutating_calls(), Vec::<String>::new());
}
