//! What scripts read: typed outputs (`kat status -o json|yaml`, `kat output NAME`, the summary
//! event), one shape of `changes` in every event, and the versioned, published event schema.

mod common;

use common::*;
use serde_json::Value;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn events_carry_their_version_and_one_shape_of_changes() {
    let sb = Sandbox::new(&full_config("shape", 0.001));
    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        events.iter().all(|e| e["schema_version"] == 2),
        "{events:?}"
    );

    let finished: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "stage_finished")
        .collect();
    assert!(!finished.is_empty());
    for e in &finished {
        let changes = e["changes"].as_array().expect("a list of changes");
        assert_eq!(e["changed"], changes.len(), "{e}");
    }
    let stages = summary(&events)["stages"].as_array().unwrap();
    for st in stages {
        let changes = st["changes"]
            .as_array()
            .expect("a list, as in stage_finished");
        assert_eq!(st["changed"], changes.len(), "{st}");
        let same = finished.iter().find(|e| e["stage"] == st["stage"]).unwrap();
        assert_eq!(same["changes"], st["changes"], "{}", st["stage"]);
    }
    let network = stages.iter().find(|s| s["stage"] == "network").unwrap();
    assert!(network["changes"][0]["resource"].is_string(), "{network}");
}

#[test]
fn outputs_are_typed_in_the_summary_and_in_status() {
    let sb = Sandbox::new(&full_config("typed", 0.001));
    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    let outputs = &summary(&events)["outputs"];

    let path = outputs["kubeconfig"]["path"].as_str().expect("a path");
    assert!(std::path::Path::new(path).is_absolute(), "{path}");
    assert!(std::path::Path::new(path).exists(), "{path}");
    assert_eq!(outputs["kubeconfig"]["context"], "kat-typed");
    assert!(outputs["cluster"]["endpoint"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    assert_eq!(outputs["database"]["port"], 5432);
    assert!(outputs["database"]["host"].is_string(), "{outputs}");
    assert!(
        outputs["database"]["secret"]["name"].is_string(),
        "{outputs}"
    );
    assert!(outputs["registry"]["url"].is_string(), "{outputs}");
    let ingress = outputs["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "ingress")
        .expect("the ingress endpoint");
    assert!(ingress["url"].as_str().unwrap().starts_with("http://"));
    // The prose a person reads is still there, apart.
    assert!(summary(&events)["shown"]["kubeconfig"].is_string());

    let status = sb.run(&["status", "-o", "json"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stderr));
    let doc: Value = serde_json::from_slice(&status.stdout).expect("one JSON document");
    assert_eq!(doc["outputs"], *outputs);
    assert_eq!(doc["schema_version"], 2);
    assert!(doc["stages"][0]["live"].is_string(), "{doc}");

    let yaml = sb.run(&["status", "-o", "yaml"]);
    assert_eq!(yaml.status.code(), Some(0), "{}", text(&yaml.stderr));
    let doc: Value = serde_yaml_ng::from_slice(&yaml.stdout).expect("a YAML document");
    assert_eq!(doc["outputs"], *outputs);
}

#[test]
fn output_prints_one_value_raw_for_scripts() {
    let sb = Sandbox::new(&full_config("raw", 0.001));
    assert_eq!(sb.run(&["up"]).status.code(), Some(0));

    let out = sb.run(&["output", "kubeconfig.path"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let path = text(&out.stdout);
    assert!(path.ends_with("/.kat/raw/kubeconfig\n"), "{path:?}");
    assert!(!path.contains('"'), "raw, not JSON: {path}");
    let kubeconfig = std::fs::read_to_string(path.trim_end()).expect("the file it names");
    assert!(kubeconfig.contains("current-context: kat-raw"));

    let port = sb.run(&["output", "database.port"]);
    assert_eq!(text(&port.stdout), "5432\n");
    let url = sb.run(&["output", "endpoints.ingress.url"]);
    assert!(
        text(&url.stdout).starts_with("http://"),
        "{}",
        text(&url.stdout)
    );

    // A section is JSON; `-o json` quotes a string.
    let section = sb.run(&["output", "kubeconfig"]);
    let v: Value = serde_json::from_slice(&section.stdout).expect("JSON");
    assert_eq!(v["context"], "kat-raw");
    let quoted = sb.run(&["output", "kubeconfig.context", "-o", "json"]);
    assert_eq!(text(&quoted.stdout), "\"kat-raw\"\n");

    let all = sb.run(&["output"]);
    assert!(
        text(&all.stdout).contains("kubeconfig.context = kat-raw\n"),
        "{}",
        text(&all.stdout)
    );

    let unknown = sb.run(&["output", "kubeconfig.pth"]);
    assert_eq!(unknown.status.code(), Some(2));
    let err = text(&unknown.stderr);
    assert!(err.contains("no output `kubeconfig.pth`"), "{err}");
    assert!(
        err.contains("kubeconfig.path") && err.contains("database.host"),
        "{err}"
    );
}

#[test]
fn output_of_an_environment_never_built_says_so_and_creates_nothing() {
    let sb = Sandbox::new(&full_config("never", 0.001));
    let out = sb.run(&["output", "kubeconfig.path"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("environment `never` has no outputs"), "{err}");
    assert!(err.contains("kat up"), "{err}");
    assert!(!sb.path().join(".kat").exists());
}

#[test]
fn the_event_schema_is_published_with_its_version() {
    let sb = Sandbox::new(&full_config("schema", 0.001));
    let out = sb.run(&["schema", "--events"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let schema: Value = serde_json::from_slice(&out.stdout).expect("a JSON Schema");
    assert_eq!(schema["version"], 2);
    assert!(schema["$schema"].is_string(), "{schema}");
    let text = schema.to_string();
    for event in [
        "run_started",
        "stage_started",
        "stage_progress",
        "stage_finished",
        "stage_failed",
        "stage_skipped",
        "warning",
        "summary",
        "fleet_summary",
    ] {
        assert!(text.contains(&format!("\"{event}\"")), "{event} missing");
    }
    assert!(text.contains("\"schema_version\""));
    assert!(text.contains("\"changed\""));
}

#[test]
fn yaml_is_refused_where_the_output_is_a_stream() {
    let sb = Sandbox::new(&full_config("stream", 0.001));
    let out = sb.run(&["up", "-o", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("--output yaml"), "{err}");
    assert!(err.contains("kat status"), "{err}");
    assert!(!sb.path().join(".kat").exists());
}
