use serde_json::Value;
use sha2::{Digest, Sha256};

/// A stable digest of a configuration value. serde_json's maps are ordered, so equal values give
/// equal digests whatever order the YAML wrote them in.
pub fn digest(value: &Value) -> String {
    let bytes = serde_json::to_vec(value).expect("values serialize");
    let hash = Sha256::digest(&bytes);
    let hex: String = hash.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}
