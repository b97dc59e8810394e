//! Node settings changed between two `up`s, checked with DescribeNodegroup against moto: what
//! EKS changes in place is changed, what it cannot is refused by name, and the outputs are what
//! AWS says.
#![cfg(feature = "eks")]

mod common;
mod common_eks;

use common::*;
use common_eks::*;

fn nodes(instance_type: &str, count: u32) -> String {
    format!("  nodes:\n    instance_type: {instance_type}\n    count: {count}\n    min: 1\n    max: 4\n")
}

/// (instance types, desired size) as AWS describes the group.
fn described(t: &Eks) -> (String, i32) {
    let ng =
        t.rt.block_on(
            t.aws
                .eks
                .describe_nodegroup()
                .cluster_name("kat-ngchange")
                .nodegroup_name("kat-ngchange-default")
                .send(),
        )
        .unwrap();
    let ng = ng.nodegroup().unwrap();
    (
        ng.instance_types().join(","),
        ng.scaling_config().unwrap().desired_size().unwrap(),
    )
}

#[test]
fn node_changes_are_made_in_place_or_refused_by_name_and_outputs_follow_aws() {
    let t = Eks::new("ngchange", &nodes("t3.medium", 2));
    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(described(&t), ("t3.medium".into(), 2));
    assert!(summary(&events)["shown"]["Nodes"]
        .as_str()
        .unwrap()
        .starts_with("2 × t3.medium"));

    // count 2 → 3: EKS scales in place.
    t.sb.write_config(&config("ngchange", &nodes("t3.medium", 3)));
    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(result_of(&events, "nodes"), "changed");
    assert_eq!(described(&t), ("t3.medium".into(), 3));
    assert!(summary(&events)["shown"]["Nodes"]
        .as_str()
        .unwrap()
        .starts_with("3 × t3.medium"));

    // The instance type: EKS cannot change it in place; refused by name, nothing pretended.
    t.sb.write_config(&config("ngchange", &nodes("t3.large", 3)));
    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 2, "{stderr}\n{events:#?}");
    let said = serde_json::to_string(&events).unwrap();
    assert!(
        said.contains("cannot change instance_type t3.medium → t3.large in place"),
        "{said}"
    );
    assert_eq!(described(&t), ("t3.medium".into(), 3));
    let (code, events, stderr, _) = t.run(&["plan"]);
    assert_eq!(code, 1, "plan says it cannot plan the stage: {stderr}");
    assert!(
        serde_json::to_string(&events)
            .unwrap()
            .contains("cannot change instance_type")
            || stderr.contains("cannot change instance_type"),
        "{stderr}"
    );

    t.sb.write_config(&config("ngchange", &nodes("t3.medium", 3)));
    let (code, _, stderr, _) = t.run(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    t.assert_nothing_left();
}
