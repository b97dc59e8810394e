//! A fleet of two EKS environments sharing one network (`fleet.share_network`) against moto: the
//! fleet's shared environment `<env>-shared` is made first and holds the only VPC; each member's
//! cluster (and its managed database) is built in that VPC's subnets and makes no network of its
//! own; a second `up` changes nothing; taking one member down leaves the network for the other;
//! the fleet's `down` removes the network after the last member, and nothing of any of the three
//! environments is left. A fleet sharing one registry (`fleet.share_registry`) copies each image
//! into it once.
#![cfg(feature = "eks")]

mod common;
mod common_eks;

use serde_json::Value;

use common::fleet_summary;
use common::registry::{push_image, Registry};
use common_eks::*;

const FLEET: &str = "database:\n  mode: managed\nfleet:\n  count: 2\n  share_network: true\n";

/// The subnets the member's EKS cluster was created in, as EKS says (moto does not fill in the
/// VPC id of a cluster created with subnets alone, so the subnets show where it is).
fn cluster_subnets(t: &Eks, member: &str) -> Option<Vec<String>> {
    let c =
        t.rt.block_on(
            t.aws
                .eks
                .describe_cluster()
                .name(format!("kat-{member}"))
                .send(),
        )
        .ok()?;
    Some(c.cluster()?.resources_vpc_config()?.subnet_ids().to_vec())
}

fn subnets_of_vpc(t: &Eks, vpc: &str) -> Vec<String> {
    let filter = kat_provider_eks::sdk::ec2::types::Filter::builder()
        .name("vpc-id")
        .values(vpc)
        .build();
    let out =
        t.rt.block_on(t.aws.ec2.describe_subnets().filters(filter).send())
            .expect("DescribeSubnets");
    out.subnets()
        .iter()
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect()
}

/// The `stage_finished` events of stages that changed something.
fn changed_stages(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["event"] == "stage_finished" && e["result"] == "changed")
        .collect()
}

fn record(t: &Eks) -> Option<Value> {
    record_of(t, "fleetnet")
}

fn record_of(t: &Eks, fleet: &str) -> Option<Value> {
    let path = t.sb.path().join(".kat").join(fleet).join("fleet.json");
    let text = std::fs::read_to_string(path).ok()?;
    Some(serde_json::from_str(&text).expect("fleet.json is JSON"))
}

