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

const MIRRORED: &str = "name: mirrored\ndescription: one Deployment whose published image is mirrored\nsource: https://example.invalid/mirrored\nnamespace: mk8s-mirror-web\ncomponents:\n  - name: web\n    description: a web server\n    image: web\n    port: 8080\nimages:\n  web: { ref: \"SOURCE/team/web:1.0\" }\n";

/// microk8s on another machine: its nodes pull from `localhost:32000`, but this machine reaches
/// the registry at the host's address. Here the "host" is 127.0.0.2 (sshd and the registry
/// listen there only), so a copy pushed to `localhost:32000` would find nothing listening.
#[test]
fn images_are_mirrored_to_the_hosts_registry_and_run_as_the_nodes_pull_them() {
    let _one = testbed_lock();
    let env = "mk8s-mirror";
    let fake = FakeHost::new(installed(&[]));
    let sshd = Sshd::start_at(&fake, "127.0.0.2");
    let hosts_registry = common::registry::Registry::start_at("127.0.0.2:32000", None);
    let source = common::registry::Registry::start(None);
    let image = common::registry::push_image(&source, "team/web", "1.0", &[(61, 40_000)]);
    let sb = Sandbox::new(&config(
        env,
        &sshd.provider_lines(&sshd.client_key()),
        "blueprint:\n  name: ./bp\n",
    ));
    let bp = sb.path().join("bp");
    std::fs::create_dir_all(bp.join("templates")).unwrap();
    std::fs::write(
        bp.join("blueprint.yaml"),
        MIRRORED.replace("SOURCE", &source.host),
    )
    .unwrap();
    std::fs::write(
        bp.join("templates/web.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: mk8s-mirror-web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: \"{{ images.web }}\"}]}\n",
    )
    .unwrap();
    // Up to the copy: the Kubernetes API of a host at 127.0.0.2 is not there to reach.
    let events = kat_ok(&sb, &fake, &["up", "--until", "images"]);
    assert_eq!(
        events
            .iter()
            .find(|e| e["event"] == "stage_finished" && e["stage"] == "images")
            .map(|e| e["result"].clone()),
        Some("changed".into()),
        "{events:#?}"
    );
    assert_eq!(
        hosts_registry
            .manifest("team/web", &image.digest)
            .as_deref(),
        Some(image.manifest.as_slice()),
        "the copy is in the host's registry"
    );
    let recorded = &sb.state(env)["stages"]["images"]["outputs"];
    assert_eq!(
        recorded["values"]["images"][format!("{}/team/web:1.0", source.host)],
        format!("localhost:32000/team/web@{}", image.digest),
        "the manifests run it as the nodes pull it: {recorded:#}"
    );
    // `kat images` asks the host's registry too.
    let (code, listed, stderr) = kat(&sb, &fake, &["images"]);
    assert_eq!(code, 0, "{stderr}");
    let row = listed
        .iter()
        .flat_map(|v| v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]))
        .find(|r| r["key"] == "web")
        .unwrap_or_else(|| panic!("{listed:#?}"));
    assert!(
        row["state"]
            .as_str()
            .unwrap()
            .starts_with("mirrored: 127.0.0.2:32000/team/web@"),
        "{row}"
    );
    // A second `up` to the same point finds the copy where it put it.
    let events = kat_ok(&sb, &fake, &["up", "--until", "images"]);
    assert_eq!(summary(&events)["result"], "no-changes", "{events:#?}");
    // `down` would check the cluster for the blueprint's objects first, through an API this
    // test's host cannot serve: the registry addon, whose ConfigMap is on the shared testbed,
    // is disabled by hand.
    fake.run(&["disable", "registry"]);
}

/// A workshop: `provider.microk8s.hosts` makes one environment per host, each over its own real
/// sshd (127.0.0.1 and 127.0.0.2 on one port, one key). The second host has no microk8s and kat
/// may not install it: only that member fails, the fleet summary says why, the first member's
/// handout is written, and `down` gives the first host back as it was.
#[test]
fn a_workshop_makes_one_environment_per_host_and_a_failed_host_stops_nothing() {
    let _one = testbed_lock();
    let ready = FakeHost::new(installed(&[]));
    let bare = FakeHost::new(serde_json::json!({"installed": false}));
    let first = Sshd::start_at(&ready, "127.0.0.1");
    let second = Sshd::start_beside(&bare, "127.0.0.2", &first);
    let provider = format!(
        "hosts: [root@127.0.0.1, root@127.0.0.2]\nport: {}\nkey: {}\nknown_hosts: {}\n",
        first.port,
        first.client_key().display(),
        first.known_hosts().display()
    );
    let sb = Sandbox::new(&config("ws", &provider, ""));

    let (code, events, stderr) = kat(&sb, &ready, &["up"]);
    assert_eq!(code, 1, "one host failed: {stderr}");
    let fleet = events
        .iter()
        .find(|e| e["event"] == "fleet_summary")
        .unwrap_or_else(|| panic!("{events:#?}"));
    let member = |name: &str| {
        fleet["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["member"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{fleet:#}"))
    };
    assert_eq!(member("ws-01")["result"], "ok", "{fleet:#}");
    assert_eq!(member("ws-02")["result"], "failed");
    let why = member("ws-02")["error"].as_str().unwrap().to_string();
    assert!(why.contains("snap install microk8s"), "{why}");
    // Each member went to its own host: the second host was only asked, never changed.
    assert_eq!(
        ready.mutating_calls(),
        [
            "snap refresh --hold microk8s",
            "microk8s enable dns hostpath-storage registry",
        ],
        "sshd log: {}",
        first.log()
    );
    assert!(bare.mutating_calls().is_empty(), "{:#?}", bare.calls());
    assert!(
        !bare.calls().is_empty(),
        "the second host was asked: {}",
        second.log()
    );
    // The first attendee's handout: a kubeconfig for their host's API.
    let handout = sb.path().join(".kat/ws/handout/01");
    let kubeconfig = std::fs::read_to_string(handout.join("kubeconfig")).unwrap();
    assert!(
        kubeconfig.contains("server: https://127.0.0.1:"),
        "{kubeconfig}"
    );
    assert!(!sb.path().join(".kat/ws/handout/02").exists());

    // `down` of the fleet: the first host as it was; the second had nothing to undo.
    ready.clear_log();
    let (code, _, stderr) = kat(&sb, &ready, &["down", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ready.addons(), Vec::<String>::new());
    assert_eq!(ready.state()["held"], false);
    assert!(bare.mutating_calls().is_empty());
    assert!(!sb.path().join(".kat/ws/handout").exists());
}
