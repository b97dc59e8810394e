//! Key Vault for the database password: a vault per environment (random suffix, found by tag),
//! an access policy for the identity running kat (the token's `oid`), and the secret itself on the
//! vault's data plane, reached only through the `vaultUri` ARM returns. Soft-deleted vaults are
//! purged on `down` so nothing lingers (and the name is free again).

use kat_provider::{OpContext, ProviderError, SecretRef};
use serde_json::{json, Value};

use crate::credential::{claim, ARM_SCOPE, VAULT_SCOPE};
use crate::error::AksError;
use crate::names::{last, suffix};
use crate::shared::Shared;
use kat_provider::converge::Pass;

pub const API_VAULT: &str = "2023-07-01";
const API_SECRETS: &str = "7.4";
pub const VAULT_TYPE: &str = "Microsoft.KeyVault/vaults";
pub const STORE: &str = "azure-keyvault";
pub const PASSWORD_SECRET: &str = "database-password";

/// Only https on a Key Vault domain (or http on loopback, the test fake) gets a vault token.
pub fn vault_uri_ok(uri: &str) -> bool {
    if uri.starts_with("http://") {
        return crate::http::allowed(uri);
    }
    let host = uri
        .strip_prefix("https://")
        .and_then(|r| r.split('/').next())
        .unwrap_or("");
    [
        ".vault.azure.net",
        ".vault.azure.cn",
        ".vault.usgovcloudapi.net",
    ]
    .iter()
    .any(|d| host.ends_with(d))
}

fn secret_url(uri: &str, name: &str) -> Result<String, ProviderError> {
    if !vault_uri_ok(uri) {
        return Err(ProviderError::Other(format!(
            "refusing to send a Key Vault token to `{uri}`: not a Key Vault address"
        )));
    }
    let base = if uri.ends_with('/') {
        uri.to_string()
    } else {
        format!("{uri}/")
    };
    Ok(format!("{base}secrets/{name}?api-version={API_SECRETS}"))
}

/// kat's vault for the environment: found by tag, else created. Its `vaultUri`.
pub async fn ensure(s: &Shared, pass: &mut Pass<'_>) -> Result<Option<String>, ProviderError> {
    let cx = pass.cx;
    if let Some(v) = s.tagged(cx, Some(VAULT_TYPE)).await?.first() {
        let id = v["id"].as_str().unwrap_or_default().to_string();
        let res = format!("key-vault/{}", last(&id));
        let v = if pass.dry {
            s.arm.get(cx, &id, API_VAULT, &res).await?
        } else {
            Some(s.arm.get_after_create(cx, &id, API_VAULT, &res).await?)
        };
        return Ok(v.and_then(|v| v["properties"]["vaultUri"].as_str().map(str::to_string)));
    }
    if !pass.create(format!("key-vault/{}", s.names.vault("<suffix>")))? {
        return Ok(None);
    }
    let token = s.arm.creds.token(ARM_SCOPE).await?;
    let oid = claim(&token, "oid").ok_or_else(|| {
        ProviderError::Other(
            "the Azure token names no object id (`oid`), so kat cannot give itself access to the Key Vault that keeps the database password".into(),
        )
    })?;
    let tenant = match s.tenant.get() {
        Some(t) => t.clone(),
        None => claim(&token, "tid").unwrap_or_default(),
    };
    for _ in 0..5 {
        let name = s.names.vault(&suffix());
        let res = format!("key-vault/{name}");
        let body = json!({"location": s.location()?, "tags": s.tags(), "properties": {
            "tenantId": tenant,
            "sku": {"family": "A", "name": "standard"},
            "accessPolicies": [{"tenantId": tenant, "objectId": oid,
                                "permissions": {"secrets": ["get", "set", "delete", "list"]}}],
            "enableSoftDelete": true,
            "softDeleteRetentionInDays": 7,
            "publicNetworkAccess": "Enabled"
        }});
        match s
            .arm
            .put(cx, &s.res_path(VAULT_TYPE, &name), API_VAULT, &body, &res)
            .await
        {
            Ok(v) => return Ok(v["properties"]["vaultUri"].as_str().map(str::to_string)),
            Err(e) if e.code() == Some("VaultAlreadyExists") => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ProviderError::Other(
        "five random Key Vault names were all taken; run `kat up` again".into(),
    ))
}

pub async fn read(
    s: &Shared,
    cx: &OpContext,
    uri: &str,
    name: &str,
) -> Result<Option<String>, ProviderError> {
    let url = secret_url(uri, name)?;
    match s
        .arm
        .raw(
            cx,
            "GET",
            &url,
            VAULT_SCOPE,
            None,
            &format!("secret {name}"),
        )
        .await
    {
        Ok(a) => {
            let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
            Ok(v["value"].as_str().map(str::to_string))
        }
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub async fn write(
    s: &Shared,
    cx: &OpContext,
    uri: &str,
    name: &str,
    value: &str,
) -> Result<(), ProviderError> {
    let url = secret_url(uri, name)?;
    s.arm
        .raw(
            cx,
            "PUT",
            &url,
            VAULT_SCOPE,
            Some(&json!({"value": value})),
            &format!("secret {name}"),
        )
        .await
        .map(|_| ())
        .map_err(|e: AksError| e.into())
}

pub fn secret_ref(uri: &str) -> SecretRef {
    let base = uri.trim_end_matches('/');
    SecretRef {
        store: STORE.into(),
        name: format!("{base}/secrets/{PASSWORD_SECRET}"),
        key: None,
    }
}

/// `Provider::secret_value`: the secret a [`SecretRef`] of this store names.
pub async fn value(s: &Shared, secret: &SecretRef) -> Result<String, ProviderError> {
    let (uri, name) = secret
        .name
        .rsplit_once("/secrets/")
        .filter(|_| secret.store == STORE)
        .ok_or_else(|| {
            ProviderError::Other(format!(
                "`{}` is not a Key Vault secret kat recorded",
                secret.name
            ))
        })?;
    let cx = OpContext::detached(&s.names.env, "database");
    read(s, &cx, uri, name)
        .await?
        .ok_or_else(|| ProviderError::Gone {
            what: format!("Key Vault secret {name} in {uri}"),
        })
}

/// Deletes kat's vaults and purges them.
pub async fn teardown(s: &Shared, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
    let cx = pass.cx;
    for v in s.tagged(cx, Some(VAULT_TYPE)).await? {
        let id = v["id"].as_str().unwrap_or_default().to_string();
        let name = last(&id).to_string();
        let location = v["location"].as_str().unwrap_or_default().to_string();
        let res = format!("key-vault/{name}");
        if pass.delete(&res)? {
            s.arm.delete(cx, &id, API_VAULT, &res).await?;
            let purge = format!(
                "{}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{name}/purge",
                s.sub_path()
            );
            match s
                .arm
                .post_wait(cx, &purge, API_VAULT, &format!("deleted {res}"))
                .await
            {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn vault_tokens_go_only_to_key_vault() {
        assert!(super::vault_uri_ok("https://kat-x-abc.vault.azure.net/"));
        assert!(super::vault_uri_ok("http://127.0.0.1:9/_vault/kat-x/"));
        assert!(!super::vault_uri_ok("https://evil.example/"));
        assert!(!super::vault_uri_ok("http://kat.vault.azure.net/"));
        let r = super::secret_ref("https://kat-x-abc.vault.azure.net/");
        assert_eq!(
            r.name,
            "https://kat-x-abc.vault.azure.net/secrets/database-password"
        );
    }
}
