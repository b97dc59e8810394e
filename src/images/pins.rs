//! Which digest an image is mirrored at: the one kat.lock pins, else the one its tag names now.
//! A tag that moved since the lock was written keeps the locked digest (two environments a month
//! apart run the same bits) and the caller says so.

use oci_client::Reference;

use super::copy::Mirror;
use super::error::ImagesError;

/// The images a blueprint runs that kat copies: published ones (`ref:` without `build:`).
/// Images built from source and images the user supplies (`value:`) are not mirrored.
pub fn published(blueprint: &crate::blueprint::Blueprint) -> Vec<(String, String)> {
    blueprint
        .image_specs()
        .iter()
        .filter(|(_, s)| s.build.is_none())
        .filter_map(|(k, s)| s.reference.clone().map(|r| (k.clone(), r)))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// Not in kat.lock yet: the tag's digest now, to be pinned.
    New(String),
    /// kat.lock's digest, which the tag still names.
    Locked(String),
    /// kat.lock's digest; the tag names another one now.
    Moved { locked: String, now: String },
    /// kat.lock's digest; the source could not be asked (offline, or gone).
    Unchecked { locked: String, why: String },
}

impl Pin {
    /// The digest to mirror.
    pub fn digest(&self) -> &str {
        match self {
            Pin::New(d) | Pin::Locked(d) => d,
            Pin::Moved { locked, .. } | Pin::Unchecked { locked, .. } => locked,
        }
    }

    /// What a person should be told, if anything.
    pub fn warning(&self, source: &str) -> Option<String> {
        match self {
            Pin::Moved { locked, now } => Some(format!(
                "image {source}: the tag now names {now}; kept the digest kat.lock pins ({locked}); `kat lock --update-images` moves it"
            )),
            Pin::Unchecked { locked, why } => Some(format!(
                "image {source}: could not check its tag ({why}); using the digest kat.lock pins ({locked})"
            )),
            _ => None,
        }
    }
}

/// The pin, given the digest the tag names now.
pub fn pin_from(locked: Option<&str>, now: String) -> Pin {
    match locked {
        None => Pin::New(now),
        Some(l) if now == l => Pin::Locked(now),
        Some(l) => Pin::Moved {
            locked: l.to_string(),
            now,
        },
    }
}

pub async fn pin(
    mirror: &Mirror,
    source: &Reference,
    locked: Option<&str>,
) -> Result<Pin, ImagesError> {
    match (mirror.resolve(source).await, locked) {
        (Ok(now), locked) => Ok(pin_from(locked, now)),
        (Err(e @ (ImagesError::Unreachable { .. } | ImagesError::NotFound { .. })), Some(l)) => {
            Ok(Pin::Unchecked {
                locked: l.to_string(),
                why: e.to_string(),
            })
        }
        (Err(e), _) => Err(e),
    }
}
