//! The addons kat renders or completes, through the binary without a cluster: the URLs the
//! monitoring and dashboard stages add to their outputs (built from the ingress controller's
//! address, not mistaken for drift by the next `up`), and monitoring's images in `kat fetch`.

mod common;

use common::*;

#[test]
fn addon_urls_follow_the_ingress_address_and_a_second_up_changes_nothing() {
    let env = "sim-urls";
    let sb = Sandbox::new(&format!(
        "environment: {env}\nprovider:\n  name: sim\n  sim:\n    scale: 0.001\naddons:\n  ingress-nginx: {{enabled: true}}\n  monitoring: {{enabled: true}}\n  dashboard: {{enabled: true}}\n"
    ));
    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    let outputs = &summary(&events)["shown"];
    let ingress = outputs["Ingress"].as_str().expect("the ingress address");
    let host = ingress.trim_start_matches("http://");
    assert_eq!(
        outputs["Grafana"],
        format!("http://{host}/monitoring-grafana/")
    );
    assert_eq!(
        outputs["Kubernetes dashboard"],
        format!("https://{host}/dashboard/"),
        "the dashboard signs in only over HTTPS"
    );
    let state = sb.state(env);
    assert_eq!(
        state["stages"]["monitoring"]["outputs"]["values"]["monitoring_url"],
        format!("http://{host}/monitoring-grafana/")
    );

    // As an earlier run recorded it before the controller had an address: the next `up` shows
    // the URL on today's address, with nothing re-applied.
    let mut stale = state.clone();
    let dashboard = &mut stale["stages"]["dashboard"]["outputs"];
    dashboard["values"]["dashboard_url"] = serde_json::Value::Null;
    dashboard["shown"]["Kubernetes dashboard"] =
        "/dashboard/ on the ingress controller's address (not known yet)".into();
    std::fs::write(sb.state_path(env), serde_json::to_string(&stale).unwrap()).unwrap();

    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary(&events)["shown"]["Kubernetes dashboard"],
        outputs["Kubernetes dashboard"]
    );
    assert_eq!(
        sb.state(env)["stages"]["dashboard"]["outputs"]["values"]["dashboard_url"],
        format!("https://{host}/dashboard/")
    );
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{:#?}",
        summary(&events)
    );
    assert_eq!(summary(&events)["shown"]["Grafana"], outputs["Grafana"]);
    // Verified as recorded, not re-applied: the URLs kat adds are not the layer's own outputs.
    let drifted: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "stage_progress")
        .filter(|e| e["message"].as_str().unwrap_or("").contains("drifted"))
        .collect();
    assert!(drifted.is_empty(), "{drifted:#?}");
    let (code, _, stderr) = sb.run_json(&["down", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn kat_fetch_lists_the_pinned_monitoring_images() {
    let sb = Sandbox::new(
        "provider:\n  name: sim\naddons:\n  monitoring: {enabled: true, version: 2.54.1}\n",
    );
    let cache = tempfile::tempdir().unwrap();
    let out = sb
        .cmd(&["fetch", "--bundle", "bundle"])
        .env("KAT_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let images = std::fs::read_to_string(sb.path().join("bundle/images.txt")).unwrap();
    assert_eq!(
        images,
        "docker.io/grafana/grafana:11.2.2\nquay.io/prometheus/prometheus:v2.54.1\n"
    );
}
