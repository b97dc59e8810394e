//! `database.mode: rds`: a private, encrypted PostgreSQL whose password AWS keeps (never kat),
//! reachable on 5432 only from the cluster's security group; `down` removes it and its network.
#![cfg(feature = "eks")]

mod common;
mod common_eks;

use common::*;
use common_eks::*;

#[test]
fn rds_beside_the_cluster_then_down_to_nothing() {
    let t = Eks::new("rds", "database:\n  mode: rds\n");
    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(result_of(&events, "database"), "changed");

    let out =
        t.rt.block_on(
            t.aws
                .rds
                .describe_db_instances()
                .db_instance_identifier("kat-rds")
                .send(),
        )
        .unwrap();
    let db = &out.db_instances()[0];
    assert_eq!(db.engine(), Some("postgres"));
    assert_eq!(db.storage_encrypted(), Some(true));
    assert_eq!(db.publicly_accessible(), Some(false));
    assert_eq!(
        db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
        Some("kat-rds")
    );

    // The recorded outputs: where it is and a reference to the secret, no password.
    let values = &t.sb.state("rds")["stages"]["database"]["outputs"]["values"];
    let mut keys: Vec<&str> = values
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["database", "host", "port", "secret", "user"]);
    assert_eq!(values["secret"]["store"], "aws-secretsmanager");
    assert_eq!(values["port"], 5432);

    // 5432 is open to the cluster's security group and nothing else.
    let cluster =
        t.rt.block_on(t.aws.eks.describe_cluster().name("kat-rds").send())
            .unwrap();
    let vpc_cfg = cluster.cluster().unwrap().resources_vpc_config().unwrap();
    let cluster_sg = vpc_cfg
        .cluster_security_group_id()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| vpc_cfg.security_group_ids()[0].clone());
    let sg =
        t.rt.block_on(
            t.aws
                .ec2
                .describe_security_groups()
                .filters(
                    kat_provider_eks::sdk::ec2::types::Filter::builder()
                        .name("group-name")
                        .values("kat-rds-db")
                        .build(),
                )
                .send(),
        )
        .unwrap();
    let perms = sg.security_groups()[0].ip_permissions();
    assert_eq!(perms.len(), 1, "{perms:#?}");
    assert_eq!(perms[0].from_port(), Some(5432));
    assert!(perms[0].ip_ranges().is_empty(), "no CIDR admitted");
    assert_eq!(
        perms[0].user_id_group_pairs()[0].group_id(),
        Some(cluster_sg.as_str())
    );

    let (code, _, stderr, calls) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(calls["mutating"], 0, "{calls:#}");

    let (code, events, stderr, _) = t.run(&["down"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert!(t.leftovers().is_empty(), "{:#?}", t.leftovers());
    let out =
        t.rt.block_on(t.aws.rds.describe_db_instances().send())
            .unwrap();
    assert!(out.db_instances().is_empty());
}
