//! What a stage hands to the stages after it and to the user. Never a secret value: a secret is
//! referred to by where it is stored ([`SecretRef`]).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outputs {
    /// Machine-readable values for later stages (subnet ids, endpoint, registry URL).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, Value>,
    /// What the user sees at the end of `up` and in `kat status`, label → text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shown: BTreeMap<String, String>,
}

impl Outputs {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Serialize) -> &mut Self {
        let value = serde_json::to_value(value).expect("output values are plain data");
        self.values.insert(key.into(), value);
        self
    }

    pub fn show(&mut self, label: impl Into<String>, text: impl Into<String>) -> &mut Self {
        self.shown.insert(label.into(), text.into());
        self
    }

    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.values
            .get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.shown.is_empty()
    }
}

/// Where a secret is kept. kat stores and prints only this, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretRef {
    /// `kubernetes` (a Secret) or the cloud's store (`aws-secretsmanager`).
    pub store: String,
    /// Secret name or ARN; for `kubernetes`, `namespace/name`.
    pub name: String,
    /// The key inside the secret, when it holds several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}
