//! `kat up` mirrors a blueprint's published image into the environment's registry and runs it
//! by digest (the testbed: a real API server; two real registries on loopback); a tag that
//! moves keeps the locked digest until `kat lock --update-images`.

mod common;
#[path = "kube_support/mod.rs"]
mod kube_support;

use std::process::Command;

use common::registry::{docker_config, push_image, write_web_blueprint, Registry};
use common::*;

struct Env {
    sb: Sandbox,
    docker: tempfile::TempDir,
    cache: tempfile::TempDir,
}

impl Env {
    fn kat(&self, args: &[&str]) -> Command {
        let mut c = self.sb.cmd(args);
        c.env("DOCKER_CONFIG", self.docker.path())
            .env("KAT_CACHE_DIR", self.cache.path());
        c
    }

    fn json(&self, args: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        events_of(&self.kat(&all).output().expect("run kat"))
    }

    fn text(&self, args: &[&str]) -> (i32, String) {
        let out = self.kat(args).output().expect("run kat");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    fn lock(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.sb.path().join("kat.lock")).unwrap_or_default();
        serde_yaml_ng::from_str(&text).unwrap_or_default()
    }
}

fn deployed_image(ns: &str) -> String {
    let out = Command::new("kubectl")
        .args([
            "--kubeconfig",
            &kube_support::kubeconfig().display().to_string(),
            "-n",
            ns,
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn up_runs_the_mirrored_copy_by_digest_and_keeps_the_locked_digest_when_the_tag_moves() {
    let source = Registry::start(None);
    let target = Registry::start(Some(("kat", "pw-for-tests")));
    let first = push_image(&source, "team/web", "1.0", &[(41, 150_000), (42, 90_000)]);

    let env_name = "img-mirror";
    let ns = "img-mirror-web";
    let sb = Sandbox::new("");
    write_web_blueprint(&sb.path().join("bp"), "mirrortest", &source, "1.0", ns);
    sb.write_config(&format!(
        "environment: {env_name}\nprovider:\n  name: kubeconfig\n  kubeconfig:\n    path: {}\nregistry:\n  url: {}\n  mirror: true\nblueprint:\n  name: ./bp\n",
        kube_support::kubeconfig().display(),
        target.host
    ));
    let docker = docker_config(&target.host, "kat", "pw-for-tests");
    let e = Env {
        sb,
        docker,
        cache: tempfile::tempdir().unwrap(),
    };
    let source_ref = format!("{}/team/web:1.0", source.host);

    let (code, events, stderr) = e.json(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    let pinned = format!("{}/team/web@{}", target.host, first.digest);
    assert_eq!(
        deployed_image(ns),
        pinned,
        "the blueprint runs the copy, by digest"
    );
    assert_eq!(e.lock()["images"][&source_ref], first.digest.as_str());
    assert_eq!(
        target.manifest("team/web", &first.digest).unwrap(),
        first.manifest
    );

    let puts = target.blob_puts();
    let (code, events, stderr) = e.json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{:#?}",
        summary(&events)
    );
    assert_eq!(target.blob_puts(), puts, "a second up sends no blob");

    // The tag moves upstream: the environment keeps the locked bits, and says so.
    let second = push_image(&source, "team/web", "1.0", &[(43, 120_000)]);
    assert_ne!(second.digest, first.digest);
    let (code, events, stderr) = e.json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    let warned = events.iter().any(|ev| {
        ev.to_string().contains("kept the digest kat.lock pins")
            && ev.to_string().contains(&second.digest)
    });
    assert!(warned, "a warning names the new digest: {events:#?}");
    assert_eq!(deployed_image(ns), pinned);
    let (code, listed) = e.text(&["images"]);
    assert_eq!(code, 0, "{listed}");
    assert!(listed.contains("stale"), "{listed}");

    let (code, said) = e.text(&["lock", "--update-images"]);
    assert_eq!(code, 0, "{said}");
    assert_eq!(e.lock()["images"][&source_ref], second.digest.as_str());
    let (code, events, stderr) = e.json(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    assert_eq!(
        deployed_image(ns),
        format!("{}/team/web@{}", target.host, second.digest)
    );
    let (code, listed) = e.text(&["images"]);
    assert_eq!(code, 0);
    assert!(listed.contains("mirrored:"), "{listed}");

    let (code, _, stderr) = e.json(&["down"]);
    assert_eq!(code, 0, "{stderr}");
}
