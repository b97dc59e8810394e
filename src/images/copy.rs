//! The copy of one image by digest from its source registry into an environment's registry,
//! through the local cache: manifests byte for byte, a multi-arch index with every child
//! manifest and its blobs, each blob checked with HEAD before upload, a cross-repository mount
//! tried first when the target registry already holds the blob in another repository, several
//! blobs at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use futures::{StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use super::auth::Credentials;
use super::cache::Cache;
use super::error::ImagesError;
use super::manifest::{self, Descriptor, Parsed};
use super::progress::ImageBar;
use super::reference::{host, plain_http};

/// Blobs copied at once per image: enough to fill a link with several layers in flight, few
/// enough not to trip registries' per-client limits.
pub const CONCURRENT_BLOBS: usize = 6;

/// What one copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    /// The top manifest's digest (what the copy is referred to by).
    pub digest: String,
    /// The target already had the whole image: nothing was sent.
    pub already: bool,
    pub blobs_sent: u64,
    pub blobs_mounted: u64,
    pub blobs_skipped: u64,
    pub bytes_sent: u64,
    pub manifests_pushed: u64,
}

#[derive(Default)]
struct Counters {
    blobs_sent: AtomicU64,
    blobs_mounted: AtomicU64,
    blobs_skipped: AtomicU64,
    bytes_sent: AtomicU64,
    manifests_pushed: AtomicU64,
}

pub struct Mirror {
    client: Client,
    cache: Cache,
    creds: Credentials,
    /// (target host, blob digest) → a repository of that host known to hold it, for mounts.
    holders: Mutex<HashMap<(String, String), String>>,
    /// Registry hosts already logged in to, per operation.
    /// (registry, repository, push) → a fingerprint of the credentials last logged in with.
    logged_in: tokio::sync::Mutex<HashMap<(String, String, bool), u64>>,
}

impl Mirror {
    /// `registries`: every registry host this mirror will talk to, so the loopback ones are
    /// spoken to in plain HTTP and no other.
    pub fn new(cache: Cache, creds: Credentials, registries: &[String]) -> Mirror {
        Mirror::with_plain_http(cache, creds, registries, &[])
    }

