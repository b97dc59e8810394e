//! A `kat up` killed with SIGKILL in the middle of the network and again in the middle of the
//! cluster stage; the next run resumes and creates nothing twice (asked of AWS, by tags).
#![cfg(feature = "eks")]

mod common;
mod common_eks;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common_eks::*;

/// Starts `kat up -o json` and SIGKILLs it as soon as a progress line contains `text`.
fn kill_when(t: &Eks, text: &str) {
    let mut child = t
        .cmd(&["up", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kat");
    let stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let hit = line.contains("stage_progress") && line.contains(text);
        seen.push(line);
        if hit {
            let rc = unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            assert_eq!(rc, 0);
            break;
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        None,
        "killed before it finished; saw {seen:#?}"
    );
}

#[test]
fn kill_9_mid_up_then_rerun_creates_nothing_twice() {
    let t = Eks::new("crash", "");
    kill_when(&t, "create nat-gateway/");
    kill_when(&t, "create cluster/");
    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(result(&events), "ok");
    assert_eq!(
        t.count_tagged(),
        serde_json::json!({"vpcs": 1, "subnets": 4, "nat_gateways": 1, "internet_gateways": 1,
                           "elastic_ips": 1, "clusters": 1})
    );
    let groups =
        t.rt.block_on(t.aws.eks.list_nodegroups().cluster_name("kat-crash").send())
            .unwrap();
    assert_eq!(groups.nodegroups().len(), 1);
    let (code, events, stderr, _) = t.run(&["down"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    t.assert_nothing_left();
}
