//! Habits users bring from terraform, kind and eksctl: `down` asks a person at the keyboard
//! whatever its output is piped into, and a mistyped environment creates nothing.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

/// Runs `shell` (a command line for sh) with stdin, stdout and stderr on a pseudo-terminal made
/// by util-linux `script`, typing `typed`; returns the exit code (of the line's last command)
/// and everything the terminal showed.
fn on_a_terminal(sb: &Sandbox, shell: &str, typed: &str) -> (i32, String) {
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", shell, "/dev/null"])
        .current_dir(sb.path())
        .env("CI", "true")
        .env_remove("KAT_ENV")
        .env_remove("KAT_STATE_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs (Debian package bsdutils)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(typed.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn down_asks_at_a_terminal_even_when_its_output_is_piped_and_ci_is_set() {
    let env = "habit-ask";
    let sb = Sandbox::new(&full_config(env, 0.001));
    let out = sb.run(&["up"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let kat = env!("CARGO_BIN_EXE_kat");
    let (_, shown) = on_a_terminal(&sb, &format!("{kat} down 2>&1 | cat"), "n\n");
    assert!(
        shown.contains(&format!("Destroy environment `{env}`")),
        "{shown}"
    );
    assert!(shown.contains("nothing was changed"), "{shown}");
    assert!(
        !sb.state(env)["stages"].as_object().unwrap().is_empty(),
        "declining destroys nothing"
    );

    // Typed "y": destroyed.
    let (_, shown) = on_a_terminal(&sb, &format!("{kat} down 2>&1 | cat"), "y\n");
    assert!(shown.contains("nothing is left"), "{shown}");
    assert_eq!(sb.state(env)["stages"], serde_json::json!({}));
}

#[test]
fn a_mistyped_environment_creates_nothing_and_names_the_known_ones() {
    let sb = Sandbox::new(&full_config("habit-real", 0.001));
    let out = sb.run(&["up"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (code, events, stderr) = sb.run_json(&["down", "--env", "habit-ghost"]);
    assert_eq!(code, 0, "{stderr}");
    let next = summary(&events)["next"].as_str().unwrap().to_string();
    assert!(
        next.contains("no environment `habit-ghost` was found")
            && next.contains("environments kat knows here: habit-real"),
        "{next}"
    );
    assert!(!sb.path().join(".kat/habit-ghost").exists());

    // A declined prompt for an unknown environment leaves nothing either.
    let kat = env!("CARGO_BIN_EXE_kat");
    let (_, shown) = on_a_terminal(&sb, &format!("{kat} down --env habit-typo"), "n\n");
    assert!(shown.contains("nothing was changed"), "{shown}");
    assert!(!sb.path().join(".kat/habit-typo").exists());
    assert!(sb.path().join(".kat/habit-real/state.json").is_file());
}

/// Every message a user meets when a provider is not there reads as one sentence, names the
/// flag or key, says what to do, and exits 2.
#[test]
fn messages_for_providers_that_are_not_there_read_as_sentences() {
    let sb = Sandbox::new(&full_config("habit-msg", 0.001));
    if !cfg!(feature = "aks") {
        let out = sb.run(&["up", "--provider", "aks"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(
            stderr.trim(),
            "error: --provider aks: this kat binary was built without the aks provider; rebuild it with `cargo install --path . --features aks`"
        );
        assert!(!sb.path().join(".kat/habit-msg").exists());
    }

    let out = sb.run(&["up"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sb.run(&["kubeconfig", "--exec"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "error: `kat kubeconfig --exec` (a kubeconfig whose credentials come from the cloud's CLI each time) is not supported by the sim provider"
    );

    let listed = String::from_utf8_lossy(&sb.run(&["providers"]).stdout).into_owned();
    assert!(!listed.contains("not implemented"), "{listed}");
    for line in listed.lines().filter(|l| l.starts_with("aks")) {
        assert_eq!(
            line.ends_with("(not in this build: `cargo install --path . --features aks`)"),
            !cfg!(feature = "aks"),
            "{listed}"
        );
    }
}

/// `provider: sim` and `blueprint: nanomon`, as people type them.
#[test]
fn a_section_can_be_written_as_its_name() {
    let sb = Sandbox::new("environment: habit-short\nprovider: sim\nblueprint: nanomon\n");
    let out = sb.run(&["plan"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains("on sim") && plan.contains("blueprint"),
        "{plan}"
    );

    sb.write_config("provider: [sim]\n");
    let out = sb.run(&["plan"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("kat.yaml:1:")
            && stderr.contains("a provider name (`provider: sim`) or a mapping"),
        "{stderr}"
    );
}

/// `kat init && kat up` can be run twice, and `init --provider kubeconfig` writes a file that
/// plans cleanly for an existing cluster.
#[test]
fn init_keeps_an_existing_file_and_writes_one_that_fits_the_provider() {
    let sb = Sandbox::new("");
    std::fs::remove_file(sb.path().join("kat.yaml")).unwrap();
    let out = sb.run(&["init", "--provider", "kubeconfig"]);
    assert!(out.status.success());
    let written = std::fs::read_to_string(sb.path().join("kat.yaml")).unwrap();

    let out = sb.run(&["init"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("kat.yaml exists; kept it"));
    assert_eq!(
        std::fs::read_to_string(sb.path().join("kat.yaml")).unwrap(),
        written
    );

    let (code, events, stderr) = sb.run_json(&["plan"]);
    assert_eq!(code, 0, "{stderr}");
    let warnings: Vec<_> = events.iter().filter(|e| e["event"] == "warning").collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert!(written.contains("mode: in-cluster"), "{written}");

    // The same file switched to a provider without a cluster stage: the budget is a warning.
    sb.write_config("provider: kubeconfig\ntimeouts:\n  stages:\n    cluster: 40m\n");
    let (code, events, stderr) = sb.run_json(&["plan"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        events.iter().any(|e| e["event"] == "warning"
            && e["message"].as_str().unwrap().contains(
                "timeouts.stages.cluster: the kubeconfig provider has no `cluster` stage"
            )),
        "{events:#?}"
    );
    // `status -o json` keeps stdout for its one document: the warning goes to stderr.
    let out = sb.run(&["status", "-o", "json"]);
    let doc: Result<serde_json::Value, _> = serde_json::from_slice(&out.stdout);
    assert!(
        doc.is_ok(),
        "one JSON document: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timeouts.stages.cluster"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A stage no environment has is a typo: still an error.
    sb.write_config("provider: kubeconfig\ntimeouts:\n  stages:\n    clustre: 40m\n");
    assert_eq!(sb.run(&["plan"]).status.code(), Some(2));
}

/// A command's own flags come first, under their headings; the global ones after, apart.
#[test]
fn help_keeps_a_commands_flags_apart_from_the_global_ones() {
    let sb = Sandbox::new("");
    let help = String::from_utf8_lossy(&sb.run(&["down", "--help"]).stdout).into_owned();
    let at = |s: &str| {
        help.find(s)
            .unwrap_or_else(|| panic!("{s} missing:\n{help}"))
    };
    assert!(
        at("Run:") < at("--dry-run") && at("--force ") < at("Stage selection:"),
        "{help}"
    );
    assert!(
        at("Stage selection:") < at("--only") && at("--until") < at("Global options:"),
        "{help}"
    );
    assert!(at("Global options:") < at("--provider"), "{help}");
}

/// A fresh plan creates the kubeconfig; it does not "update" a file that is not there.
#[test]
fn a_fresh_plan_creates_the_kubeconfig() {
    let sb = Sandbox::new(&full_config("habit-plan", 0.001));
    let plan = String::from_utf8_lossy(&sb.run(&["plan"]).stdout).into_owned();
    assert!(
        plan.contains("+ create kubeconfig/kat-habit-plan"),
        "{plan}"
    );
    assert!(!plan.contains("~ update kubeconfig"), "{plan}");
}

/// The README's first command, `kat init && kat up`, run twice: the second run keeps the file and
/// changes nothing.
#[test]
fn the_first_command_can_be_run_twice() {
    let sb = Sandbox::new("");
    std::fs::remove_file(sb.path().join("kat.yaml")).unwrap();
    for round in 0..2 {
        assert!(sb.run(&["init"]).status.success(), "init, round {round}");
        let (code, events, stderr) = sb.run_json(&["up"]);
        assert_eq!(code, 0, "round {round}: {stderr}");
        let result = summary(&events)["result"].clone();
        assert_eq!(result, if round == 0 { "ok" } else { "no-changes" });
    }
    let out = sb.run(&["down", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `-v` into a pipe (a CI log): debug lines, without colour codes.
#[test]
fn verbose_logs_into_a_pipe_carry_no_colour_codes() {
    let sb = Sandbox::new(&full_config("habit-verbose", 0.001));
    let out = sb.run(&["up", "-v"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("DEBUG"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr}");
}

/// `kat init` writes the defaults of the sim provider (RDS, the cluster autoscaler); choosing an
/// existing cluster afterwards sets those aside with a warning naming each key, while a managed
/// database the user wrote themselves stays an error at its line saying what to do.
#[test]
fn keys_init_wrote_for_another_provider_are_warnings_and_yours_are_errors() {
    let sb = Sandbox::new("");
    std::fs::remove_file(sb.path().join("kat.yaml")).unwrap();
    assert_eq!(sb.run(&["init"]).status.code(), Some(0));
    // A cluster that does not answer: the run gets as far as connecting to it.
    std::fs::write(
        sb.path().join("dead.kubeconfig"),
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"https://127.0.0.1:9\"}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\nusers:\n- name: u\n  user: {token: x}\ncurrent-context: c\n",
    )
    .unwrap();
    let out = sb
        .cmd(&["up", "--provider", "kubeconfig"])
        .env("KUBECONFIG", sb.path().join("dead.kubeconfig"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("warning: kat.yaml:39: database.mode: managed is `kat init`'s default"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "warning: kat.yaml:52: addons.cluster-autoscaler is on in `kat init`'s defaults"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("does not answer"), "{stderr}");
    assert!(!stderr.contains("error: kat.yaml:39"), "{stderr}");

    sb.write_config("provider: kubeconfig\ndatabase:\n  mode: rds\n");
    let out = sb.run(&["up"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "kat.yaml:3:3: database.mode: the kubeconfig provider has no managed database"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("use `mode: in-cluster`"), "{stderr}");
}

/// `kat providers | head -1`: a command that only prints ends as `cat` does when its reader is
/// gone (killed by SIGPIPE, nothing on stderr), not with a panic and a backtrace.
#[test]
fn a_printing_command_ends_quietly_when_its_reader_is_gone() {
    use std::os::unix::process::ExitStatusExt;
    let sb = Sandbox::new("provider:\n  name: sim\n");
    // The reading end is closed before kat writes anything: its first line meets no reader.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = sb
        .cmd(&["providers"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run kat");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
}
