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
