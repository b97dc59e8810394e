//! What a person reads: plain timestamped lines when there is no terminal (or `CI` is set), the
//! live view on a terminal, and the summary table, outputs and next command at the end.

mod common;

use std::process::Command;

use common::*;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn plain_output_has_timestamped_lines_then_the_summary() {
    let sb = Sandbox::new(&full_config("plain", 0.001));
    let out = sb.run(&["up"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));

    // Every progress line starts with an RFC 3339 UTC timestamp.
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 10, "{stderr}");
    for line in &lines {
        let ts = line.split_whitespace().next().unwrap_or("");
        assert!(
            ts.len() >= 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
            "not timestamped: {line}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("cluster") && l.contains("apply")),
        "{stderr}"
    );

    assert!(stdout.contains("kat up plain: done in"), "{stdout}");
    assert!(
        stdout.contains("STAGE") && stdout.contains("RESULT") && stdout.contains("DURATION"),
        "{stdout}"
    );
    for stage in ["network", "cluster", "nodes", "database", "ingress-nginx"] {
        let row = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(stage))
            .unwrap_or_else(|| panic!("no row for {stage}: {stdout}"));
        assert!(row.contains("done, "), "{row}");
    }
    assert!(stdout.contains("Outputs"), "{stdout}");
    assert!(stdout.contains("Next: "), "{stdout}");

    let again = sb.run(&["up"]);
    assert_eq!(again.status.code(), Some(0));
    let stdout = text(&again.stdout);
    assert!(stdout.contains("kat up plain: no changes"), "{stdout}");
    assert!(!stdout.contains("done, "), "{stdout}");
}

#[test]
fn quiet_prints_only_the_summary() {
    let sb = Sandbox::new(&full_config("hush", 0.001));
    let out = sb.run(&["up", "-q"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !text(&out.stderr).contains(" apply"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("kat up hush: done in"));
}

/// Runs kat under `script`, which gives it a pseudo-terminal, with `CI` unset.
#[test]
fn a_terminal_gets_the_live_view_and_log_lines_above_it() {
    let sb = Sandbox::new(&full_config("tty", 0.001));
    let kat = env!("CARGO_BIN_EXE_kat");
    let typescript = sb.path().join("typescript");
    let out = Command::new("script")
        .args([
            "-q",
            "-e",
            "-c",
            &format!("{kat} up -v"),
            typescript.to_str().unwrap(),
        ])
        .current_dir(sb.path())
        .env_remove("CI")
        .env("RUST_LOG", "kat=debug")
        .env("TERM", "xterm")
        .output()
        .expect("script (util-linux) runs kat on a pseudo-terminal");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let screen = text(&std::fs::read(&typescript).unwrap());
    // Finished stages are marked, with their durations; the summary follows.
    assert!(screen.contains('✔'), "{screen}");
    assert!(screen.contains("kat up tty: done in"), "{screen}");
    // Debug log lines were printed (above the bars, not through them).
    assert!(screen.contains("DEBUG"), "{screen}");
    // No timestamped plain lines: that format is for pipes and CI.
    assert!(
        !screen
            .lines()
            .any(|l| l.starts_with("20") && l.contains("Z ")),
        "{screen}"
    );
}