#[test]
fn a_fleet_sharing_one_network_builds_in_it_and_removes_it_after_the_last_member() {
    let t = Eks::new("fleetnet", FLEET);

    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    let s = fleet_summary(&events);
    assert_eq!(s["shared"]["member"], "fleetnet-shared", "{s:#}");
    assert_eq!(s["shared"]["result"], "ok", "{s:#}");
    assert_eq!(s["members"].as_array().unwrap().len(), 2, "{s:#}");
    let shared = t.vpcs_of("fleetnet-shared");
    assert_eq!(shared.len(), 1, "one VPC, the network environment's");
    let shared = &shared[0];
    let in_shared = subnets_of_vpc(&t, shared);
    for member in ["fleetnet-01", "fleetnet-02"] {
        assert!(t.vpcs_of(member).is_empty(), "{member} made a VPC");
        let subnets = cluster_subnets(&t, member).expect("the member's cluster");
        assert!(
            !subnets.is_empty() && subnets.iter().all(|s| in_shared.contains(s)),
            "{member}: {subnets:?} not all in {in_shared:?}"
        );
    }
    // The network's environment has no cluster: it was built up to its network stage only.
    assert!(cluster_subnets(&t, "fleetnet-shared").is_none());
    let rec = record(&t).expect("fleet.json");
    assert_eq!(rec["shared"], "fleetnet-shared", "{rec:#}");
    assert_eq!(rec["shares"], serde_json::json!(["network"]), "{rec:#}");

    // Nothing to do the second time, for the network or a member.
    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    let changed = changed_stages(&events);
    assert!(changed.is_empty(), "a second up changed {changed:#?}");

    // Switching sharing off under members built in the shared network is refused: their
    // clusters cannot move, and each would start making a network beside its cluster.
    let unshared = config("fleetnet", &FLEET.replace("  share_network: true\n", ""));
    t.sb.write_config(&unshared);
    let (code, _, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("fleet.share_network") && stderr.contains("kat down --env fleetnet"),
        "{stderr}"
    );
    assert_eq!(t.vpcs_of("fleetnet-01").len(), 0, "nothing was made");
    t.sb.write_config(&config("fleetnet", FLEET));

    let out = t.cmd(&["status", "-o", "json"]).output().unwrap();
    let status: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(status["shared"]["member"], "fleetnet-shared", "{status:#}");
    assert_eq!(status["members"].as_array().unwrap().len(), 2);

    // One member goes; the other still builds in the network, so it stays.
    let (code, events, stderr, _) = t.run(&["down", "--member", "01", "--yes"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert!(cluster_subnets(&t, "fleetnet-01").is_none());
    assert!(cluster_subnets(&t, "fleetnet-02").is_some());
    assert_eq!(t.vpcs_of("fleetnet-shared").len(), 1, "the network stays");
    assert!(
        fleet_summary(&events).get("shared").is_none(),
        "{:#}",
        fleet_summary(&events)
    );
    assert_eq!(record(&t).unwrap()["shared"], "fleetnet-shared");

    // The last member, then the network.
    let (code, events, stderr, _) = t.run(&["down", "--yes"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    let s = fleet_summary(&events);
    assert_eq!(s["shared"]["result"], "ok", "{s:#}");
    assert!(
        t.vpcs_of("fleetnet-shared").is_empty(),
        "the shared VPC is gone"
    );
    assert!(record(&t).is_none(), "fleet.json is gone with the fleet");
    for env in ["fleetnet-shared", "fleetnet-01", "fleetnet-02"] {
        let left = t.remaining_of(env);
        assert!(left.is_empty(), "{env} left {left:#?}");
    }
}

/// The shared network cannot be made (AWS refuses the VPC's range): no member is started, each
/// says why, and `down` clears the fleet.
#[test]
fn members_wait_for_a_shared_network_that_failed() {
    let t = Eks::new(
        "fleetbad",
        "    vpc_cidr: 10.0.0.0/30\nfleet:\n  count: 2\n  share_network: true\n",
    );
    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 1, "{stderr}\n{events:#?}");
    let s = fleet_summary(&events);
    assert_eq!(s["shared"]["result"], "failed", "{s:#}");
    for m in s["members"].as_array().unwrap() {
        assert_eq!(m["result"], "failed", "{s:#}");
        let why = m["error"].as_str().unwrap();
        assert!(why.contains("(fleetbad-shared) is not up"), "{why}");
    }
    for member in ["fleetbad-01", "fleetbad-02"] {
        assert!(
            cluster_subnets(&t, member).is_none(),
            "{member} was started"
        );
        assert!(
            !t.sb
                .path()
                .join(".kat")
                .join(member)
                .join("state.json")
                .exists(),
            "{member} has a journal"
        );
    }
    let (code, _, stderr, _) = t.run(&["down", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(record_of(&t, "fleetbad").is_none());
}

/// `fleet.share_registry`: `<env>-shared` makes the only ECR repository and copies the image into
/// it; each member runs it from there by digest, makes no repository and sends nothing; one
/// member's `down` leaves the registry, the last one's takes it.
#[test]
fn a_fleet_sharing_one_registry_copies_each_image_into_it_once() {
    let env = "fleetreg";
    let t = Eks::new(env, "");
    let (user, password) = ecr::login(&t);
    let stand_in = Registry::start(Some((&user, &password)));
    let source = Registry::start(None);
    let image = push_image(&source, "team/web", "1.0", &[(61, 90_000)]);
    ecr::write_blueprint(&t, &source, "fleetreg-web");
    t.sb.write_config(&config(
        env,
        "blueprint:\n  name: ./bp\nfleet:\n  count: 2\n  share_registry: true\n",
    ));
    let dirs = [&tempfile::tempdir().unwrap(), &tempfile::tempdir().unwrap()];
    // As far as the images: where the members' pods pull from is what this test is about.
    let up = ["up", "--until", "images"];
    let (code, events, stderr) = ecr::run(&t, &stand_in, &dirs, &up);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    let s = fleet_summary(&events);
    assert_eq!(s["shared"]["member"], "fleetreg-shared", "{s:#}");
    assert_eq!(s["shared"]["result"], "ok", "{s:#}");
    let repo = "kat-fleetreg-shared/team/web";
    assert_eq!(
        ecr::repositories(&t),
        [repo],
        "one repository, the shared environment's"
    );
    assert_eq!(
        stand_in.manifest(repo, &image.digest).as_deref(),
        Some(image.manifest.as_slice())
    );
    // Copied once, by the shared environment: each member found it there.
    let sent: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "stage_finished" && e["stage"] == "images")
        .collect();
    assert_eq!(sent.len(), 3, "{sent:#?}");
    for e in sent {
        let changed = e["result"] == "changed";
        assert_eq!(changed, e["member"] == "fleetreg-shared", "{e:#}");
    }
    for member in ["fleetreg-01", "fleetreg-02"] {
        let said: Vec<&Value> = events
            .iter()
            .filter(|e| e["member"] == member && e["event"] == "stage_progress")
            .filter(|e| {
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("already in the registry as"))
            })
            .collect();
        assert_eq!(said.len(), 1, "{member}: {events:#?}");
        // What the member runs: the shared copy, by digest.
        let state =
            std::fs::read_to_string(t.sb.path().join(".kat").join(member).join("state.json"))
                .unwrap();
        let pinned = format!("{}/{repo}@{}", stand_in.host, image.digest);
        assert!(state.contains(&pinned), "{member} runs {pinned}: {state}");
    }
    let rec = record_of(&t, env).expect("fleet.json");
    assert_eq!(rec["shares"], serde_json::json!(["registry"]), "{rec:#}");

    // A second `up` sends nothing and changes nothing.
    let puts = stand_in.blob_puts();
    let (code, events, stderr) = ecr::run(&t, &stand_in, &dirs, &up);
    assert_eq!(code, 0, "{stderr}");
    let changed = changed_stages(&events);
    assert!(changed.is_empty(), "a second up changed {changed:#?}");
    assert_eq!(stand_in.blob_puts(), puts);

    let down = |args: &[&str]| {
        let (code, events, stderr) = ecr::run(&t, &stand_in, &dirs, args);
        assert_eq!(code, 0, "{stderr}\n{events:#?}");
    };
    down(&["down", "--member", "02", "--yes"]);
    assert_eq!(ecr::repositories(&t), [repo], "the registry stays for 01");
    down(&["down", "--yes"]);
    assert!(
        ecr::repositories(&t).is_empty(),
        "{:?}",
        ecr::repositories(&t)
    );
    assert!(record_of(&t, env).is_none());
    for env in ["fleetreg-shared", "fleetreg-01", "fleetreg-02"] {
        let left = t.remaining_of(env);
        assert!(left.is_empty(), "{env} left {left:#?}");
    }
}
