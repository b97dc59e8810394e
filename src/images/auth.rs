//! Credentials per registry: what a provider answers for its own registry (ECR, ACR: the
//! [`RegistryCredentials`] seam), else the Docker config a person logged in with (`auths`,
//! `credHelpers`, `credsStore`), else anonymous (oci-client then follows the registry's bearer
//! token challenge).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use super::error::ImagesError;

/// What a provider knows about its own registry's credentials (ECR's GetAuthorizationToken,
/// ACR's token exchange). `None`: not a registry this source answers for.
#[async_trait]
pub trait RegistryCredentials: Send + Sync {
    async fn credentials(&self, registry: &str) -> Result<Option<RegistryAuth>, ImagesError>;

    /// For one repository: registries whose tokens are scoped to a repository (ACR) answer
    /// here; the others as for the whole registry.
    async fn for_repository(
        &self,
        registry: &str,
        _repository: &str,
    ) -> Result<Option<RegistryAuth>, ImagesError> {
        self.credentials(registry).await
    }
}

/// A provider's answer for its own registry ([`kat_provider::Provider::registry_credentials`]).
pub struct ProviderCredentials(pub Arc<dyn kat_provider::Provider>);

#[async_trait]
impl RegistryCredentials for ProviderCredentials {
    async fn credentials(&self, registry: &str) -> Result<Option<RegistryAuth>, ImagesError> {
        match self.0.registry_credentials(registry).await {
            Ok(answer) => Ok(answer.map(|(u, p)| RegistryAuth::Basic(u, p))),
            Err(e) => Err(provider_error(registry, e)),
        }
    }

    /// A repository-scoped Bearer (ACR) before the registry's user and password (ECR).
    async fn for_repository(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Option<RegistryAuth>, ImagesError> {
        match self.0.registry_token(registry, repository).await {
            Ok(Some(token)) => Ok(Some(RegistryAuth::Bearer(token))),
            Ok(None) => self.credentials(registry).await,
            Err(e) => Err(provider_error(registry, e)),
        }
    }
}

fn provider_error(registry: &str, e: kat_provider::ProviderError) -> ImagesError {
    ImagesError::Provider {
        registry: registry.to_string(),
        message: e.to_string(),
    }
}

/// Fixed credentials per registry host (tests, or a user/password given on the command line).
#[derive(Default, Clone)]
pub struct Fixed(pub BTreeMap<String, (String, String)>);

#[async_trait]
impl RegistryCredentials for Fixed {
    async fn credentials(&self, registry: &str) -> Result<Option<RegistryAuth>, ImagesError> {
        Ok(self
            .0
            .get(registry)
            .map(|(u, p)| RegistryAuth::Basic(u.clone(), p.clone())))
    }
}

/// `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`).
#[derive(Debug, Default, Deserialize)]
struct DockerConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

pub struct DockerConfig {
    path: PathBuf,
    file: DockerConfigFile,
    /// Credential helpers' answers: a mirror asks before every blob it pushes, and a helper is a
    /// process (on macOS a keychain lookup), so each registry's answer is kept a while.
    helped: std::sync::Mutex<HashMap<String, (Instant, Option<RegistryAuth>)>>,
}

/// How long a credential helper's answer is reused.
const HELPER_ANSWER_LIFE: Duration = Duration::from_secs(5 * 60);

impl DockerConfig {
    /// The config of this user; absent is the same as empty.
    pub fn load_default() -> Result<DockerConfig, ImagesError> {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
            .unwrap_or_else(|| PathBuf::from(".docker"));
        DockerConfig::load(&dir.join("config.json"))
    }

    pub fn load(path: &Path) -> Result<DockerConfig, ImagesError> {
        let file = match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| ImagesError::DockerConfig {
                path: path.to_path_buf(),
                message: format!("not valid JSON ({e})"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => DockerConfigFile::default(),
            Err(e) => {
                return Err(ImagesError::DockerConfig {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })
            }
        };
        Ok(DockerConfig {
            path: path.to_path_buf(),
            file,
            helped: std::sync::Mutex::default(),
        })
    }

    /// The `auths` entry for `registry`: keys are written as hosts or as URLs
    /// (`https://index.docker.io/v1/` for Docker Hub).
    fn entry(&self, registry: &str) -> Option<&AuthEntry> {
        let hub = matches!(
            registry,
            "docker.io" | "index.docker.io" | "registry-1.docker.io"
        );
        self.file.auths.iter().find_map(|(key, entry)| {
            let host = key
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or_default();
            let same = host == registry
                || (hub
                    && matches!(
                        host,
                        "docker.io" | "index.docker.io" | "registry-1.docker.io"
                    ));
            same.then_some(entry)
        })
    }

    fn auth_of(&self, entry: &AuthEntry) -> Result<Option<RegistryAuth>, ImagesError> {
        if let Some(token) = &entry.identitytoken {
            return Ok(Some(RegistryAuth::Bearer(token.clone())));
        }
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Some(RegistryAuth::Basic(u.clone(), p.clone())));
        }
        let Some(encoded) = &entry.auth else {
            return Ok(None);
        };
        let bad = |message: &str| ImagesError::DockerConfig {
            path: self.path.clone(),
            message: message.to_string(),
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| bad("an `auth` entry is not base64"))?;
        let text = String::from_utf8(decoded).map_err(|_| bad("an `auth` entry is not UTF-8"))?;
        let (u, p) = text
            .split_once(':')
            .ok_or_else(|| bad("an `auth` entry is not `user:password`"))?;
        Ok(Some(RegistryAuth::Basic(u.to_string(), p.to_string())))
    }
}

