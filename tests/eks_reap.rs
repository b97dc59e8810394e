//! `kat reap` against moto: three kat environments (their journals deleted, as on a CI runner
//! that is gone), one made long ago, one past its ttl, one still within it, and a VPC someone
//! else tagged `kat:environment` without `kat:managed`. Only the two expired kat environments go.
//! A fleet's shared environment (`reap-shared`, its network) past its ttl stays while its member
//! `reap-07` does not expire: a VPC cannot go from under a cluster.
#![cfg(feature = "eks")]

mod common;
mod common_eks;

use kat_provider_eks::sdk::ec2::types::{ResourceType, Tag, TagSpecification};

use common_eks::*;

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

#[test]
fn reap_removes_only_the_expired_kat_environments() {
    let t = Eks::new("reap", "");
    let ec2 = &t.aws.ec2;
    for (env, ttl) in [
        ("reap-old", None),
        ("reap-late", Some("1s")),
        ("reap-keep", Some("8h")),
        ("reap-shared", Some("1s")),
        ("reap-07", Some("8h")),
    ] {
        let mut args = vec!["up", "--env", env, "--only", "network"];
        if let Some(ttl) = ttl {
            args.extend(["--ttl", ttl]);
        }
        let (code, _, stderr, _) = t.run(&args);
        assert_eq!(code, 0, "{env}: {stderr}");
        assert_eq!(t.vpcs_of(env).len(), 1, "{env}");
    }
    // reap-old was made long ago: its VPC says so (reap reads an environment's earliest
    // creation tag). Only the live VPC: moto keeps answering DescribeTags for deleted resources.
    t.rt.block_on(
        ec2.create_tags()
            .set_resources(Some(t.vpcs_of("reap-old")))
            .tags(tag("kat:created-at", "2020-01-01T00:00:00Z"))
            .send(),
    )
    .unwrap();
    // Someone else's VPC, old, with kat's environment tag but not managed by kat.
    let theirs =
        t.rt.block_on(
            ec2.create_vpc()
                .cidr_block("10.77.0.0/16")
                .tag_specifications(
                    TagSpecification::builder()
                        .resource_type(ResourceType::Vpc)
                        .tags(tag("kat:environment", "reap-theirs"))
                        .tags(tag("kat:created-at", "2020-01-01T00:00:00Z"))
                        .build(),
                )
                .send(),
        )
        .unwrap();
    let theirs = theirs.vpc().and_then(|v| v.vpc_id()).unwrap().to_string();
    for env in [
        "reap-old",
        "reap-late",
        "reap-keep",
        "reap-shared",
        "reap-07",
    ] {
        std::fs::remove_dir_all(t.sb.path().join(".kat").join(env)).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let out = t
        .cmd(&[
            "reap",
            "--provider",
            "eks",
            "--older-than",
            "6h",
            "--dry-run",
        ])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let line = |env: &str| {
        listing
            .lines()
            .find(|l| l.split_whitespace().next() == Some(env))
            .unwrap_or_else(|| panic!("{env} listed: {listing}"))
            .to_string()
    };
    assert!(
        line("reap-old").contains("would reap (older than 6h)"),
        "{listing}"
    );
    assert!(
        line("reap-late").contains("would reap (expired"),
        "{listing}"
    );
    assert!(line("reap-keep").ends_with("keep"), "{listing}");
    assert!(
        line("reap-shared").contains("keep for now (expired")
            && line("reap-shared").ends_with("reap-07 still use it)"),
        "{listing}"
    );
    // The owner is the caller's ARN (STS GetCallerIdentity at the first `up`).
    assert!(line("reap-keep").contains("arn:aws:"), "{listing}");
    assert!(!listing.contains("reap-theirs"), "not kat's: {listing}");
    assert_eq!(t.vpcs_of("reap-old").len(), 1, "a dry run removes nothing");

    let out = t
        .cmd(&["reap", "--provider", "eks", "--older-than", "6h", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("reap-shared stays: reap-07 still use(s) what it holds for the fleet"),
        "{out:?}"
    );
    assert_eq!(t.vpcs_of("reap-shared").len(), 1, "held for its member");
    assert!(t.vpcs_of("reap-old").is_empty());
    assert!(t.vpcs_of("reap-late").is_empty());
    assert_eq!(t.vpcs_of("reap-keep").len(), 1);
    assert_eq!(t.vpcs_of("reap-theirs"), vec![theirs.clone()]);

    // Clean the shared moto for the next run.
    for env in ["reap-keep", "reap-07", "reap-shared"] {
        let (code, _, stderr, _) = t.run(&["down", "--env", env]);
        assert_eq!(code, 0, "{env}: {stderr}");
    }
    t.rt.block_on(ec2.delete_vpc().vpc_id(&theirs).send())
        .unwrap();
}
