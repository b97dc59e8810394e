//! ECR in the eks tests: what moto answers for the account's registry, and a one-image blueprint
//! whose image comes from a registry of the test's. moto's registry endpoint cannot take a push,
//! so a local docker-registry behind htpasswd stands in for ECR (`KAT_EKS_REGISTRY_ENDPOINT`),
//! accepting exactly `AWS:<the token moto answers>`.

use std::process::Command;

use base64::Engine;

use super::Eks;
use crate::common::registry::{write_web_blueprint, Registry};

/// Writes the blueprint to `<sandbox>/bp` (`blueprint: {name: ./bp}`): its image `team/web:1.0`
/// from `source`, deployed into namespace `ns`.
pub fn write_blueprint(t: &Eks, source: &Registry, ns: &str) {
    write_web_blueprint(&t.sb.path().join("bp"), "ecrtest", source, "1.0", ns);
}

/// What ECR (moto) answers this account as (user, password): the stand-in accepts exactly that.
pub fn login(t: &Eks) -> (String, String) {
    let answer =
        t.rt.block_on(t.aws.ecr.get_authorization_token().send())
            .expect("GetAuthorizationToken");
    let data = &answer.authorization_data()[0];
    assert!(data.proxy_endpoint().unwrap().starts_with("https://"));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data.authorization_token().unwrap())
        .unwrap();
    let decoded = String::from_utf8(decoded).unwrap();
    let (user, password) = decoded.split_once(':').unwrap();
    assert_eq!(user, "AWS");
    (user.to_string(), password.to_string())
}

/// The ECR repositories moto holds in the test's region.
pub fn repositories(t: &Eks) -> Vec<String> {
    let answer =
        t.rt.block_on(t.aws.ecr.describe_repositories().send())
            .expect("DescribeRepositories");
    answer
        .repositories()
        .iter()
        .filter_map(|r| r.repository_name().map(str::to_string))
        .collect()
}

/// `kat <args> -o json` pushing to `stand_in` for ECR, with no Docker login (the only
/// credentials are the provider's) and an image cache of the test's (`dirs`).
pub fn cmd(t: &Eks, stand_in: &Registry, dirs: [&tempfile::TempDir; 2], args: &[&str]) -> Command {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let mut cmd = t.cmd(&all);
    cmd.env("KAT_EKS_REGISTRY_ENDPOINT", &stand_in.host)
        .env("DOCKER_CONFIG", dirs[0].path())
        .env("KAT_CACHE_DIR", dirs[1].path());
    cmd
}

/// [`cmd`] run: exit code, events, stderr.
pub fn run(
    t: &Eks,
    stand_in: &Registry,
    dirs: &[&tempfile::TempDir; 2],
    args: &[&str],
) -> (i32, Vec<serde_json::Value>, String) {
    crate::common::events_of(&cmd(t, stand_in, *dirs, args).output().expect("run kat"))
}
