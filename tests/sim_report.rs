//! `kat report`: the last run drawn as a page, checked against the run's own events, and loaded
//! in a real browser (Debian's headless Chromium) that lays it out, runs its script and takes a
//! screenshot kept as a test artifact.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use common::*;
use serde_json::Value;

fn config(env: &str) -> String {
    // Random throttling errors (seeded, so reproducible) make retries to draw.
    format!(
        "environment: {env}\nprovider:\n  name: sim\n  sim:\n    scale: 0.001\n    error_rate: 0.3\n    seed: 7\ndatabase:\n  mode: rds\naddons:\n  ingress-nginx: {{enabled: true}}\n  cert-manager: {{enabled: true}}\n  metrics-server: {{enabled: true}}\n"
    )
}

fn ts(v: &Value) -> SystemTime {
    humantime::parse_rfc3339(v["ts"].as_str().expect("ts")).expect("RFC 3339")
}

/// What the page must show, worked out from the events alone: the rows in start order, each
/// stage's start (ms since the run began), and the critical path over the graph's prerequisites.
struct Expected {
    rows: Vec<String>,
    start_ms: BTreeMap<String, u64>,
    critical: Vec<String>,
    retries: usize,
}

fn expected(events: &[Value], deps: &BTreeMap<String, Vec<String>>) -> Expected {
    let started = events.iter().find(|e| e["event"] == "run_started").unwrap();
    let graph_order: Vec<String> = started["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let t0 = ts(started);
    let ms = |e: &Value| ts(e).duration_since(t0).unwrap().as_millis() as u64;
    let mut start_ms = BTreeMap::new();
    let mut end_ms = BTreeMap::new();
    for e in events {
        let stage = e["stage"].as_str().unwrap_or("").to_string();
        match e["event"].as_str().unwrap() {
            "stage_started" => {
                start_ms.insert(stage, ms(e));
            }
            "stage_finished" | "stage_failed" => {
                end_ms.insert(stage, ms(e));
            }
            _ => {}
        }
    }
    let mut rows: Vec<(u64, usize, String)> = graph_order
        .iter()
        .enumerate()
        .filter_map(|(i, id)| start_ms.get(id).map(|&s| (s, i, id.clone())))
        .collect();
    rows.sort();
    let mut rows: Vec<String> = rows.into_iter().map(|(_, _, id)| id).collect();
    rows.extend(
        graph_order
            .iter()
            .filter(|id| !start_ms.contains_key(*id))
            .cloned(),
    );
    // Back from the last stage to finish, each time to the prerequisite that finished last.
    let mut current = end_ms
        .iter()
        .max_by_key(|(_, &end)| end)
        .map(|(id, _)| id.clone())
        .expect("some stage finished");
    let mut critical = vec![current.clone()];
    while let Some(gate) = deps[&current]
        .iter()
        .filter_map(|d| end_ms.get(d).map(|&e| (e, d.clone())))
        .max_by_key(|(e, _)| *e)
        .map(|(_, d)| d)
    {
        critical.push(gate.clone());
        current = gate;
    }
    critical.reverse();
    let retries = events
        .iter()
        .filter(|e| e["event"] == "stage_progress")
        .filter(|e| e["message"].as_str().unwrap().contains("retry"))
        .count();
    Expected {
        rows,
        start_ms,
        critical,
        retries,
    }
}

/// The attributes of every `<g class="stage…">` in an HTML or SVG text, in document order.
fn stage_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut rows = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("<g class=\"stage") {
        let (attrs, after) = attributes(&rest[i + 3..]);
        rows.push(attrs);
        rest = after;
    }
    rows
}

/// `name="value"` pairs up to the tag's end (a `>` outside quotes: serializers leave `>` raw in
/// attribute values).
fn attributes(tag: &str) -> (BTreeMap<String, String>, &str) {
    let mut attrs = BTreeMap::new();
    let mut chars = tag.char_indices().peekable();
    let mut name = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '>' => return (attrs, &tag[i + 1..]),
            '=' => {
                let quote = chars.next().map(|(_, q)| q).unwrap_or('"');
                let mut value = String::new();
                for (_, c) in chars.by_ref() {
                    if c == quote {
                        break;
                    }
                    value.push(c);
                }
                attrs.insert(std::mem::take(&mut name), value);
            }
            c if c.is_whitespace() => name.clear(),
            c => name.push(c),
        }
    }
    (attrs, "")
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
}

fn headless(browser: &Path, profile: &Path, extra: &[String], page: &Path) -> std::process::Output {
    Command::new(browser)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium")
}