#[async_trait]
impl RegistryCredentials for DockerConfig {
    async fn credentials(&self, registry: &str) -> Result<Option<RegistryAuth>, ImagesError> {
        let helper = self
            .file
            .cred_helpers
            .get(registry)
            .or(self.file.creds_store.as_ref());
        if let Some(helper) = helper {
            if let Some(auth) = self.helper_answer(helper, registry)? {
                return Ok(Some(auth));
            }
        }
        match self.entry(registry) {
            Some(entry) => self.auth_of(entry),
            None => Ok(None),
        }
    }
}

impl DockerConfig {
    fn helper_answer(
        &self,
        helper: &str,
        registry: &str,
    ) -> Result<Option<RegistryAuth>, ImagesError> {
        let kept = self.helped.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, auth)) = kept.get(registry) {
            if at.elapsed() < HELPER_ANSWER_LIFE {
                return Ok(auth.clone());
            }
        }
        drop(kept);
        let auth = run_helper(helper, registry)?;
        self.helped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(registry.to_string(), (Instant::now(), auth.clone()));
        Ok(auth)
    }
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// `docker-credential-<helper> get` with the registry on stdin; "credentials not found" is no
/// answer rather than an error (the helper is the store for every registry).
fn run_helper(helper: &str, registry: &str) -> Result<Option<RegistryAuth>, ImagesError> {
    let fail = |message: String| ImagesError::CredentialHelper {
        helper: helper.to_string(),
        registry: registry.to_string(),
        message,
    };
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(format!(
                "cannot run it ({e}); install it or remove it from the Docker config"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(registry.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if said.to_lowercase().contains("not found") {
            return Ok(None);
        }
        return Err(fail(said.lines().next().unwrap_or("failed").to_string()));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|e| fail(format!("unexpected answer ({e})")))?;
    // Identity tokens come back with the user `<token>`.
    Ok(Some(if answer.username == "<token>" {
        RegistryAuth::Bearer(answer.secret)
    } else {
        RegistryAuth::Basic(answer.username, answer.secret)
    }))
}

/// Asks each source in turn; anonymous when none knows the registry.
#[derive(Clone, Default)]
pub struct Credentials {
    sources: Vec<Arc<dyn RegistryCredentials>>,
}

impl Credentials {
    pub fn new(sources: Vec<Arc<dyn RegistryCredentials>>) -> Self {
        Credentials { sources }
    }

    /// A provider's answer first (its registry), then the user's Docker config.
    pub fn with_docker_config(
        provider: Option<Arc<dyn RegistryCredentials>>,
    ) -> Result<Self, ImagesError> {
        let mut sources: Vec<Arc<dyn RegistryCredentials>> = provider.into_iter().collect();
        sources.push(Arc::new(DockerConfig::load_default()?));
        Ok(Credentials { sources })
    }

    pub async fn for_registry(&self, registry: &str) -> Result<RegistryAuth, ImagesError> {
        for s in &self.sources {
            if let Some(auth) = s.credentials(registry).await? {
                return Ok(auth);
            }
        }
        Ok(RegistryAuth::Anonymous)
    }

    /// [`Credentials::for_registry`] for one repository (ACR's tokens are per repository).
    pub async fn for_repository(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<RegistryAuth, ImagesError> {
        for s in &self.sources {
            if let Some(auth) = s.for_repository(registry, repository).await? {
                return Ok(auth);
            }
        }
        Ok(RegistryAuth::Anonymous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> DockerConfig {
        DockerConfig {
            path: PathBuf::from("config.json"),
            file: serde_json::from_str(json).unwrap(),
            helped: std::sync::Mutex::default(),
        }
    }

    #[tokio::test]
    async fn a_helpers_answer_is_reused_for_a_while_then_asked_again() {
        // The helper does not exist: an answer that comes back was not asked of it.
        let c = config(r#"{"credHelpers": {"ghcr.io": "kat-test-absent"}}"#);
        let kept = RegistryAuth::Basic("u".into(), "p".into());
        c.helped
            .lock()
            .unwrap()
            .insert("ghcr.io".into(), (Instant::now(), Some(kept)));
        let again = c.credentials("ghcr.io").await.unwrap();
        assert!(matches!(again, Some(RegistryAuth::Basic(u, _)) if u == "u"));
        let Some(long_ago) = Instant::now().checked_sub(HELPER_ANSWER_LIFE * 2) else {
            return; // a machine up for less than ten minutes cannot say "long ago"
        };
        c.helped.lock().unwrap().get_mut("ghcr.io").unwrap().0 = long_ago;
        let e = c.credentials("ghcr.io").await.unwrap_err().to_string();
        assert!(e.contains("docker-credential-kat-test-absent"), "{e}");
    }

    #[tokio::test]
    async fn auths_entries_match_by_host_and_docker_hub_by_any_of_its_names() {
        let c = config(
            r#"{"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"}, "localhost:5000": {"username": "a", "password": "b"}}}"#,
        );
        let hub = c.credentials("index.docker.io").await.unwrap();
        assert!(matches!(hub, Some(RegistryAuth::Basic(u, p)) if u == "u" && p == "p"));
        let local = c.credentials("localhost:5000").await.unwrap();
        assert!(matches!(local, Some(RegistryAuth::Basic(u, _)) if u == "a"));
        assert!(c.credentials("ghcr.io").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_missing_helper_is_named_in_the_error() {
        let c = config(r#"{"credHelpers": {"ghcr.io": "kat-test-absent"}}"#);
        let e = c.credentials("ghcr.io").await.unwrap_err().to_string();
        assert!(e.contains("docker-credential-kat-test-absent"), "{e}");
    }
}
