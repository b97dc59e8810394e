//! Reading a secret kat recorded a reference to: the RDS master password AWS generated and keeps
//! in Secrets Manager. kat reads it only to hand it to the Kubernetes Secret the blueprint uses.

use kat_provider::{ProviderError, SecretRef};

use crate::clients::Aws;
use crate::error::pe;

pub const STORE: &str = "aws-secretsmanager";

pub async fn value(aws: &Aws, secret: &SecretRef) -> Result<String, ProviderError> {
    if secret.store != STORE || secret.name.is_empty() {
        return Err(ProviderError::Other(format!(
            "kat cannot read secret `{}` from `{}`: the eks provider reads only {STORE} ARNs; run `kat up` again to record the database's secret",
            secret.name, secret.store
        )));
    }
    let out = aws
        .secrets
        .get_secret_value()
        .secret_id(&secret.name)
        .send()
        .await
        .map_err(|e| pe("GetSecretValue", &secret.name, e))?;
    let text = out.secret_string().ok_or_else(|| {
        ProviderError::Other(format!(
            "secret {} holds binary data, not the JSON RDS writes",
            secret.name
        ))
    })?;
    pick(text, secret.key.as_deref()).map_err(|why| {
        ProviderError::Other(format!(
            "secret {}: {why}; kat expects the JSON RDS writes for a managed master password",
            secret.name
        ))
    })
}

/// The key's value from the secret's JSON, or the whole string when no key is named.
fn pick(text: &str, key: Option<&str>) -> Result<String, String> {
    let Some(key) = key else {
        return Ok(text.to_string());
    };
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|_| "its value is not JSON".to_string())?;
    json.get(key)
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("it has no string key `{key}`"))
}

#[cfg(test)]
mod tests {
    use super::pick;

    #[test]
    fn picks_the_key_of_the_json_rds_writes() {
        let text = r#"{"username":"kat","password":"s3cr3t"}"#;
        assert_eq!(pick(text, Some("password")).unwrap(), "s3cr3t");
        assert_eq!(pick(text, None).unwrap(), text);
        let missing = pick(text, Some("pass")).unwrap_err();
        assert!(missing.contains("`pass`"), "{missing}");
        // The error never echoes the secret text itself.
        assert!(!pick("s3cr3t", Some("password"))
            .unwrap_err()
            .contains("s3cr3t"));
    }
}