    /// As [`Mirror::new`], with registries that speak plain HTTP although they are not on
    /// loopback (`plain`: microk8s's registry on a workshop host, which its provider says).
    pub fn with_plain_http(
        cache: Cache,
        creds: Credentials,
        registries: &[String],
        plain: &[String],
    ) -> Mirror {
        // reqwest is built without a default TLS provider: ring, as kube uses (no aws-lc).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let plain: Vec<String> = registries
            .iter()
            .filter(|r| plain_http(r))
            .chain(plain)
            .cloned()
            .collect();
        let client = Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(plain),
            // One PUT per blob: ECR refuses the chunked pattern, and one request is faster.
            use_monolithic_push: true,
            platform_resolver: None,
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            user_agent: concat!("kat/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        });
        Mirror {
            client,
            cache,
            creds,
            holders: Mutex::new(HashMap::new()),
            logged_in: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    async fn auth(
        &self,
        r: &Reference,
        op: RegistryOperation,
    ) -> Result<RegistryAuth, ImagesError> {
        let registry = host(r).to_string();
        let auth = self.creds.for_repository(&registry, r.repository()).await?;
        let key = (
            registry.clone(),
            r.repository().to_string(),
            matches!(op, RegistryOperation::Push),
        );
        // Logged in again whenever the credentials changed: a provider renews its short-lived
        // tokens (ACR's repository tokens last 75 minutes) before they expire, and the client
        // would otherwise keep sending the first one.
        let now = fingerprint(&auth);
        let mut done = self.logged_in.lock().await;
        if done.get(&key) != Some(&now) {
            self.client
                .auth(r, &auth, op)
                .await
                .map_err(|e| ImagesError::from_oci(&r.whole(), &registry, e))?;
            done.insert(key, now);
        }
        Ok(auth)
    }

    /// The digest `source`'s tag points to now (a HEAD request: not counted by Docker Hub's
    /// pull limit).
    pub async fn resolve(&self, source: &Reference) -> Result<String, ImagesError> {
        let auth = self.auth(source, RegistryOperation::Pull).await?;
        self.client
            .fetch_manifest_digest(source, &auth)
            .await
            .map_err(|e| ImagesError::from_oci(&source.whole(), host(source), e))
    }

    /// Whether `target`'s repository holds the manifest `digest` (a registry accepts a manifest
    /// only once it holds everything it refers to, so this means the whole image).
    pub async fn present(&self, target: &Reference, digest: &str) -> Result<bool, ImagesError> {
        let at = target.clone_with_digest(digest.to_string());
        let auth = self.auth(target, RegistryOperation::Pull).await?;
        match self.client.fetch_manifest_digest(&at, &auth).await {
            Ok(_) => Ok(true),
            Err(e) => match ImagesError::from_oci(&at.whole(), host(target), e) {
                ImagesError::NotFound { .. } => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Copies `source` at `digest` into `target` (a repository with the tag to give it).
    pub async fn copy(
        &self,
        source: &Reference,
        digest: &str,
        target: &Reference,
    ) -> Result<Copied, ImagesError> {
        self.auth(target, RegistryOperation::Push).await?;
        if self.present(target, digest).await? {
            return Ok(Copied {
                digest: digest.to_string(),
                already: true,
                ..Copied::default()
            });
        }
        let bytes = self.manifest(source, digest).await?;
        let parsed = manifest::parse(&source.whole(), digest, &bytes)?;
        let (children, total) = self.outline(source, &parsed).await?;
        let bar = ImageBar::new(&source.whole(), total);
        let counters = Counters::default();
        for (child_digest, child_bytes) in &children {
            let child = manifest::parse(&source.whole(), child_digest, child_bytes)?;
            self.copy_image(
                source,
                target,
                child_digest,
                child_bytes,
                &child,
                &bar,
                &counters,
                false,
            )
            .await?;
        }
        self.copy_image(
            source, target, digest, &bytes, &parsed, &bar, &counters, true,
        )
        .await?;
        bar.finish();
        self.cache.name(
            &source.whole(),
            digest,
            parsed.media_type(),
            bytes.len() as u64,
        )?;
        Ok(Copied {
            digest: digest.to_string(),
            already: false,
            blobs_sent: counters.blobs_sent.into_inner(),
            blobs_mounted: counters.blobs_mounted.into_inner(),
            blobs_skipped: counters.blobs_skipped.into_inner(),
            bytes_sent: counters.bytes_sent.into_inner(),
            manifests_pushed: counters.manifests_pushed.into_inner(),
        })
    }

    /// `source` at `digest` into the cache only (manifests, every index entry, every blob), named
    /// in its `index.json`: what `kat fetch --bundle` carries. Returns the bytes of its blobs.
    pub async fn pull(&self, source: &Reference, digest: &str) -> Result<u64, ImagesError> {
        let bytes = self.manifest(source, digest).await?;
        let parsed = manifest::parse(&source.whole(), digest, &bytes)?;
        let (children, total) = self.outline(source, &parsed).await?;
        let mut blobs: Vec<Descriptor> = Vec::new();
        if let Parsed::Image { blobs: b, .. } = &parsed {
            blobs.extend(b.iter().cloned());
        }
        for (child_digest, child_bytes) in &children {
            if let Parsed::Image { blobs: b, .. } =
                manifest::parse(&source.whole(), child_digest, child_bytes)?
            {
                blobs.extend(b);
            }
        }
        // Platforms of an index share layers: each blob once (two pulls of one blob would
        // race for its partial file).
        blobs.sort_by(|a, b| a.digest.cmp(&b.digest));
        blobs.dedup_by(|a, b| a.digest == b.digest);
        let pulls: Vec<_> = blobs.iter().map(|b| self.fetch_blob(source, b)).collect();
        futures::stream::iter(pulls)
            .buffer_unordered(CONCURRENT_BLOBS)
            .try_collect::<Vec<()>>()
            .await?;
        self.cache.name(
            &source.whole(),
            digest,
            parsed.media_type(),
            bytes.len() as u64,
        )?;
        Ok(total)
    }

    /// An index's child manifests (fetched), and the bytes of every blob of the whole image.
    async fn outline(
        &self,
        source: &Reference,
        top: &Parsed,
    ) -> Result<(Vec<(String, Vec<u8>)>, u64), ImagesError> {
        match top {
            Parsed::Image { blobs, .. } => Ok((Vec::new(), blobs.iter().map(|b| b.size).sum())),
            Parsed::Index { children, .. } => {
                let mut out = Vec::new();
                let mut total = 0;
                for c in children {
                    let bytes = self.manifest(source, &c.digest).await?;
                    if let Parsed::Image { blobs, .. } =
                        manifest::parse(&source.whole(), &c.digest, &bytes)?
                    {
                        total += blobs.iter().map(|b| b.size).sum::<u64>();
                    }
                    out.push((c.digest.clone(), bytes));
                }
                Ok((out, total))
            }
        }
    }

    /// One manifest's blobs (none for an index, whose children went first), then the manifest
    /// itself: by tag at the top, by digest for an index's children.
    #[allow(clippy::too_many_arguments)]
    async fn copy_image(
        &self,
        source: &Reference,
        target: &Reference,
        digest: &str,
        bytes: &[u8],
        parsed: &Parsed,
        bar: &ImageBar,
        counters: &Counters,
        top: bool,
    ) -> Result<(), ImagesError> {
        if !top && self.present(target, digest).await? {
            if let Parsed::Image { blobs, .. } = parsed {
                bar.advance(blobs.iter().map(|b| b.size).sum());
            }
            return Ok(());
        }
        if let Parsed::Image { blobs, .. } = parsed {
            // Made first, then polled: a closure inside the stream trips the compiler's
            // higher-ranked lifetime check under async_trait's Send bound.
            let copies: Vec<_> = blobs
                .iter()
                .map(|b| self.copy_blob(source, target, b, bar, counters))
                .collect();
            futures::stream::iter(copies)
                .buffer_unordered(CONCURRENT_BLOBS)
                .try_collect::<Vec<()>>()
                .await?;
        }
        let at = if top {
            target.clone()
        } else {
            by_digest_as_tag(target, digest)
        };
        let content_type = parsed
            .media_type()
            .parse()
            .map_err(|_| ImagesError::BadManifest {
                image: source.whole(),
                digest: digest.to_string(),
                message: format!("media type `{}` is not a header value", parsed.media_type()),
            })?;
        self.auth(target, RegistryOperation::Push).await?;
        self.client
            .push_manifest_raw(&at, bytes.to_vec(), content_type)
            .await
            .map_err(|e| ImagesError::from_oci(&at.whole(), host(target), e))?;
        counters.manifests_pushed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn copy_blob(
        &self,
        source: &Reference,
        target: &Reference,
        blob: &Descriptor,
        bar: &ImageBar,
        counters: &Counters,
    ) -> Result<(), ImagesError> {
        // A large image outlasts a short-lived token: the credentials are asked for per blob.
        self.auth(target, RegistryOperation::Push).await?;
        let to_err = |e| ImagesError::from_oci(&target.whole(), host(target), e);
        if self
            .client
            .blob_exists(target, &blob.digest)
            .await
            .map_err(to_err)?
        {
            counters.blobs_skipped.fetch_add(1, Ordering::Relaxed);
            bar.advance(blob.size);
            self.holds(target, &blob.digest);
            return Ok(());
        }
        if self.mount(target, &blob.digest).await {
            counters.blobs_mounted.fetch_add(1, Ordering::Relaxed);
            bar.advance(blob.size);
            self.holds(target, &blob.digest);
            return Ok(());
        }
        self.fetch_blob(source, blob).await?;
        let path = self.cache.path(&blob.digest);
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| ImagesError::Cache {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let size = file.metadata().await.map(|m| m.len()).unwrap_or(blob.size);
        let bar_in_stream = bar.clone();
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).map(move |chunk| {
                if let Ok(c) = &chunk {
                    bar_in_stream.advance(c.len() as u64);
                }
                chunk.map_err(oci_client::errors::OciDistributionError::from)
            });
        self.client
            .push_blob_stream(target, stream, &blob.digest, Some(size))
            .await
            .map_err(to_err)?;
        counters.blobs_sent.fetch_add(1, Ordering::Relaxed);
        counters.bytes_sent.fetch_add(size, Ordering::Relaxed);
        self.holds(target, &blob.digest);
        Ok(())
    }

    fn holds(&self, target: &Reference, digest: &str) {
        self.holders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                (host(target).to_string(), digest.to_string()),
                target.repository().to_string(),
            );
    }

    /// A cross-repository mount from another repository of the same registry that holds the
    /// blob. A registry that answers 202 (it started an upload instead) or refuses is no
    /// error: the caller uploads.
    async fn mount(&self, target: &Reference, digest: &str) -> bool {
        let from = self
            .holders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(host(target).to_string(), digest.to_string()))
            .cloned();
        let Some(repo) = from.filter(|r| r != target.repository()) else {
            return false;
        };
        let source =
            Reference::with_digest(target.registry().to_string(), repo, digest.to_string());
        self.client
            .mount_blob(target, &source, digest)
            .await
            .is_ok()
    }

    /// The blob in the cache, pulled from the source when it is not there yet (verified
    /// against its digest by oci-client while it arrives).
    async fn fetch_blob(&self, source: &Reference, blob: &Descriptor) -> Result<(), ImagesError> {
        if self.cache.has(&blob.digest) {
            return Ok(());
        }
        let partial = self.cache.partial(&blob.digest);
        let file = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| ImagesError::Cache {
                path: partial.clone(),
                message: e.to_string(),
            })?;
        let pulled = self
            .client
            .pull_blob(source, blob.digest.as_str(), file)
            .await;
        if let Err(e) = pulled {
            let _ = std::fs::remove_file(&partial);
            return Err(ImagesError::from_oci(&source.whole(), host(source), e));
        }
        self.cache.commit(&blob.digest)
    }

    /// A manifest's bytes, from the cache or the source, checked against `digest`.
    async fn manifest(&self, source: &Reference, digest: &str) -> Result<Vec<u8>, ImagesError> {
        if let Some(bytes) = self.cache.read(digest) {
            return Ok(bytes);
        }
        let auth = self.auth(source, RegistryOperation::Pull).await?;
        let at = source.clone_with_digest(digest.to_string());
        let (bytes, _) = self
            .client
            .pull_manifest_raw(&at, &auth, manifest::ACCEPTED)
            .await
            .map_err(|e| ImagesError::from_oci(&source.whole(), host(source), e))?;
        let actual = crate::addons::sha256(&bytes);
        if actual != digest {
            return Err(ImagesError::DigestMismatch {
                image: source.whole(),
                what: "the manifest".into(),
                expected: digest.to_string(),
                actual,
            });
        }
        self.cache.write(digest, &bytes)?;
        Ok(bytes.to_vec())
    }
}

/// `target` by `digest`, spelled as a tag: oci-client 0.18's `push_manifest_raw` panics when a
/// registry answers a push by digest without a `Location` header (ECR does): its fallback strips
/// the tag (or `latest`) from the URL, which ends with the digest. A reference whose "tag" is the
/// digest gives the same `PUT /v2/<repo>/manifests/sha256:…` and a URL that fallback can strip.
fn by_digest_as_tag(target: &Reference, digest: &str) -> Reference {
    Reference::with_tag(
        target.registry().to_string(),
        target.repository().to_string(),
        digest.to_string(),
    )
}

/// Tells one set of credentials from another without keeping them twice.
fn fingerprint(auth: &RegistryAuth) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match auth {
        RegistryAuth::Anonymous => 0u8.hash(&mut h),
        RegistryAuth::Basic(u, p) => (1u8, u, p).hash(&mut h),
        RegistryAuth::Bearer(t) => (2u8, t).hash(&mut h),
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A registry that answers every request `201 Created` with no `Location` (as ECR answers
    /// a manifest push), and counts the request lines it got.
    fn no_location_registry() -> (String, std::sync::mpsc::Receiver<String>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut conn = conn;
                let mut buf = vec![0u8; 64 * 1024];
                let n = conn.read(&mut buf).unwrap_or(0);
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                let _ = tx.send(text.lines().next().unwrap_or_default().to_string());
                let _ = conn.write_all(
                    b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        (host, rx)
    }

    fn client(host: &str) -> Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(vec![host.to_string()]),
            ..Default::default()
        })
    }

    #[tokio::test]
    async fn a_push_by_digest_without_location_succeeds_through_the_digest_as_tag() {
        let (host, rx) = no_location_registry();
        let body = br#"{"schemaVersion":2}"#.to_vec();
        let digest = crate::addons::sha256(&body);
        let target = Reference::with_tag(host.clone(), "kat-x/app".into(), "kat".into());
        let c = client(&host);
        let at = by_digest_as_tag(&target, &digest);
        let url = c
            .push_manifest_raw(&at, body.clone(), OCI_MANIFEST_TYPE.parse().unwrap())
            .await
            .expect("no panic, no error");
        assert!(url.ends_with(&format!("/manifests/{digest}")), "{url}");
        let line = rx.recv().unwrap();
        assert_eq!(
            line,
            format!("PUT /v2/kat-x/app/manifests/{digest} HTTP/1.1")
        );
    }

    /// The bug the workaround is for: when this stops panicking (an oci-client upgrade), the
    /// workaround can go.
    #[tokio::test]
    async fn oci_client_panics_on_a_push_by_digest_without_location() {
        use futures::FutureExt;
        let (host, _rx) = no_location_registry();
        let body = br#"{"schemaVersion":2}"#.to_vec();
        let digest = crate::addons::sha256(&body);
        let at = Reference::with_digest(host.clone(), "kat-x/app".into(), digest);
        let c = client(&host);
        let pushed = std::panic::AssertUnwindSafe(c.push_manifest_raw(
            &at,
            body,
            OCI_MANIFEST_TYPE.parse().unwrap(),
        ))
        .catch_unwind()
        .await;
        let panic = pushed.expect_err("oci-client no longer panics: drop by_digest_as_tag");
        let said = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        assert!(said.contains("always ends with the image tag"), "{said}");
    }

    const OCI_MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
}
