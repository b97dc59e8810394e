//! The image mirror against real registries: Debian's docker-registry twice on loopback (the
//! target behind htpasswd), images made by the tests.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::registry::{push_image, push_index, Registry};
use kat::images::{reference, Cache, Credentials, Fixed, Mirror};

const USER: &str = "kat";
const PASSWORD: &str = "s3cret-pass";

struct Pair {
    source: Registry,
    target: Registry,
    cache: tempfile::TempDir,
}

fn pair() -> Pair {
    Pair {
        source: Registry::start(None),
        target: Registry::start(Some((USER, PASSWORD))),
        cache: tempfile::tempdir().unwrap(),
    }
}

fn mirror_with(p: &Pair, cache: &std::path::Path, password: &str) -> Mirror {
    let mut logins = BTreeMap::new();
    logins.insert(
        p.target.host.clone(),
        (USER.to_string(), password.to_string()),
    );
    Mirror::new(
        Cache::open(cache).unwrap(),
        Credentials::new(vec![Arc::new(Fixed(logins))]),
        &[p.source.host.clone(), p.target.host.clone()],
    )
}

fn mirror(p: &Pair) -> Mirror {
    mirror_with(p, p.cache.path(), PASSWORD)
}

async fn copy(
    m: &Mirror,
    source: &str,
    target_registry: &str,
) -> Result<kat::images::Copied, kat::images::ImagesError> {
    let src = reference::parse(source)?;
    let digest = m.resolve(&src).await?;
    m.copy(&src, &digest, &reference::target_of(&src, target_registry))
        .await
}

#[tokio::test]
async fn a_mirror_keeps_every_digest_and_every_index_entry() {
    let p = pair();
    let single = push_image(&p.source, "team/app", "1.0", &[(1, 120_000), (2, 80_000)]);
    let (index, children) = push_index(&p.source, "multi", "2.0");
    let m = mirror(&p);

    let app = copy(
        &m,
        &format!("{}/team/app:1.0", p.source.host),
        &p.target.host,
    )
    .await
    .unwrap();
    assert_eq!(app.digest, single.digest);
    assert_eq!(app.blobs_sent, 3, "config and two layers");
    // Byte for byte, under the tag and under the digest.
    assert_eq!(
        p.target.manifest("team/app", "1.0").unwrap(),
        single.manifest
    );
    assert_eq!(
        p.target.manifest("team/app", &single.digest).unwrap(),
        single.manifest
    );

    let multi = copy(&m, &format!("{}/multi:2.0", p.source.host), &p.target.host)
        .await
        .unwrap();
    assert_eq!(multi.digest, index.digest);
    assert_eq!(
        p.target.manifest("multi", &index.digest).unwrap(),
        index.manifest
    );
    for child in &children {
        assert_eq!(
            p.target.manifest("multi", &child.digest).unwrap(),
            child.manifest,
            "every child manifest of the index, by digest"
        );
    }
    // The shared layer went once: 2 configs + 3 distinct layers.
    assert_eq!(multi.blobs_sent as usize, index.blobs.len());
    assert_eq!(multi.manifests_pushed, 3);
}

#[tokio::test]
async fn a_second_mirror_sends_no_blob_and_a_second_environment_pulls_nothing_again() {
    let p = pair();
    push_index(&p.source, "multi", "2.0");
    let source = format!("{}/multi:2.0", p.source.host);
    let first = copy(&mirror(&p), &source, &p.target.host).await.unwrap();
    assert!(!first.already);
    let puts = p.target.blob_puts();
    let posts = p.target.requests("POST", "/blobs/uploads/");
    assert!(puts > 0);

    let again = copy(&mirror(&p), &source, &p.target.host).await.unwrap();
    assert!(again.already, "{again:?}");
    assert_eq!(p.target.blob_puts(), puts, "no blob upload the second time");
    assert_eq!(p.target.requests("POST", "/blobs/uploads/"), posts);
    assert_eq!(
        p.target.requests("PUT", "/manifests/"),
        3,
        "no manifest pushed again"
    );

    // Another environment (another path in the registry) with the same cache: the source is
    // not pulled again, and the blobs go up by cross-repository mount.
    let source_gets = p.source.requests("GET", "/blobs/");
    let env2 = format!("{}/env2", p.target.host);
    let m = mirror(&p);
    let second_env = copy(&m, &source, &env2).await.unwrap();
    assert_eq!(
        p.source.requests("GET", "/blobs/"),
        source_gets,
        "blobs came from the cache"
    );
    assert_eq!(
        second_env.blobs_sent + second_env.blobs_mounted,
        first.blobs_sent
    );
}

