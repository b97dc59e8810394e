//! The database: reachable only from its clients, and absent from the cluster in managed mode.

use super::support::*;
use crate::blueprint::{load, BlueprintError};
use kat_provider::DatabaseMode;
use kat_provider::Manifest;

#[test]
fn database_admits_only_its_clients_on_its_port() {
    for bp in BUILTINS {
        let info = load(bp).unwrap().info().clone();
        let Some(db) = &info.database else { continue };
        let component = info
            .components
            .iter()
            .find(|c| c.database)
            .expect("database component");
        let port = component.port.expect("database port");
        let objects = objects(bp, &context("in-cluster", false));
        let workload = named(&objects, "StatefulSet", &component.name)
            .unwrap_or_else(|| panic!("{bp}: no StatefulSet {}", component.name));
        let policies = policies_for(&objects, workload);
        assert!(!policies.is_empty(), "{bp}: database has no NetworkPolicy");

        // (namespace, pod labels) of each client, and of the Jobs that apply a schema.
        let jobs = kind(&objects, "Job");
        let clients: Vec<(&str, &serde_json::Value)> = db
            .clients
            .iter()
            .map(|c| named(&objects, "Deployment", c).expect("client"))
            .chain(jobs)
            .map(|w| (namespace_of(w), pod_labels(w)))
            .collect();
        for policy in policies {
            let rules = policy["spec"]["ingress"].as_array().expect("ingress rules");
            assert!(!rules.is_empty(), "{bp}: database policy admits nothing");
            for rule in rules {
                let only_db_port = serde_json::json!([{"port": port, "protocol": "TCP"}]);
                assert_eq!(rule["ports"], only_db_port, "{bp}");
                let peers = rule["from"].as_array().filter(|p| !p.is_empty());
                let peers = peers.unwrap_or_else(|| panic!("{bp}: a rule admits every source"));
                for peer in peers {
                    // Without a namespaceSelector a peer is in the policy's own namespace.
                    let peer_ns = peer["namespaceSelector"]["matchLabels"]
                        ["kubernetes.io/metadata.name"]
                        .as_str()
                        .unwrap_or(namespace_of(policy));
                    let sel = &peer["podSelector"]["matchLabels"];
                    assert!(
                        clients
                            .iter()
                            .any(|(ns, labels)| *ns == peer_ns && matches(sel, labels)),
                        "{bp}: peer {peer} is not a database client"
                    );
                }
            }
        }
    }
}

#[test]
fn rds_mode_renders_no_database_and_reads_the_secret() {
    for bp in BUILTINS {
        let blueprint = load(bp).unwrap();
        let info = blueprint.info().clone();
        if !info
            .database
            .as_ref()
            .is_some_and(|d| d.modes.contains(&DatabaseMode::Managed))
        {
            continue;
        }
        let cx = context("managed", false);
        // `kat render` writes no file that holds nothing (postgres.yaml).
        for f in render(bp, &cx).unwrap() {
            assert!(
                f.content.lines().any(|l| l.starts_with("kind:")),
                "{bp}: {} is empty",
                f.path
            );
        }
        let objects = objects(bp, &cx);
        assert!(
            kind(&objects, "StatefulSet").is_empty(),
            "{bp}: rds renders a StatefulSet"
        );
        assert!(kind(&objects, "PersistentVolumeClaim").is_empty(), "{bp}");
        // No database server runs (init containers may use its image's client to wait for it).
        for w in workloads(&objects) {
            for c in w["spec"]["template"]["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
            {
                assert!(
                    !c["image"].as_str().unwrap().contains("postgres"),
                    "{bp}: {}",
                    c["image"]
                );
            }
        }
        for client in &info.database.as_ref().unwrap().clients {
            let w = named(&objects, "Deployment", client).expect("client");
            let text = serde_json::to_string(w).unwrap();
            for key in ["host", "password"] {
                let wanted = format!("\"secretKeyRef\":{{\"key\":\"{key}\",\"name\":\"kat-db\"}}");
                assert!(
                    text.contains(&wanted),
                    "{bp}: {client} does not read {key} from kat-db"
                );
            }
        }
        assert!(!blueprint.database_secret_namespaces().is_empty(), "{bp}");
    }
}

#[test]
fn unsupported_database_mode_names_the_supported_ones() {
    let err = render("voting-app", &context("managed", false)).unwrap_err();
    assert!(
        matches!(err, BlueprintError::UnsupportedDatabase { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("in-cluster"), "{err}");
}

#[test]
fn rds_mode_without_a_secret_is_an_error() {
    let mut cx = context("managed", false);
    cx.database.secret = None;
    let err = render("nanomon", &cx).unwrap_err();
    assert!(
        matches!(err, BlueprintError::MissingDatabaseSecret { .. }),
        "{err}"
    );
}

#[test]
fn needs_database_follows_the_blueprint() {
    for bp in BUILTINS {
        assert!(load(bp).unwrap().needs_database(), "{bp}");
    }
    assert_eq!(load("todo").unwrap().database_secret_namespaces(), ["be"]);
}

/// Each environment gets its own database password, kept once made: no blueprint ships one.
#[test]
fn in_cluster_database_passwords_are_generated_per_environment_and_created_once() {
    for bp in BUILTINS {
        let secrets_of = |objects: &[Manifest]| -> Vec<serde_json::Value> {
            kind(objects, "Secret").into_iter().cloned().collect()
        };
        let first = secrets_of(&objects(bp, &context("in-cluster", false)));
        let second = secrets_of(&objects(bp, &context("in-cluster", false)));
        for (a, b) in first.iter().zip(&second) {
            let name = &a["metadata"]["name"];
            assert_eq!(
                a["metadata"]["annotations"][crate::kube::CREATE_ONLY],
                "true",
                "{bp}: Secret {name} would be rewritten, and its generated password changed, at each up"
            );
            for key in ["password", "secret-key", "superuser-password"] {
                let (Some(x), Some(y)) =
                    (a["stringData"][key].as_str(), b["stringData"][key].as_str())
                else {
                    continue;
                };
                assert_ne!(
                    x, y,
                    "{bp}: Secret {name} key {key} is the same in two environments"
                );
                assert!(
                    x.len() >= 24 && x.chars().all(|c| c.is_ascii_alphanumeric()),
                    "{bp}: {x}"
                );
            }
        }
        // One render, one password: every Secret that carries it (todo's two namespaces, the
        // ratings URI) holds the same.
        let passwords: std::collections::BTreeSet<&str> = first
            .iter()
            .filter_map(|s| s["stringData"]["password"].as_str())
            .collect();
        assert!(passwords.len() <= 1, "{bp}: {passwords:?}");
        if let Some(uri) = first.iter().find_map(|s| s["stringData"]["uri"].as_str()) {
            let pw = passwords.iter().next().expect("ratings has a password");
            assert!(
                uri.contains(&format!(":{pw}@")),
                "{bp}: the URI does not carry the password"
            );
        }
    }
}
