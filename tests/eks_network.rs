//! Network variants against moto: three zones with a NAT gateway per zone, and a VPC of the user's
//! own, which kat neither creates nor deletes.
#![cfg(feature = "eks")]

mod common;
mod common_eks;

use kat_provider_eks::sdk::ec2::types::Filter;

use common::*;
use common_eks::*;

#[test]
fn three_zones_with_a_nat_gateway_each() {
    let t = Eks::new("triple", "    az_count: 3\n    nat_per_az: true\n");
    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(
        t.count_tagged(),
        serde_json::json!({"vpcs": 1, "subnets": 6, "nat_gateways": 3, "internet_gateways": 1,
                           "elastic_ips": 3, "clusters": 1})
    );
    let tables =
        t.rt.block_on(
            t.aws
                .ec2
                .describe_route_tables()
                .filters(t.tag_filter())
                .send(),
        )
        .unwrap();
    assert_eq!(
        tables.route_tables().len(),
        4,
        "one public, one private per zone"
    );
    let subnets =
        t.rt.block_on(t.aws.ec2.describe_subnets().filters(t.tag_filter()).send())
            .unwrap();
    for s in subnets.subnets() {
        let has = |k: &str, v: &str| {
            s.tags()
                .iter()
                .any(|t| t.key() == Some(k) && t.value() == Some(v))
        };
        assert!(has("kubernetes.io/cluster/kat-triple", "shared"));
        assert!(has("kubernetes.io/role/elb", "1") || has("kubernetes.io/role/internal-elb", "1"));
    }
    let (code, _, stderr, _) = t.run(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    t.assert_nothing_left();
}

#[test]
fn a_vpc_of_your_own_is_used_and_left_in_place() {
    let t = Eks::new("byo", "");
    let ec2 = &t.aws.ec2;
    let vpc =
        t.rt.block_on(ec2.create_vpc().cidr_block("10.9.0.0/16").send())
            .unwrap()
            .vpc()
            .unwrap()
            .vpc_id()
            .unwrap()
            .to_string();
    let mut ids = Vec::new();
    for (cidr, zone) in [
        ("10.9.0.0/20", "a"),
        ("10.9.16.0/20", "b"),
        ("10.9.64.0/20", "a"),
        ("10.9.80.0/20", "b"),
    ] {
        let az = format!("{}{zone}", t.region);
        let s =
            t.rt.block_on(
                ec2.create_subnet()
                    .vpc_id(&vpc)
                    .cidr_block(cidr)
                    .availability_zone(az)
                    .send(),
            )
            .unwrap();
        ids.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    t.sb.write_config(&config(
        "byo",
        &format!(
            "    vpc_id: {vpc}\n    public_subnet_ids: [{}, {}]\n    private_subnet_ids: [{}, {}]\n",
            ids[0], ids[1], ids[2], ids[3]
        ),
    ));
    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(
        result_of(&events, "network"),
        "unchanged",
        "network creates nothing"
    );
    assert_eq!(t.count_tagged()["vpcs"], 0, "no VPC of kat's own");
    let c =
        t.rt.block_on(t.aws.eks.describe_cluster().name("kat-byo").send())
            .unwrap();
    let used = c
        .cluster()
        .unwrap()
        .resources_vpc_config()
        .unwrap()
        .subnet_ids()
        .to_vec();
    assert!(ids.iter().all(|i| used.contains(i)), "{used:?}");

    let (code, events, stderr, _) = t.run(&["down"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    let still =
        t.rt.block_on(
            ec2.describe_vpcs()
                .filters(Filter::builder().name("vpc-id").values(&vpc).build())
                .send(),
        )
        .unwrap();
    assert_eq!(still.vpcs().len(), 1, "your VPC stays");
    let subnets =
        t.rt.block_on(
            ec2.describe_subnets()
                .filters(Filter::builder().name("vpc-id").values(&vpc).build())
                .send(),
        )
        .unwrap();
    assert_eq!(subnets.subnets().len(), 4, "and its subnets");
    t.assert_nothing_left();
}

/// `az_count` 2 → 3: the zone-c subnets are made, the node group moves onto them by a
/// replacement, the DB subnet group is changed in place, and the control plane, which EKS cannot
/// add a zone to, is named in a warning instead of being reported as matching.
#[test]
fn raising_az_count_moves_what_can_move_and_names_what_cannot() {
    let t = Eks::new("zones", "database:\n  mode: rds\n");
    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(t.count_tagged()["subnets"], 4);

    t.sb.write_config(&config(
        "zones",
        "    az_count: 3\ndatabase:\n  mode: rds\n",
    ));
    let (code, events, stderr, calls) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(t.count_tagged()["subnets"], 6);
    let private: Vec<String> = {
        let out =
            t.rt.block_on(
                t.aws
                    .ec2
                    .describe_subnets()
                    .filters(t.tag_filter())
                    .filters(
                        Filter::builder()
                            .name("tag:kubernetes.io/role/internal-elb")
                            .values("1")
                            .build(),
                    )
                    .send(),
            )
            .unwrap();
        let mut v: Vec<String> = out
            .subnets()
            .iter()
            .map(|s| s.subnet_id().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(private.len(), 3);

    // The node group: replaced onto the three private subnets.
    let groups =
        t.rt.block_on(t.aws.eks.list_nodegroups().cluster_name("kat-zones").send())
            .unwrap()
            .nodegroups()
            .to_vec();
    assert_eq!(groups.len(), 1, "{groups:?}");
    let ng =
        t.rt.block_on(
            t.aws
                .eks
                .describe_nodegroup()
                .cluster_name("kat-zones")
                .nodegroup_name(&groups[0])
                .send(),
        )
        .unwrap();
    let mut subnets = ng.nodegroup().unwrap().subnets().to_vec();
    subnets.sort();
    assert_eq!(subnets, private);

    // The DB subnet group: changed in place. (moto's ModifyDBSubnetGroup drops the group it
    // modifies, so the call is checked rather than the group.)
    assert_eq!(calls["calls"]["RDS.ModifyDBSubnetGroup"], 1, "{calls}");
    assert_eq!(
        calls["calls"].get("RDS.CreateDBSubnetGroup"),
        None,
        "{calls}"
    );

    // The control plane: a warning naming it, and the stage not claiming a change it did not make.
    let warned: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "warning" && e.to_string().contains("cluster/kat-zones"))
        .collect();
    assert_eq!(warned.len(), 1, "{events:#?}");
    assert!(warned[0]["message"]
        .as_str()
        .unwrap()
        .contains("cannot add a zone"));
    assert_ne!(result_of(&events, "cluster"), "changed");

    let (code, _, stderr, _) = t.run(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    t.assert_nothing_left();
}
