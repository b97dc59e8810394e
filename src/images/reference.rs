//! Image references: parsing a blueprint's `repository:tag`, and where its copy goes in the
//! environment's registry.

use oci_client::Reference;

use super::error::ImagesError;

pub fn parse(image: &str) -> Result<Reference, ImagesError> {
    image
        .parse::<Reference>()
        .map_err(|e| ImagesError::BadReference {
            image: image.to_string(),
            message: e.to_string(),
        })
}

/// The registry host requests go to (`docker.io` is served by `index.docker.io`).
pub fn host(r: &Reference) -> &str {
    r.resolve_registry()
}

/// The copy of `source` in `registry` (a host, or a host with a path prefix such as ECR's
/// `<account>.dkr.ecr.<region>.amazonaws.com/kat-<env>`): the source's repository path without
/// Docker Hub's `library/`, so `mongo:6.0.13` becomes `<registry>/mongo`, and `ghcr.io/a/b:1`
/// becomes `<registry>/a/b`. The tag is kept for people; kat itself refers to the digest.
pub fn target_of(source: &Reference, registry: &str) -> Reference {
    let (host, prefix) = match registry.trim_end_matches('/').split_once('/') {
        Some((h, p)) => (h.to_string(), format!("{p}/")),
        None => (registry.trim_end_matches('/').to_string(), String::new()),
    };
    let repo = source.repository();
    let repo = repo.strip_prefix("library/").unwrap_or(repo);
    Reference::with_tag(
        host,
        format!("{prefix}{repo}"),
        source.tag().unwrap_or("latest").to_string(),
    )
}

/// `registry/repo@sha256:…`: what rendered manifests run.
pub fn pinned(r: &Reference, digest: &str) -> String {
    format!("{}/{}@{digest}", r.registry(), r.repository())
}

/// Registries spoken to in plain HTTP: only this machine's own (loopback), where TLS would need a
/// certificate nobody has; microk8s's registry is `localhost:32000`.
pub fn plain_http(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name == "::1"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Where this machine pushes copies for a registry whose name the manifests run (`named`), and
/// whether that address speaks plain HTTP: the registry stage's `push_from_here` when it gives
/// another one (microk8s on a host over SSH, whose nodes pull from `localhost:32000`).
pub fn push_address(named: &str, push_from_here: Option<String>) -> (String, bool) {
    match push_from_here {
        Some(here) if here != named => (here, true),
        _ => (named.to_string(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_keep_the_repository_path_without_docker_hub_s_library() {
        let t = target_of(&parse("mongo:6.0.13").unwrap(), "localhost:32000");
        assert_eq!(t.whole(), "localhost:32000/mongo:6.0.13");
        let t = target_of(
            &parse("ghcr.io/org/app:1.2").unwrap(),
            "123.dkr.ecr.eu-west-1.amazonaws.com/kat-dev/",
        );
        assert_eq!(t.registry(), "123.dkr.ecr.eu-west-1.amazonaws.com");
        assert_eq!(t.repository(), "kat-dev/org/app");
        assert_eq!(
            pinned(&t, "sha256:ab"),
            "123.dkr.ecr.eu-west-1.amazonaws.com/kat-dev/org/app@sha256:ab"
        );
    }

    #[test]
    fn only_loopback_registries_are_plain_http() {
        assert!(plain_http("localhost:32000"));
        assert!(plain_http("127.0.0.1:5000"));
        assert!(plain_http("[::1]:5000"));
        assert!(!plain_http("10.0.0.1:5000"));
        assert!(!plain_http("registry.example.com"));
        assert!(!plain_http("localhost.example.com:5000"));
    }

    #[test]
    fn a_bad_reference_names_the_image() {
        let e = parse("UPPER/Case:tag").unwrap_err().to_string();
        assert!(e.contains("UPPER/Case:tag"), "{e}");
    }
}
