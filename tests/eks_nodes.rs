//! Node settings changed between two `up`s, checked with DescribeNodegroup against moto: what
//! EKS changes in place is changed in place, what it fixes at creation is changed by a
//! replacement group (planned as such), and the outputs are what AWS says.
#![cfg(feature = "eks")]

mod common;
mod common_eks;

use common::*;
use common_eks::*;
use kat_provider_eks::sdk::eks::types::Nodegroup;

fn nodes(instance_type: &str, count: u32, extra: &str) -> String {
    format!("  nodes:\n    instance_type: {instance_type}\n    count: {count}\n    min: 1\n    max: 4\n{extra}")
}

/// Every node group of the cluster, as AWS describes them.
fn groups(t: &Eks) -> Vec<Nodegroup> {
    let names =
        t.rt.block_on(
            t.aws
                .eks
                .list_nodegroups()
                .cluster_name("kat-ngchange")
                .send(),
        )
        .unwrap()
        .nodegroups()
        .to_vec();
    names
        .iter()
        .map(|n| {
            t.rt.block_on(
                t.aws
                    .eks
                    .describe_nodegroup()
                    .cluster_name("kat-ngchange")
                    .nodegroup_name(n)
                    .send(),
            )
            .unwrap()
            .nodegroup()
            .unwrap()
            .clone()
        })
        .collect()
}

/// The one group: (name, instance types, desired size).
fn described(t: &Eks) -> (String, String, i32) {
    let all = groups(t);
    assert_eq!(all.len(), 1, "one node group: {all:#?}");
    let ng = &all[0];
    (
        ng.nodegroup_name().unwrap().to_string(),
        ng.instance_types().join(","),
        ng.scaling_config().unwrap().desired_size().unwrap(),
    )
}

fn nodes_output(events: &[serde_json::Value]) -> String {
    summary(events)["shown"]["Nodes"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The changes `kat plan -o json` lists for `stage`.
fn planned(events: &[serde_json::Value], stage: &str) -> Vec<serde_json::Value> {
    events
        .iter()
        .filter(|e| e["event"] == "plan")
        .flat_map(|e| e["stages"].as_array().unwrap().clone())
        .filter(|s| s["stage"] == stage)
        .flat_map(|s| s["changes"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn node_changes_are_made_in_place_or_by_a_replacement_group_and_outputs_follow_aws() {
    let t = Eks::new("ngchange", &nodes("t3.medium", 2, ""));
    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    let (first, types, size) = described(&t);
    assert_eq!((types.as_str(), size), ("t3.medium", 2));
    assert!(nodes_output(&events).starts_with("2 × t3.medium"));

    // count 2 → 3: EKS scales in place.
    t.sb.write_config(&config("ngchange", &nodes("t3.medium", 3, "")));
    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(result_of(&events, "nodes"), "changed");
    assert_eq!(described(&t), (first.clone(), "t3.medium".into(), 3));
    assert!(nodes_output(&events).starts_with("3 × t3.medium"));

    // Labels and taints: in place too.
    let marked = "    labels:\n      role: app\n    taints:\n      - key: dedicated\n        value: web\n        effect: NoSchedule\n";
    t.sb.write_config(&config("ngchange", &nodes("t3.medium", 3, marked)));
    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    let ng = groups(&t).remove(0);
    assert_eq!(ng.nodegroup_name(), Some(first.as_str()));
    assert_eq!(ng.labels().unwrap()["role"], "app");
    assert_eq!(ng.taints()[0].key(), Some("dedicated"));
    assert_eq!(ng.taints()[0].effect().unwrap().as_str(), "NO_SCHEDULE");
    let (code, events, _, calls) = t.run(&["up"]);
    assert_eq!(code, 0);
    assert_eq!(result_of(&events, "nodes"), "unchanged");
    assert_eq!(calls["mutating"], 0, "{calls}");

    // The instance type: EKS fixes it at creation. The plan says replacement, the up makes a new
    // group, and the old one goes once the new one runs.
    t.sb.write_config(&config("ngchange", &nodes("t3.large", 3, marked)));
    let (code, events, stderr, _) = t.run(&["plan"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    let plan = planned(&events, "nodes");
    assert_eq!(plan.len(), 2, "{plan:#?}");
    assert_eq!(plan[0]["action"], "create");
    assert!(
        plan[0]["detail"].as_str().unwrap().contains(&format!(
            "replaces nodegroup/{first}: instance_type t3.medium → t3.large"
        )),
        "{plan:#?}"
    );
    assert_eq!(plan[1]["action"], "delete");
    assert_eq!(plan[1]["resource"], format!("nodegroup/{first}"));
    assert!(
        plan[1]["detail"].as_str().unwrap().contains("drains"),
        "{plan:#?}"
    );
    assert_eq!(described(&t).1, "t3.medium", "a plan changes nothing");

    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    let (second, types, size) = described(&t);
    assert_ne!(second, first);
    assert_eq!((types.as_str(), size), ("t3.large", 3), "capacity kept");
    let ng = groups(&t).remove(0);
    assert_eq!(ng.labels().unwrap()["role"], "app", "settings carried over");
    assert!(nodes_output(&events).starts_with("3 × t3.large"));
    assert_eq!(
        summary(&events)["shown"]
            .to_string()
            .matches("t3.medium")
            .count(),
        0
    );

    // Nothing left to do, and back to on-demand t3.medium is a replacement again.
    let (code, events, _, calls) = t.run(&["up"]);
    assert_eq!(code, 0);
    assert_eq!(result_of(&events, "nodes"), "unchanged");
    assert_eq!(calls["mutating"], 0, "{calls}");

    let (code, _, stderr, _) = t.run(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    t.assert_nothing_left();
}
