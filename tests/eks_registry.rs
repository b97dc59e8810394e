//! ECR push credentials: `kat up --provider eks` (moto) mirrors the blueprint's published image
//! into "ECR" with the token GetAuthorizationToken answers (`AWS:<token>`), by default. moto's
//! registry endpoint cannot take a push, so a local docker-registry behind htpasswd stands in
//! for it (`KAT_EKS_REGISTRY_ENDPOINT`): it accepts exactly `AWS:<the token moto answers>`, so the
//! push succeeds only with the credentials kat asked AWS for. The Kubernetes stages run on the
//! testbed (`provider.eks.api_access`).
#![cfg(feature = "eks")]

mod common;
mod common_eks;
#[path = "kube_support/mod.rs"]
mod kube_support;

use common::charts::{fake_helm_path, metrics_server_deployment, package_chart};
use common::registry::{push_image, Registry};
use common::*;
use common_eks::*;

/// `provider.eks.api_access` to the testbed: the Kubernetes stages run there.
fn api_access() -> String {
    format!(
        "    api_access:\n      kubeconfig: {}\n",
        kube_support::kubeconfig().display()
    )
}

#[test]
fn eks_mirrors_into_its_registry_with_the_token_ecr_answers() {
    let env = "ecrpush";
    let ns = "ecrpush-web";
    let access = api_access();
    let t = Eks::new(env, &access);
    let (user, password) = ecr::login(&t);
    let (user, password) = (user.as_str(), password.as_str());
    let stand_in = Registry::start(Some((user, password)));
    let source = Registry::start(None);
    let image = push_image(&source, "team/web", "1.0", &[(51, 120_000), (52, 60_000)]);

    ecr::write_blueprint(&t, &source, ns);
    t.sb.write_config(&config(env, &format!("{access}blueprint:\n  name: ./bp\n")));
    let dirs = [&tempfile::tempdir().unwrap(), &tempfile::tempdir().unwrap()];

    let cleanup = || {
        let _ = kubectl_at(
            &kube_support::kubeconfig(),
            &["delete", "ns", ns, "--ignore-not-found", "--wait=false"],
        );
    };
    let (code, events, stderr) = ecr::run(&t, &stand_in, &dirs, &["up"]);
    if code != 0 {
        cleanup();
    }
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    assert_eq!(
        result_of(&events, "images"),
        "changed",
        "mirrored by default on eks"
    );
    let repo = format!("kat-{env}/team/web");
    assert_eq!(
        stand_in.manifest(&repo, &image.digest).as_deref(),
        Some(image.manifest.as_slice()),
        "the manifest arrived byte for byte"
    );
    assert!(
        stand_in.blob_puts() >= 3,
        "config and two layers were pushed"
    );
    let deployed = deployed_image(&kube_support::kubeconfig(), ns, "web");
    assert_eq!(
        deployed.trim(),
        format!("{}/{repo}@{}", stand_in.host, image.digest)
    );
    // The token is in no output and no file kat wrote.
    let said = serde_json::to_string(&events).unwrap() + &stderr;
    assert!(!said.contains(password));
    assert!(!all_text(&t.sb.path().join(".kat")).contains(password));

    let (code, events, stderr) = ecr::run(&t, &stand_in, &dirs, &["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{:#?}",
        summary(&events)
    );

    let (code, events, stderr) = ecr::run(&t, &stand_in, &dirs, &["down"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    t.assert_nothing_left();
}

#[test]
fn mirrored_addon_images_get_their_own_ecr_repositories() {
    let env = "ecraddon";
    let ns = "ecraddon-ms";
    let access = api_access();
    let t = Eks::new(env, &access);
    let (user, password) = ecr::login(&t);
    let stand_in = Registry::start(Some((&user, &password)));
    let source = Registry::start(None);
    let image = push_image(&source, "team/ms", "0.7.2", &[(73, 80_000)]);
    let charts = tempfile::tempdir().unwrap();
    package_chart(
        charts.path(),
        "metrics-server",
        "3.12.2",
        &metrics_server_deployment(&format!("{}/team/ms:0.7.2", source.host)),
    );
    t.sb.write_config(&config(
        env,
        &format!(
            "{access}images:\n  mirror_addons: true\naddons:\n  metrics-server:\n    enabled: true\n    helm: {{repository: \"https://charts.example.test/ms\", chart: metrics-server, version: 3.12.2, namespace: {ns}}}\n"
        ),
    ));
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let path = fake_helm_path();
    let kat = |args: &[&str]| {
        let out = ecr::cmd(&t, &stand_in, [&dirs[0], &dirs[1]], args)
            .env("PATH", &path)
            .env("FAKE_HELM_REPO", charts.path())
            .output()
            .expect("run kat");
        events_of(&out)
    };
    let cleanup = || {
        let _ = kubectl_at(
            &kube_support::kubeconfig(),
            &["delete", "ns", ns, "--ignore-not-found", "--wait=false"],
        );
    };

    let (code, events, stderr) = kat(&["up"]);
    if code != 0 {
        cleanup();
    }
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    // ECR takes no push into a repository that does not exist: the addon's image got one, made
    // by the registry stage with the blueprint's (none here).
    let repo = format!("kat-{env}/team/ms");
    assert!(
        ecr::repositories(&t).contains(&repo),
        "{:?}",
        ecr::repositories(&t)
    );
    assert_eq!(
        stand_in.manifest(&repo, &image.digest).as_deref(),
        Some(image.manifest.as_slice())
    );
    let deployed = deployed_image(&kube_support::kubeconfig(), ns, "metrics-server");
    assert_eq!(
        deployed.trim(),
        format!("{}/{repo}@{}", stand_in.host, image.digest)
    );

    let (code, events, stderr) = kat(&["down"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    assert!(!ecr::repositories(&t).contains(&repo));
    t.assert_nothing_left();
}

/// Every file under `dir`, as text (lossy), for a search for a leaked token.
fn all_text(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.push_str(&all_text(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    out
}
