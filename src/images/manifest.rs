//! What a raw manifest points at. Only read, never re-serialised: the bytes are pushed exactly as
//! pulled, so their digest (what kat.lock and rendered manifests name) stays the same.

use serde::Deserialize;

use super::error::ImagesError;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Every manifest kind kat copies, for the `Accept` header.
pub const ACCEPTED: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

#[derive(Debug, Clone, Deserialize)]
pub struct Descriptor {
    pub digest: String,
    #[serde(default)]
    pub size: u64,
}

#[derive(Debug, Deserialize)]
struct Raw {
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

pub enum Parsed {
    /// A multi-arch index: its child manifests.
    Index {
        media_type: String,
        children: Vec<Descriptor>,
    },
    /// One image: its config and layers.
    Image {
        media_type: String,
        blobs: Vec<Descriptor>,
    },
}

impl Parsed {
    pub fn media_type(&self) -> &str {
        match self {
            Parsed::Index { media_type, .. } | Parsed::Image { media_type, .. } => media_type,
        }
    }
}

pub fn parse(image: &str, digest: &str, bytes: &[u8]) -> Result<Parsed, ImagesError> {
    let bad = |message: String| ImagesError::BadManifest {
        image: image.to_string(),
        digest: digest.to_string(),
        message,
    };
    let raw: Raw = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    // `mediaType` is optional in OCI manifests: the shape tells them apart then.
    match (raw.manifests, raw.config) {
        (Some(children), _) => Ok(Parsed::Index {
            media_type: raw.media_type.unwrap_or_else(|| OCI_INDEX.to_string()),
            children,
        }),
        (None, Some(config)) => {
            let mut blobs = vec![config];
            blobs.extend(raw.layers.unwrap_or_default());
            Ok(Parsed::Image {
                media_type: raw.media_type.unwrap_or_else(|| OCI_MANIFEST.to_string()),
                blobs,
            })
        }
        (None, None) => Err(bad(
            "neither `manifests` nor `config`: a schema 1 manifest or an unknown kind".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_and_images_are_told_apart_with_or_without_media_type() {
        let index = br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:a","size":3}]}"#;
        assert!(
            matches!(parse("x", "d", index).unwrap(), Parsed::Index { media_type, children } if media_type == OCI_INDEX && children.len() == 1)
        );
        let image = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"digest":"sha256:c","size":1},"layers":[{"digest":"sha256:l","size":2}]}"#;
        match parse("x", "d", image).unwrap() {
            Parsed::Image { media_type, blobs } => {
                assert_eq!(media_type, DOCKER_MANIFEST);
                assert_eq!(
                    blobs.iter().map(|b| b.digest.as_str()).collect::<Vec<_>>(),
                    ["sha256:c", "sha256:l"]
                );
            }
            _ => panic!("an image"),
        }
        assert!(parse("x", "d", br#"{"schemaVersion":1}"#).is_err());
    }
}