#[tokio::test]
async fn mounts_blobs_another_repository_of_the_target_already_holds() {
    let p = pair();
    push_image(&p.source, "one", "1", &[(7, 50_000), (8, 40_000)]);
    push_image(&p.source, "two", "1", &[(7, 50_000), (9, 30_000)]);
    let m = mirror(&p);
    copy(&m, &format!("{}/one:1", p.source.host), &p.target.host)
        .await
        .unwrap();
    let two = copy(&m, &format!("{}/two:1", p.source.host), &p.target.host)
        .await
        .unwrap();
    assert_eq!(two.blobs_mounted, 1, "the shared layer: {two:?}");
    assert_eq!(two.blobs_sent, 2);
    assert!(p.target.requests("POST", "mount=sha256") >= 1);
}

#[tokio::test]
async fn an_interrupted_mirror_skips_what_arrived() {
    let p = pair();
    let layers: Vec<(u64, usize)> = (0..12).map(|i| (20 + i, 3_000_000)).collect();
    let image = push_image(&p.source, "big", "1", &layers);
    let source = format!("{}/big:1", p.source.host);
    let m = mirror(&p);
    let src = reference::parse(&source).unwrap();
    let digest = m.resolve(&src).await.unwrap();
    let target = reference::target_of(&src, &p.target.host);
    {
        // Stopped once some blobs have arrived (the future is dropped, as on Ctrl-C).
        let copying = m.copy(&src, &digest, &target);
        tokio::pin!(copying);
        loop {
            tokio::select! {
                r = &mut copying => { r.unwrap(); panic!("the copy finished before it could be interrupted; make the image bigger"); }
                _ = tokio::time::sleep(std::time::Duration::from_millis(5)) => {
                    if p.target.blob_puts() >= 2 { break; }
                }
            }
        }
    }
    // Uploads in flight when the copy stopped may still finish: count once the registry is quiet.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let arrived = p.target.blob_puts();
    assert!(arrived < image.blobs.len(), "interrupted before the end");
    let rest = copy(&mirror(&p), &source, &p.target.host).await.unwrap();
    assert_eq!(rest.blobs_skipped as usize, arrived, "{rest:?}");
    assert_eq!(rest.blobs_sent as usize, image.blobs.len() - arrived);
    assert_eq!(p.target.manifest("big", &digest).unwrap(), image.manifest);
}

fn one_line(e: &kat::images::ImagesError) -> String {
    let text = e.to_string();
    eprintln!("error: {text}");
    assert!(!text.contains('\n'), "one line: {text}");
    text
}

#[tokio::test]
async fn wrong_password_missing_tag_and_unreachable_registry_are_one_clear_line() {
    let p = pair();
    push_image(&p.source, "app", "1", &[(3, 1000)]);
    let source = format!("{}/app:1", p.source.host);

    let wrong = mirror_with(&p, p.cache.path(), "not-the-password");
    let e = copy(&wrong, &source, &p.target.host).await.unwrap_err();
    let text = one_line(&e);
    assert!(
        text.contains("refused the credentials") && text.contains(&p.target.host),
        "{text}"
    );
    assert!(
        !text.contains("not-the-password"),
        "no secret in errors: {text}"
    );

    let e = copy(
        &mirror(&p),
        &format!("{}/app:9.9", p.source.host),
        &p.target.host,
    )
    .await
    .unwrap_err();
    let text = one_line(&e);
    assert!(
        text.contains("app:9.9") && text.contains("no such tag"),
        "{text}"
    );

    let nowhere = format!("127.0.0.1:{}", common::registry::free_port());
    let e = copy(&mirror(&p), &format!("{nowhere}/app:1"), &p.target.host)
        .await
        .unwrap_err();
    let text = one_line(&e);
    assert!(
        text.contains("cannot reach") && text.contains(&nowhere),
        "{text}"
    );
}
