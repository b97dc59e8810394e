//! Real OCI registries for the image tests: Debian's `docker-registry` (distribution 2.8) on a
//! free loopback port, optionally behind htpasswd, with its access log in a file the tests read
//! to count what arrived. Stopped by PID on Drop. And test images made here: layers of
//! pseudo-random bytes (the registry never looks inside a layer), pushed with plain HTTP.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const BINARY: &str = "/usr/bin/docker-registry";

pub struct Registry {
    pub host: String,
    pub dir: tempfile::TempDir,
    /// `user:password` when htpasswd is on.
    pub login: Option<(String, String)>,
    child: Child,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

impl Registry {
    /// `login`: protect it with htpasswd (bcrypt, written by apache2-utils' `htpasswd -B`).
    pub fn start(login: Option<(&str, &str)>) -> Registry {
        Registry::start_at(&format!("127.0.0.1:{}", free_port()), login)
    }

    /// On a given address (`127.0.0.2:32000`: a workshop host's microk8s registry).
    pub fn start_at(addr: &str, login: Option<(&str, &str)>) -> Registry {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is missing: apt-get install docker-registry (see .ci/run)"
        );
        let dir = tempfile::tempdir().unwrap();
        let mut auth = String::new();
        if let Some((user, password)) = login {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils) is installed");
            assert!(out.status.success(), "htpasswd failed");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).unwrap();
            auth = format!(
                "auth:\n  htpasswd:\n    realm: kat-test\n    path: {}\n",
                file.display()
            );
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{auth}",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("access.log")).unwrap();
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let r = Registry {
            host: addr.to_string(),
            dir,
            login: login.map(|(u, p)| (u.to_string(), p.to_string())),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match ureq::get(&format!("http://{}/v2/", r.host)).call() {
                Ok(_) | Err(ureq::Error::StatusCode(401)) => break,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => panic!("docker-registry did not start: {e}\n{}", r.log()),
            }
        }
        r
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Access-log lines of `method` requests whose path contains `part` (answered ones only:
    /// the log line is written when the response is).
    pub fn requests(&self, method: &str, part: &str) -> usize {
        let needle = format!("\"{method} /v2/");
        self.log()
            .lines()
            .filter(|l| l.contains(&needle) && l.contains(part))
            .count()
    }

    /// Blob uploads finished (the PUT that closes an upload session, answered 201 Created).
    pub fn blob_puts(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| {
                l.contains("\"PUT /v2/") && l.contains("/blobs/uploads/") && l.contains("\" 201 ")
            })
            .count()
    }

    fn auth_header(&self) -> Option<String> {
        self.login.as_ref().map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        })
    }

    fn request(&self, method: &str, url: &str) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut r = match method {
            "POST" => agent.post(url),
            "PUT" => agent.put(url),
            _ => unreachable!(),
        };
        if let Some(h) = self.auth_header() {
            r = r.header("Authorization", &h);
        }
        r
    }

    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let resp = self
            .request(
                "POST",
                &format!("http://{}/v2/{repo}/blobs/uploads/", self.host),
            )
            .send_empty()
            .unwrap();
        assert_eq!(resp.status(), 202, "start upload");
        let location = resp
            .headers()
            .get("Location")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let url = if location.starts_with("http") {
            location
        } else {
            format!("http://{}{location}", self.host)
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let resp = self
            .request("PUT", &format!("{url}{sep}digest={digest}"))
            .send(bytes)
            .unwrap();
        assert_eq!(resp.status(), 201, "finish upload");
        digest
    }

    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let resp = self
            .request(
                "PUT",
                &format!("http://{}/v2/{repo}/manifests/{reference}", self.host),
            )
            .header("Content-Type", media_type)
            .send(bytes)
            .unwrap();
        assert_eq!(resp.status(), 201, "push manifest");
        sha256(bytes)
    }

    /// A manifest's raw bytes as the registry serves them, or None when it has none.
    pub fn manifest(&self, repo: &str, reference: &str) -> Option<Vec<u8>> {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut req = agent
            .get(&format!("http://{}/v2/{repo}/manifests/{reference}", self.host))
            .header("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json");
        if let Some(h) = self.auth_header() {
            req = req.header("Authorization", &h);
        }
        let mut resp = req.call().unwrap();
        if resp.status() != 200 {
            return None;
        }
        let mut out = Vec::new();
        resp.body_mut().as_reader().read_to_end(&mut out).unwrap();
        Some(out)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deterministic pseudo-random bytes (xorshift): incompressible, distinct per seed.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub struct TestImage {
    pub digest: String,
    pub manifest: Vec<u8>,
    pub blobs: Vec<String>,
}

/// An OCI image of `layers` (seed, size) pushed as `repo:tag`.
pub fn push_image(r: &Registry, repo: &str, tag: &str, layers: &[(u64, usize)]) -> TestImage {
    let mut descs = Vec::new();
    let mut blobs = Vec::new();
    for (seed, size) in layers {
        let data = bytes(*seed, *size);
        let digest = r.push_blob(repo, &data);
        blobs.push(digest.clone());
        descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size}));
    }
    let diff: Vec<Value> = descs.iter().map(|d| d["digest"].clone()).collect();
    let config = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff}, "config": {}})).unwrap();
    let config_digest = r.push_blob(repo, &config);
    blobs.insert(0, config_digest.clone());
    // Not canonical JSON on purpose (spaces, key order): a re-serialising copy would change it.
    let manifest = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    let digest = r.push_manifest(
        repo,
        tag,
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    );
    TestImage {
        digest,
        manifest,
        blobs,
    }
}