#[test]
fn the_report_draws_every_stage_of_the_last_run_and_a_browser_renders_it() {
    let sb = Sandbox::new(&config("pic"));
    let out = sb
        .cmd(&["up", "--jobs", "2", "--report", "-o", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let events = parse_events(&String::from_utf8_lossy(&out.stdout));
    let written = stderr
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .unwrap_or_else(|| panic!("`up --report` names its page: {stderr}"));
    assert!(
        Path::new(written).ends_with(".kat/pic/report.html"),
        "the default place: {written}"
    );
    assert!(sb.path().join(written).is_file());

    // The record beside the journal: one entry per stage of the run, with the graph's edges.
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(sb.path().join(".kat/pic/last-run.json")).unwrap(),
    )
    .unwrap();
    let deps: BTreeMap<String, Vec<String>> = record["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let deps = s["deps"].as_array().unwrap();
            let deps = deps.iter().map(|d| d.as_str().unwrap().to_string());
            (s["id"].as_str().unwrap().to_string(), deps.collect())
        })
        .collect();
    let mut cluster_deps = deps["cluster"].clone();
    cluster_deps.sort();
    assert_eq!(cluster_deps, ["identity", "network"]);
    let want = expected(&events, &deps);
    assert!(want.retries > 0, "a 30% error rate retries something");
    assert!(want.critical.len() >= 3, "{:?}", want.critical);

    // `kat report` draws the same run again, anywhere.
    let page = sb.path().join("out/report.html");
    let out = sb.run(&["report", "--out", page.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        page.to_str().unwrap()
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://") || !html.contains("src=\"http"),
        "nothing fetched"
    );
    assert!(
        !html.contains("<script src") && !html.contains("<link"),
        "self-contained"
    );
    let svg_path = sb.path().join("timeline.svg");
    let out = sb.run(&[
        "report",
        "--format",
        "svg",
        "--out",
        svg_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(!svg.contains("<html"), "the timeline alone");
    check_rows(&stage_rows(&svg), &want, false);
    check_rows(&stage_rows(&html), &want, false);

    // In a browser: laid out, script run, every bar drawn where its start says.
    let Some(browser) = chromium() else {
        if std::env::var_os("KAT_TEST_REQUIRE_CHROMIUM").is_some() {
            panic!("KAT_TEST_REQUIRE_CHROMIUM is set but no chromium is on PATH (apt-get install chromium)");
        }
        eprintln!("skipping the browser half: no chromium on PATH (apt-get install chromium; KAT_TEST_REQUIRE_CHROMIUM=1 makes this a failure)");
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let dom = headless(&browser, profile.path(), &["--dump-dom".into()], &page);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    let rows = stage_rows(&dom);
    check_rows(&rows, &want, true);
    let result = dom
        .split("id=\"result\">")
        .nth(1)
        .and_then(|s| s.split('<').next());
    assert_eq!(result, Some("ok"));

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sim_report");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let taken = headless(
        &browser,
        profile.path(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1180,1000".into(),
        ],
        &page,
    );
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert_eq!(&png[1..4], b"PNG");
    std::fs::copy(&page, shots.join("report.html")).unwrap();
    eprintln!(
        "report screenshot: {} (page: {})",
        shot.display(),
        shots.join("report.html").display()
    );
}

fn check_rows(rows: &[BTreeMap<String, String>], want: &Expected, drawn: bool) {
    let ids: Vec<&str> = rows.iter().map(|r| r["data-stage"].as_str()).collect();
    assert_eq!(
        ids, want.rows,
        "one row per stage, in the order they started"
    );
    let critical: Vec<&str> = rows
        .iter()
        .filter(|r| r["data-critical"] == "true")
        .map(|r| r["data-stage"].as_str())
        .collect();
    let mut on_path = want.critical.clone();
    on_path.sort_by_key(|id| want.rows.iter().position(|r| r == id));
    assert_eq!(critical, on_path, "the critical path");
    let retries: usize = rows
        .iter()
        .map(|r| r["data-retries"].parse::<usize>().unwrap())
        .sum();
    assert_eq!(retries, want.retries, "every retry drawn");
    let mut last_x = i64::MIN;
    for r in rows {
        let id = &r["data-stage"];
        let start = want
            .start_ms
            .get(id)
            .map(|v| v.to_string())
            .unwrap_or_default();
        assert_eq!(r["data-start-ms"], start, "{id} starts when its event says");
        if drawn && !start.is_empty() {
            let x: i64 = r["data-drawn-x"].parse().unwrap();
            let w: i64 = r["data-drawn-width"].parse().unwrap();
            assert!(w >= 1, "{id}'s bar is visible: {r:?}");
            assert!(
                x >= last_x,
                "{id} is drawn no earlier than the row above it"
            );
            last_x = x;
        }
    }
}

#[test]
fn down_reports_too_and_report_before_any_run_says_what_to_do() {
    let sb = Sandbox::new("environment: gone\nprovider:\n  name: sim\n  sim:\n    scale: 0.001\n");
    let out = sb.run(&["report"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no run of environment `gone`") && err.contains("kat up"),
        "{err}"
    );

    assert_eq!(sb.run(&["up"]).status.code(), Some(0));
    let page = sb.path().join("down.html");
    let out = sb.run(&["down", "--yes", &format!("--report={}", page.display())]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("kat down of gone"));
    let rows = stage_rows(&html);
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| ["changed", "unchanged"].contains(&r["data-result"].as_str())),
        "{rows:?}"
    );
    assert!(
        rows.iter().any(|r| r["data-result"] == "changed"),
        "{rows:?}"
    );
}
