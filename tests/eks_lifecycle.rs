//! `--provider eks` against moto: the cloud stages up, a second up that calls nothing mutating,
//! down to zero tagged resources (asked of AWS, not of kat's state), and down with the state
//! directory gone. Prints the wall time and AWS call counts of `up` and `down` (`--nocapture`).
#![cfg(feature = "eks")]

mod common;
mod common_eks;

use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use common::*;
use common_eks::*;
use kat_provider::Provider;

fn measure(what: &str, started: Instant, calls: &serde_json::Value) {
    eprintln!(
        "MEASURE {what}: {:.2}s wall, {} AWS calls ({} mutating)",
        started.elapsed().as_secs_f64(),
        calls["total"],
        calls["mutating"]
    );
}

#[test]
fn up_twice_then_down_leaves_nothing_tagged() {
    let t = Eks::new("life", "");
    let none =
        t.rt.block_on(t.provider().kube_access(&kat_provider::Outputs::new()));
    assert!(
        matches!(none, Err(kat_provider::ProviderError::Gone { .. })),
        "no cluster: Gone"
    );
    let started = Instant::now();
    let (code, events, stderr, calls) = t.run(&["up"]);
    measure("kat up (eks cloud stages, moto)", started, &calls);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(result(&events), "ok");
    for stage in [
        "network",
        "identity",
        "registry",
        "cluster",
        "nodes",
        "kubeconfig",
    ] {
        assert_eq!(result_of(&events, stage), "changed", "{stage}");
    }
    // A warning is a `warning` event, said once (moto has no DescribeClusterVersions).
    let said: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e.to_string().contains("DescribeClusterVersions"))
        .collect();
    assert_eq!(said.len(), 1, "{said:#?}");
    assert_eq!(said[0]["event"], "warning", "{said:#?}");
    // The database stage stays in the graph (so `down` removes an RDS an earlier kat.yaml made)
    // but changes nothing without `database.mode: rds`.
    assert_eq!(result_of(&events, "database"), "unchanged");
    let counts = t.count_tagged();
    assert_eq!(
        counts,
        serde_json::json!({"vpcs": 1, "subnets": 4, "nat_gateways": 1, "internet_gateways": 1,
                           "elastic_ips": 1, "clusters": 1})
    );
    let rds =
        t.rt.block_on(t.aws.rds.describe_db_instances().send())
            .unwrap();
    assert!(
        rds.db_instances().is_empty(),
        "no RDS instance when the database is off"
    );

    // Kubeconfig: the context, mode 0600, a minted token in the file and never in the state.
    let outputs = &summary(&events)["shown"];
    assert!(outputs["Kubernetes API"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    let kubeconfig = t.sb.path().join(".kat/life/kubeconfig");
    let mode = std::fs::metadata(&kubeconfig).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(text.contains("current-context: kat-life"), "{text}");
    assert!(text.contains("token: k8s-aws-v1."), "{text}");
    let state = std::fs::read_to_string(t.sb.state_path("life")).unwrap();
    assert!(
        !state.contains("k8s-aws-v1."),
        "the token is not stored in state"
    );
    let kc = &t.sb.state("life")["stages"]["kubeconfig"]["outputs"]["values"];
    assert_eq!(kc["context"], "kat-life");
    // As eksctl does: the context is merged into the user's kubeconfig, made current, and said.
    let mine = std::fs::read_to_string(t.user_kubeconfig()).unwrap();
    assert!(mine.contains("current-context: kat-life"), "{mine}");
    assert!(
        summary(&events)["next"]
            .as_str()
            .unwrap()
            .contains("kubectl context set to kat-life"),
        "{:#?}",
        summary(&events)
    );
    // The exec-plugin variant: the same endpoint, `aws eks get-token`, no token in it.
    let out = t.cmd(&["kubeconfig", "--exec"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exec = String::from_utf8_lossy(&out.stdout);
    assert!(exec.contains("command: aws"), "{exec}");
    assert!(
        exec.contains("--cluster-name, kat-life, --region, us-east-1"),
        "{exec}"
    );
    assert!(
        exec.contains(outputs["Kubernetes API"].as_str().unwrap()),
        "{exec}"
    );
    assert!(!exec.contains("k8s-aws-v1."), "{exec}");
    // With nothing recorded, kube_access finds the cluster by name and re-mints the token.
    std::fs::remove_file(&kubeconfig).unwrap();
    let access =
        t.rt.block_on(t.provider().kube_access(&kat_provider::Outputs::new()))
            .expect("access");
    match access {
        kat_provider::KubeAccess::Kubeconfig { path, context } => {
            assert_eq!(path.as_ref(), Some(&kubeconfig));
            assert_eq!(context.as_deref(), Some("kat-life"));
            assert!(std::fs::read_to_string(&kubeconfig)
                .unwrap()
                .contains("token: k8s-aws-v1."));
        }
        _ => panic!("a kubeconfig"),
    }

    let started = Instant::now();
    let (code, events, stderr, calls) = t.run(&["up"]);
    measure("second kat up (no changes)", started, &calls);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(result(&events), "no-changes");
    assert_eq!(
        calls["mutating"], 0,
        "a second up makes no mutating call: {calls:#}"
    );

    let started = Instant::now();
    let (code, events, stderr, calls) = t.run(&["down"]);
    measure("kat down (eks cloud stages, moto)", started, &calls);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(result(&events), "ok");
    t.assert_nothing_left();
    let mine = std::fs::read_to_string(t.user_kubeconfig()).unwrap();
    assert!(
        !mine.contains("kat-life"),
        "down takes the context out again: {mine}"
    );
    assert_eq!(
        t.count_tagged(),
        serde_json::json!({"vpcs": 0, "subnets": 0, "nat_gateways": 0, "internet_gateways": 0,
                           "elastic_ips": 0, "clusters": 0})
    );
    let roles = t.rt.block_on(t.aws.iam.list_roles().send()).unwrap();
    assert!(
        roles
            .roles()
            .iter()
            .all(|r| !r.role_name().starts_with("kat-life-")),
        "no IAM role left"
    );
}

#[test]
fn down_with_the_state_directory_deleted_finds_everything_by_tags() {
    let t = Eks::new("nostate", "");
    let (code, _, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!t.leftovers().is_empty());
    std::fs::remove_dir_all(t.sb.path().join(".kat")).unwrap();
    let (code, events, stderr, calls) = t.run(&["down"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(result(&events), "ok");
    assert!(
        calls["mutating"].as_u64().unwrap() > 0,
        "down deleted what it found"
    );
    t.assert_nothing_left();
    assert_eq!(t.count_tagged()["vpcs"], 0);
}

#[test]
fn missing_credentials_fail_with_exit_2_before_any_resource_exists() {
    let t = Eks::new("nocreds", "");
    let out = t
        .cmd(&["up"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("HOME", t.sb.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("error"))
        .unwrap_or_else(|| panic!("an error line: {stderr}"));
    assert!(
        line.contains("no AWS credentials found"),
        "one line: {stderr}"
    );
    assert!(
        line.contains("AWS default chain"),
        "names the chain tried: {stderr}"
    );
    assert!(
        line.contains("aws configure") && line.contains("aws sso login"),
        "{stderr}"
    );
    eprintln!("credentials error as shown: {stderr}");
    assert!(
        !t.sb.path().join(".kat/nocreds").exists(),
        "a refused run leaves no state directory (nor lock)"
    );
    t.assert_nothing_left();
    assert_eq!(t.count_tagged()["vpcs"], 0);
}
