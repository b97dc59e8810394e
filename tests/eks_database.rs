//! `database.mode: rds`: a private, encrypted PostgreSQL whose password AWS keeps (never kat),
//! reachable on 5432 only from the cluster's security group; `down` removes it and its network.
#![cfg(feature = "eks")]

mod common;
mod common_eks;

use common::*;
use common_eks::*;

#[test]
fn rds_beside_the_cluster_then_down_to_nothing() {
    // `managed`, under its first name `rds` (still accepted).
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
    t.assert_nothing_left();
    let out =
        t.rt.block_on(t.aws.rds.describe_db_instances().send())
            .unwrap();
    assert!(out.db_instances().is_empty());
}

/// RDS and ECR made under one kat.yaml are removed by `down` under another that has neither (a
/// CI runner's, or after `database.mode: rds` was switched off), with no local state either.
#[test]
fn down_removes_rds_and_ecr_even_when_the_current_config_has_them_off() {
    let t = Eks::new("rdsoff", "database:\n  mode: rds\n");
    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(result_of(&events, "database"), "changed");
    assert_eq!(result_of(&events, "registry"), "changed");
    let repos = |t: &Eks| -> Vec<String> {
        t.rt.block_on(t.aws.ecr.describe_repositories().send())
            .unwrap()
            .repositories()
            .iter()
            .filter_map(|r| r.repository_name())
            .filter(|n| n.starts_with("kat-rdsoff/"))
            .map(str::to_string)
            .collect()
    };
    assert!(!repos(&t).is_empty(), "a repository exists");

    // Switched off: `up` leaves the database alone but says it is still there.
    t.sb.write_config(&config("rdsoff", "registry:\n  enabled: false\n"));
    let (code, events, stderr, calls) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(calls["mutating"], 0, "{calls:#}");
    let said = Eks::progress_with(&events, "from an earlier configuration");
    assert!(
        said.iter().any(|m| m.contains("db-instance/kat-rdsoff")),
        "{said:#?}"
    );
    assert!(
        said.iter().any(|m| m.contains("ecr-repository/")),
        "{said:#?}"
    );

    // And from a runner with no state.
    std::fs::remove_dir_all(t.sb.path().join(".kat")).unwrap();
    let (code, events, stderr, _) = t.run(&["down"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(result(&events), "ok");
    let rds = &t.aws.rds;
    let instances = t.rt.block_on(rds.describe_db_instances().send()).unwrap();
    assert!(
        instances
            .db_instances()
            .iter()
            .all(|i| i.db_instance_identifier() != Some("kat-rdsoff")),
        "the RDS instance is gone"
    );
    let groups =
        t.rt.block_on(rds.describe_db_subnet_groups().send())
            .unwrap();
    assert!(
        groups
            .db_subnet_groups()
            .iter()
            .all(|g| g.db_subnet_group_name() != Some("kat-rdsoff")),
        "the DB subnet group is gone"
    );
    let sgs =
        t.rt.block_on(
            t.aws
                .ec2
                .describe_security_groups()
                .filters(
                    kat_provider_eks::sdk::ec2::types::Filter::builder()
                        .name("group-name")
                        .values("kat-rdsoff-db")
                        .build(),
                )
                .send(),
        )
        .unwrap();
    assert!(
        sgs.security_groups().is_empty(),
        "its security group is gone"
    );
    assert!(repos(&t).is_empty(), "the ECR repositories are gone");
    t.assert_nothing_left();
}

/// A `down` that fails (the database's deletion protection stops it) still ends with the sweep:
/// it fails naming what remains, and a `down` once the cause is fixed ends at zero.
#[test]
fn a_failed_down_still_lists_what_remains() {
    let t = Eks::new(
        "guard",
        "database:\n  mode: rds\n  deletion_protection: true\n",
    );
    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");

    let (code, events, stderr, _) = t.run(&["down"]);
    assert_ne!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(result(&events), "failed");
    let error = summary(&events)["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "database")
        .and_then(|s| s["error"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(error.contains("deletion protection"), "{error}");
    let left: Vec<&str> = summary(&events)["leftovers"]
        .as_array()
        .expect("the sweep ran and listed what remains")
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert!(
        left.iter().any(|l| l.starts_with("db-instance kat-guard")),
        "{left:#?}"
    );
    assert!(left.iter().any(|l| l.starts_with("vpc ")), "{left:#?}");

    t.sb.write_config(&config(
        "guard",
        "database:\n  mode: rds\n  deletion_protection: false\n",
    ));
    let (code, _, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, events, stderr, _) = t.run(&["down"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    t.assert_nothing_left();
}
