//! Every builtin, in every variant it supports, renders workloads that meet the baseline:
//! resources, probes, securityContext, TCP Service ports, NetworkPolicies, pinned images.

use super::support::*;
use crate::blueprint::builtin;

#[test]
fn builtin_lists_the_five_blueprints() {
    let names: Vec<String> = builtin().into_iter().map(|b| b.name).collect();
    assert_eq!(names, BUILTINS);
}

#[test]
fn every_container_has_resources_probes_and_security_context() {
    for bp in BUILTINS {
        for cx in variants(bp) {
            let objects = objects(bp, &cx);
            assert!(!workloads(&objects).is_empty(), "{bp}: no workloads");
            for w in workloads(&objects) {
                let pod = &w["spec"]["template"]["spec"];
                let where_ = format!("{bp} ({}) {}", cx.database.mode, w["metadata"]["name"]);
                assert!(
                    pod["securityContext"].is_object(),
                    "{where_}: pod securityContext"
                );
                for c in containers(w) {
                    let name = format!("{where_}/{}", c["name"]);
                    for k in ["requests", "limits"] {
                        for r in ["cpu", "memory"] {
                            let q = c["resources"][k][r].as_str();
                            assert!(q.is_some(), "{name}: resources.{k}.{r}");
                            assert!(
                                canonical_quantity(q.unwrap()),
                                "{name}: resources.{k}.{r} = {q:?} is not how the server stores it"
                            );
                        }
                    }
                    assert!(c["securityContext"].is_object(), "{name}: securityContext");
                    assert_eq!(
                        c["securityContext"]["allowPrivilegeEscalation"], false,
                        "{name}"
                    );
                    let is_init = pod["initContainers"]
                        .as_array()
                        .is_some_and(|i| i.iter().any(|x| x["name"] == c["name"]));
                    if !is_init {
                        assert!(c["readinessProbe"].is_object(), "{name}: readinessProbe");
                        assert!(c["livenessProbe"].is_object(), "{name}: livenessProbe");
                    }
                }
            }
        }
    }
}

/// The server stores `1000m` as `1` and `1024Mi` as `1Gi`; a manifest in another form would
/// differ from the stored object on every apply.
fn canonical_quantity(q: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(milli) = q.strip_suffix('m') {
        return digits(milli) && !milli.ends_with("000");
    }
    if let Some(n) = q.strip_suffix("Mi").or_else(|| q.strip_suffix("Ki")) {
        return digits(n) && n.parse::<u64>().is_ok_and(|v| v % 1024 != 0);
    }
    q.strip_suffix("Gi").map_or(digits(q), digits)
}

#[test]
fn quantities_are_recognised_in_their_stored_form() {
    for ok in ["100m", "1", "2", "256Mi", "1Gi", "1500m"] {
        assert!(canonical_quantity(ok), "{ok}");
    }
    for not in ["1000m", "1024Mi", "0.5", "1.5Gi"] {
        assert!(!canonical_quantity(not), "{not}");
    }
}

#[test]
fn every_service_port_is_tcp_and_selects_a_workload() {
    for bp in BUILTINS {
        for cx in variants(bp) {
            let objects = objects(bp, &cx);
            for svc in kind(&objects, "Service") {
                let name = &svc["metadata"]["name"];
                for port in svc["spec"]["ports"].as_array().expect("ports") {
                    assert_eq!(port["protocol"], "TCP", "{bp}: Service {name}");
                }
                let selected = workloads(&objects).into_iter().any(|w| {
                    namespace_of(w) == namespace_of(svc)
                        && matches(&svc["spec"]["selector"], pod_labels(w))
                });
                assert!(selected, "{bp}: Service {name} selects no workload");
            }
        }
    }
}

#[test]
fn every_workload_is_covered_by_a_network_policy() {
    for bp in BUILTINS {
        for cx in variants(bp) {
            let objects = objects(bp, &cx);
            for w in workloads(&objects) {
                assert!(
                    !policies_for(&objects, w).is_empty(),
                    "{bp}: {} has no NetworkPolicy",
                    w["metadata"]["name"]
                );
            }
        }
    }
}