/// A multi-arch index of two images (amd64, arm64) that share their first layer.
pub fn push_index(r: &Registry, repo: &str, tag: &str) -> (TestImage, Vec<TestImage>) {
    let amd = push_image(r, repo, "amd64-only", &[(100, 300_000), (101, 200_000)]);
    let arm = push_image(r, repo, "arm64-only", &[(100, 300_000), (102, 250_000)]);
    let index = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd.digest, "size": amd.manifest.len(), "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm.digest, "size": arm.manifest.len(), "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    }))
    .unwrap();
    let digest = r.push_manifest(repo, tag, "application/vnd.oci.image.index.v1+json", &index);
    let mut blobs: Vec<String> = amd.blobs.iter().chain(arm.blobs.iter()).cloned().collect();
    blobs.sort();
    blobs.dedup();
    (
        TestImage {
            digest,
            manifest: index,
            blobs,
        },
        vec![amd, arm],
    )
}

/// A Docker config directory (`DOCKER_CONFIG`) holding `user:password` for `host`, as
/// `docker login` leaves it: how the tests give kat the target registry's credentials.
#[allow(dead_code)]
pub fn docker_config(host: &str, user: &str, password: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#),
    )
    .expect("write config.json");
    dir
}

const WEB_BLUEPRINT: &str = "name: NAME\ndescription: one Deployment whose image comes from a registry of the test\nsource: https://example.invalid/NAME\nnamespace: NS\ncomponents:\n  - name: web\n    description: a web server\n    image: web\n    port: 8080\nimages:\n  web: { ref: \"SOURCE/team/web:TAG\" }\n";
const WEB_NAMESPACE: &str =
    "{% import \"kat/k8s.j2\" as k -%}\n{{ k.namespace(blueprint.name, namespace) }}\n";
const WEB_DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {{ namespace }}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: {{ images.web }}\n";

/// Writes to `dir` a blueprint `name` of one Deployment, `web`, deployed into namespace `ns`,
/// whose image is `<source>/team/web:<tag>` (kat.yaml then names it `./<dir's name>`).
pub fn write_web_blueprint(dir: &Path, name: &str, source: &Registry, tag: &str, ns: &str) {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    let blueprint = WEB_BLUEPRINT
        .replace("NAME", name)
        .replace("SOURCE", &source.host)
        .replace("TAG", tag)
        .replace("NS", ns);
    std::fs::write(dir.join("blueprint.yaml"), blueprint).unwrap();
    std::fs::write(dir.join("templates/00-namespace.yaml"), WEB_NAMESPACE).unwrap();
    std::fs::write(dir.join("templates/web.yaml"), WEB_DEPLOYMENT).unwrap();
}
