//! What a person reads: plain timestamped lines when there is no terminal (or `CI` is set), the
//! live view on a terminal, and the summary table, outputs and next command at the end.

mod common;

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
    let screen = on_a_terminal_logging(&sb, "up -v", Some("kat=debug"));
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

/// `kat up` on a pseudo-terminal made by util-linux `script`; returns everything the terminal
/// showed.
fn on_a_terminal(sb: &Sandbox, args: &str) -> String {
    on_a_terminal_logging(sb, args, None)
}

/// [`on_a_terminal`] with `RUST_LOG` set to `rust_log` (unset when None).
fn on_a_terminal_logging(sb: &Sandbox, args: &str, rust_log: Option<&str>) -> String {
    let kat = env!("CARGO_BIN_EXE_kat");
    let typescript = sb.path().join("typescript");
    let out = common::screen::on_a_pty(sb.path(), &format!("{kat} {args}"), &typescript)
        .envs(rust_log.map(|l| ("RUST_LOG", l)))
        .output()
        .expect("script (util-linux) runs kat on a pseudo-terminal");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    text(&std::fs::read(&typescript).unwrap())
}

/// The whole run at a glance: stages done n/N, total elapsed, what runs and what waits, and for a
/// step the provider knows to be long (the simulated EKS control plane) the usual time as a bar.
#[test]
fn the_live_view_shows_overall_progress_and_expected_waits() {
    // 1:100 of real-world latencies: the control plane's 15 minutes are 9 s, a long wait.
    let sb = Sandbox::new(&full_config("overall", 0.01));
    let screen = on_a_terminal(&sb, "up");
    let stages = 11;
    assert!(screen.contains(&format!("0/{stages} done")), "{screen}");
    assert!(
        screen.contains(&format!("{stages}/{stages} done")),
        "{screen}"
    );
    assert!(screen.contains(" elapsed · "), "{screen}");
    assert!(screen.contains("· running cluster"), "{screen}");
    assert!(screen.contains("· pending "), "{screen}");
    assert!(screen.contains('▕') && screen.contains("▏ ~9s"), "{screen}");
    // The finished lines and the summary name what changed.
    assert!(screen.contains("(create: cluster/kat-overall)"), "{screen}");
    assert!(
        screen.contains(", 2 changes (create: iam-role/"),
        "{screen}"
    );
}

/// Plain lines stay plain (no escape codes) and carry the expected time as words; the summary
/// names each stage's changes, counted past what fits.
#[test]
fn plain_lines_name_changes_and_expected_waits_without_escape_codes() {
    let sb = Sandbox::new(&full_config("words", 0.01));
    let out = sb.run(&["up"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!stderr.contains('\u{1b}') && !stdout.contains('\u{1b}'));
    let cluster = stderr
        .lines()
        .find(|l| l.contains(" cluster ") && l.contains(" apply"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(cluster.ends_with("apply (usually ~9s)"), "{cluster}");
    let network = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("network"))
        .unwrap();
    assert!(
        network.contains("done, 9 changes (create: vpc/kat-words, ") && network.ends_with(" more)"),
        "{network}"
    );
    assert!(
        stdout.contains(": done in ") && stdout.contains(" changes in 11 stages"),
        "{stdout}"
    );
}

/// A warning is said once, on a terminal and in a log.
#[test]
fn a_warning_is_printed_once() {
    let sb = Sandbox::new(&full_config("once", 0.001));
    assert_eq!(sb.run(&["up"]).status.code(), Some(0));
    // Switching an addon off leaves its objects in place, with a warning at each `up`.
    sb.write_config(&full_config("once", 0.001).replace(
        "metrics-server: {enabled: true}",
        "metrics-server: {enabled: false}",
    ));
    let warning = "warning: stages metrics-server were applied by an earlier";
    let plain = text(&sb.run(&["up", "-v"]).stderr);
    assert_eq!(plain.matches(warning).count(), 1, "{plain}");
    let screen = on_a_terminal(&sb, "up -v");
    assert_eq!(screen.matches(warning).count(), 1, "{screen}");
}

/// Ctrl-C typed at the keyboard: the terminal echoes `^C` at the end of the view's last line,
/// which must not push the view down a line and leave a copy of a finished stage above the
/// summary.
#[test]
fn ctrl_c_at_the_keyboard_leaves_no_stray_line_above_the_summary() {
    let sb = Sandbox::new(&full_config("typed", 0.01));
    let kat = env!("CARGO_BIN_EXE_kat");
    let typescript = sb.path().join("typescript");
    let mut child = common::screen::on_a_pty(sb.path(), &format!("{kat} up"), &typescript)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("script (util-linux) runs kat on a pseudo-terminal");
    // Typed once the control plane is being waited for, with finished stages on screen.
    loop {
        let shown = std::fs::read(&typescript).unwrap_or_default();
        if text(&shown).contains("waiting for cluster/") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    use std::io::Write as _;
    let mut keyboard = child.stdin.take().unwrap();
    keyboard.write_all(b"\x03").unwrap();
    keyboard.flush().unwrap();
    let status = child.wait().unwrap();
    drop(keyboard);
    assert_eq!(status.code(), Some(130));

    let shown = text(&std::fs::read(&typescript).unwrap());
    assert!(shown.contains("^C"), "the terminal echoed the key: {shown}");
    let screen = common::screen::replay(&shown, 80);
    let headline = screen
        .iter()
        .position(|l| l.starts_with("kat up typed: interrupted"))
        .unwrap_or_else(|| panic!("{screen:#?}"));
    for line in &screen[..headline] {
        assert!(
            !line.contains('✔') && !line.contains(" elapsed · "),
            "left above the summary: {line:?}\n{screen:#?}"
        );
    }
}