#[test]
fn workloads_without_a_service_take_no_ingress() {
    for bp in BUILTINS {
        let info = crate::blueprint::load(bp).unwrap().info().clone();
        for cx in variants(bp) {
            let objects = objects(bp, &cx);
            for c in info.components.iter().filter(|c| c.port.is_none()) {
                let w = named(&objects, "Deployment", &c.name)
                    .unwrap_or_else(|| panic!("{bp}: no Deployment {}", c.name));
                let policies = policies_for(&objects, w);
                assert!(!policies.is_empty(), "{bp}: {}", c.name);
                // A metrics port (a health port of its own) may be open to Prometheus only.
                let metrics = c
                    .contract
                    .as_ref()
                    .and_then(|k| k.health.as_ref())
                    .and_then(|h| h.port);
                for p in policies {
                    if let Some(port) = metrics {
                        for rule in p["spec"]["ingress"].as_array().into_iter().flatten() {
                            assert_eq!(
                                rule["ports"],
                                serde_json::json!([{"port": port, "protocol": "TCP"}]),
                                "{bp}: {}",
                                c.name
                            );
                            assert_eq!(
                                rule["from"],
                                serde_json::json!([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]),
                                "{bp}: {}",
                                c.name
                            );
                        }
                        continue;
                    }
                    // Ingress policy with no rules: nothing is admitted.
                    assert!(
                        p["spec"]["policyTypes"]
                            .as_array()
                            .is_some_and(|t| t.contains(&serde_json::json!("Ingress"))),
                        "{bp}: {}",
                        c.name
                    );
                    assert!(
                        p["spec"]["ingress"]
                            .as_array()
                            .is_none_or(|rules| rules.is_empty()),
                        "{bp}: {}",
                        c.name
                    );
                }
                let svc = kind(&objects, "Service")
                    .into_iter()
                    .any(|s| matches(&s["spec"]["selector"], pod_labels(w)));
                assert!(!svc, "{bp}: {} has a Service", c.name);
            }
        }
    }
}

#[test]
fn images_are_pinned_and_api_versions_exist_on_1_20() {
    let allowed = [
        "v1",
        "apps/v1",
        "batch/v1",
        "networking.k8s.io/v1",
        "autoscaling/v2beta2",
    ];
    for bp in BUILTINS {
        let loaded = crate::blueprint::load(bp).unwrap();
        let unpinned: Vec<&str> = loaded
            .image_specs()
            .values()
            .filter(|i| i.unpinned.is_some())
            .filter_map(|i| i.reference.as_deref())
            .collect();
        for reference in loaded.images() {
            // Only an image whose upstream publishes no fixed tag may move, and says so.
            assert!(
                !reference.ends_with(":latest") || unpinned.contains(&reference.as_str()),
                "{bp}: {reference}"
            );
        }
        for cx in variants(bp) {
            for m in objects(bp, &cx) {
                let api = m.object["apiVersion"].as_str().unwrap_or("");
                assert!(allowed.contains(&api), "{}: apiVersion {api}", m.source);
            }
            for w in workloads(&objects(bp, &cx)) {
                for c in containers(w) {
                    let image = c["image"].as_str().unwrap_or("");
                    assert!(
                        image.contains(':')
                            && (!image.ends_with(":latest") || unpinned.contains(&image)),
                        "{bp}: {image}"
                    );
                }
            }
        }
    }
}

#[test]
fn namespaces_are_created_before_anything_in_them() {
    for bp in BUILTINS {
        for cx in variants(bp) {
            let mut created: Vec<String> = Vec::new();
            for m in objects(bp, &cx) {
                let ns = namespace_of(&m.object);
                if m.object["kind"] == "Namespace" {
                    created.push(m.object["metadata"]["name"].as_str().unwrap().to_string());
                } else {
                    assert!(
                        created.iter().any(|c| c == ns),
                        "{}: namespace `{ns}` not yet created",
                        m.source
                    );
                }
            }
        }
    }
}
