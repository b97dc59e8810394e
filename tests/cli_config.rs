//! What a user sees when kat.yaml or a flag is wrong (exit 2, file:line:column, key, allowed
//! values), and the commands that print reference material.

mod common;

use common::*;

fn fails_with(config: &str, args: &[&str], expected: &[&str]) {
    let sb = Sandbox::new(config);
    let out = sb.run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for e in expected {
        assert!(stderr.contains(e), "stderr lacks {e:?}:\n{stderr}");
    }
    assert!(
        !sb.path().join(".kat").exists() || mutating_calls(&sb.world("default")) == 0,
        "nothing was touched"
    );
}

#[test]
fn unknown_key_names_file_line_column_key_and_allowed_keys() {
    fails_with(
        "provider:\n  name: sim\n  nodes:\n    cuont: 3\n",
        &["up"],
        &[
            "kat.yaml:4:5: provider.nodes.cuont: unknown field `cuont`",
            "`count`",
            "allowed:",
        ],
    );
}

#[test]
fn wrong_type_and_bad_enum_and_bad_yaml_are_located() {
    fails_with(
        "provider:\n  name: sim\n  nodes:\n    count: three\n",
        &["plan"],
        &["kat.yaml:4:12: provider.nodes.count: invalid type: string \"three\", expected a whole number"],
    );
    fails_with(
        "provider:\n  name: gke\n",
        &["up"],
        &[
            "kat.yaml:2:9: provider.name: unknown variant `gke`",
            "allowed: `sim`, `eks`",
        ],
    );
    fails_with(
        "database:\n  mode: aurora\n",
        &["up", "--provider", "sim"],
        &[
            "kat.yaml:2:9: database.mode",
            "allowed: `none`, `in-cluster`, `managed`",
        ],
    );
    fails_with("provider: {name: sim\n", &["up"], &["kat.yaml:"]);
}

#[test]
fn checks_after_parsing_point_at_the_key_too() {
    fails_with(
        "provider:\n  name: sim\n  nodes:\n    count: 5\n    max: 3\n",
        &["up"],
        &["kat.yaml:3:3: provider.nodes: need min ≤ count ≤ max, got min 1, count 5, max 3"],
    );
    fails_with(
        "provider:\n  name: sim\ntimeouts:\n  stages:\n    clustre: 5m\n",
        &["up"],
        &[
            "kat.yaml:5:5: timeouts.stages.clustre: no stage `clustre`",
            "stages: network",
        ],
    );
    fails_with(
        "environment: Prod_1\nprovider: {name: sim}\n",
        &["up"],
        &["kat.yaml:1:1: environment: invalid environment name `Prod_1`"],
    );
}

#[test]
fn flags_are_checked_and_override_the_file() {
    fails_with(
        "provider: {name: sim}\n",
        &["up", "--env", "UPPER"],
        &["--env: invalid environment name"],
    );
    fails_with("", &["up"], &["no provider chosen", "--provider"]);
    fails_with(
        "",
        &["up", "--provider", "gcp"],
        &["unknown provider `gcp`"],
    );
    if !cfg!(feature = "eks") {
        fails_with(
            "",
            &["up", "--provider", "eks"],
            &["built without the eks provider", "--features eks"],
        );
    }
    if !cfg!(feature = "aks") {
        fails_with(
            "",
            &["up", "--provider", "aks"],
            &["built without the aks provider", "--features aks"],
        );
    }
    fails_with(
        "provider: {name: sim}\n",
        &["up", "--timeout", "soon"],
        &["--timeout"],
    );
    // The flag wins over the file.
    let sb = Sandbox::new("environment: fromfile\nprovider:\n  name: sim\n  sim: {scale: 0.001}\n");
    let (code, events, _) = sb.run_json(&["up", "--env", "fromflag", "--until", "network"]);
    assert_eq!(code, 0);
    assert_eq!(summary(&events)["env"], "fromflag");
    assert!(sb.state_path("fromflag").exists() && !sb.state_path("fromfile").exists());
}

#[test]
fn reference_commands_print_what_they_promise() {
    let sb = Sandbox::new("");
    let out = sb.run(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown top-level keys are invalid"
    );
    for key in [
        "provider",
        "database",
        "addons",
        "blueprint",
        "timeouts",
        "registry",
        "tags",
        "state",
    ] {
        assert!(schema["properties"].get(key).is_some(), "{key} in schema");
    }
    let out = sb.run(&["providers"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("sim") && text.contains("eks") && text.contains("aks"),
        "{text}"
    );
    let out = sb.run(&["completions", "bash"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("kat"));
    let out = sb.run(&["init", "--provider", "eks", "--env", "ws1", "--force"]);
    assert_eq!(out.status.code(), Some(0));
    let written = std::fs::read_to_string(sb.path().join("kat.yaml")).unwrap();
    assert!(written.contains("  name: eks\n") && written.contains("environment: ws1\n"));
    assert_eq!(sb.run(&["init"]).status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(sb.path().join("kat.yaml")).unwrap(),
        written,
        "keeps the file it finds"
    );
    assert_eq!(sb.run(&["--help"]).status.code(), Some(0));
    assert_eq!(sb.run(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn kubeconfig_is_written_owner_only_and_printed() {
    let sb = Sandbox::new("environment: kc\nprovider:\n  name: sim\n  sim: {scale: 0.001}\n");
    assert_eq!(
        sb.run(&["kubeconfig"]).status.code(),
        Some(1),
        "none before up"
    );
    assert_eq!(sb.run_json(&["up"]).0, 0);
    let out = sb.run(&["kubeconfig"]);
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // Absolute: `export KUBECONFIG=$(kat kubeconfig)` must survive a `cd`.
    assert!(std::path::Path::new(&path).is_absolute(), "{path}");
    let full = std::path::PathBuf::from(&path);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&full).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(std::fs::read_to_string(&full)
        .unwrap()
        .contains("current-context: kat-kc"));
    assert_eq!(
        std::fs::metadata(sb.state_path("kc"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    // --merge: into $KUBECONFIG's first file, beside what is there, and current.
    let mine = sb.path().join("home-kube-config");
    std::fs::write(&mine, "apiVersion: v1\nkind: Config\nclusters:\n- name: mine\n  cluster: {server: 'https://mine'}\ncontexts:\n- name: mine\n  context: {cluster: mine, user: mine}\nusers:\n- name: mine\n  user: {}\ncurrent-context: mine\n").unwrap();
    let out = sb
        .cmd(&["kubeconfig", "--merge"])
        .env("KUBECONFIG", &mine)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = std::fs::read_to_string(&mine).unwrap();
    assert!(merged.contains("current-context: kat-kc"), "{merged}");
    assert!(merged.contains("https://mine"), "{merged}");
    assert_eq!(
        std::fs::metadata(&mine).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // --exec: sim has no exec plugin, and says so (a usage error).
    let out = sb.run(&["kubeconfig", "--exec"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not supported by the sim provider"));
}

#[test]
fn addon_and_blueprint_mistakes_point_at_their_line() {
    fails_with(
        "provider:\n  name: sim\naddons:\n  cert-manager:\n    enabled: true\n    settings:\n      emial: me@example.com\n",
        &["up"],
        &[
            "kat.yaml:7:7: addons.cert-manager.settings.emial",
            "unknown setting `emial`",
        ],
    );
    fails_with(
        "provider:\n  name: sim\nblueprint:\n  name: nanomon\n  values:\n    replicaz: 2\n",
        &["up"],
        &[
            "kat.yaml:6:5: blueprint.values.replicaz",
            "unknown value `replicaz`",
        ],
    );
}
