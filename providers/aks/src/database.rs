//! The `database` stage (`database.mode: managed`): PostgreSQL flexible server on the delegated
//! subnet with private access only (the private DNS zone the network stage made), its database
//! `app`, and an administrator password kat generates straight into Key Vault: stored there before
//! the server is created (so a killed run loses nothing), never printed, logged or journaled, and
//! read back only to fill the Kubernetes Secret. Server names stay reserved a while after deletion,
//! so the name carries a suffix and the server is found by tag.

use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::{contract, Outputs, ProviderError};
use rand::Rng;
use serde_json::{json, Value};

use crate::names::{last, suffix};
use crate::shared::Shared;
use crate::vault;
use kat_provider::converge::{Converge, Pass};

pub const API_PG: &str = "2024-08-01";
pub const PG_TYPE: &str = "Microsoft.DBforPostgreSQL/flexibleServers";
const PORT: u16 = 5432;
const ADMIN: &str = "kat";
const DATABASE: &str = "app";

pub struct Database {
    pub s: Arc<Shared>,
}

/// 32 characters from all four classes PostgreSQL's policy counts, none a shell or URL
/// metacharacter.
pub fn password() -> String {
    let mut rng = rand::rng();
    let classes: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"-_.~",
    ];
    let mut out: Vec<u8> = classes
        .iter()
        .map(|c| c[rng.random_range(0..c.len())])
        .collect();
    let all: Vec<u8> = classes.concat();
    while out.len() < 32 {
        out.push(all[rng.random_range(0..all.len())]);
    }
    for i in (1..out.len()).rev() {
        out.swap(i, rng.random_range(0..=i));
    }
    String::from_utf8(out).expect("ascii")
}

impl Database {
    fn body(&self, subnet: &str, zone: &str, pw: &str) -> Result<Value, ProviderError> {
        let s = &self.s;
        let d = &s.req.database;
        let a = &s.req.config.aks;
        Ok(json!({"location": s.location()?, "tags": s.tags(),
        "sku": {"name": a.database_sku, "tier": a.database_tier},
        "properties": {
            "version": d.engine_version,
            "administratorLogin": ADMIN,
            "administratorLoginPassword": pw,
            "storage": {"storageSizeGB": d.storage_gb.max(32)},
            "network": {"delegatedSubnetResourceId": subnet, "privateDnsZoneArmResourceId": zone,
                        "publicNetworkAccess": "Disabled"},
            "highAvailability": {"mode": "Disabled"},
            "backup": {"backupRetentionDays": 7, "geoRedundantBackup": "Disabled"}
        }}))
    }
}

#[async_trait]
impl Converge for Database {
    fn desired(&self) -> Value {
        let d = &self.s.req.database;
        let a = &self.s.req.config.aks;
        json!({"engine": "postgres", "version": d.engine_version, "sku": a.database_sku,
               "tier": a.database_tier, "storage_gb": d.storage_gb.max(32), "public": false,
               "tags": self.s.req.tags})
    }

    fn nominal(&self) -> Option<std::time::Duration> {
        (self.s.req.database.mode == kat_provider::DatabaseMode::Managed)
            .then(|| std::time::Duration::from_secs(480))
    }

    async fn converge(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        let s = &self.s;
        let cx = pass.cx;
        let Some(uri) = vault::ensure(s, pass).await? else {
            // Dry run with no vault yet: the server is to be created too.
            pass.create(format!(
                "postgresql/{}",
                s.names.database_server("<suffix>")
            ))?;
            return Ok(Outputs::new());
        };
        let net = (|| -> Result<(String, String), ProviderError> {
            Ok((
                cx.input("network", "database_subnet_id")?,
                cx.input("network", "dns_zone_id")?,
            ))
        })();
        let mut servers = s.tagged(cx, Some(PG_TYPE)).await?;
        servers.sort_by_key(|v| v["id"].as_str().unwrap_or_default().to_string());
        let found = servers
            .first()
            .and_then(|v| v["id"].as_str())
            .map(str::to_string);
        let stored = vault::read(s, cx, &uri, vault::PASSWORD_SECRET).await?;
        let server = match found {
            None => {
                let name = s.names.database_server(&suffix());
                let res = format!("postgresql/{name}");
                if !pass.create(&res)? {
                    return Ok(Outputs::new());
                }
                let (subnet, zone) = net?;
                let check = format!(
                    "{}/providers/Microsoft.DBforPostgreSQL/checkNameAvailability",
                    s.sub_path()
                );
                let a = s
                    .arm
                    .post(
                        cx,
                        &check,
                        API_PG,
                        Some(&json!({"name": name, "type": PG_TYPE})),
                        &res,
                    )
                    .await?;
                if a["nameAvailable"].as_bool() == Some(false) {
                    return Err(ProviderError::Other(format!(
                        "{res}: the name is taken; run `kat up` again for another suffix"
                    )));
                }
                let pw = match stored {
                    Some(p) => p,
                    None => {
                        let p = password();
                        vault::write(s, cx, &uri, vault::PASSWORD_SECRET, &p).await?;
                        p
                    }
                };
                s.arm
                    .put(
                        cx,
                        &s.res_path(PG_TYPE, &name),
                        API_PG,
                        &self.body(&subnet, &zone, &pw)?,
                        &res,
                    )
                    .await?
            }
            Some(id) => {
                let res = format!("postgresql/{}", last(&id));
                let v = if pass.dry {
                    s.arm.get(cx, &id, API_PG, &res).await?.unwrap_or_default()
                } else {
                    s.arm.get_after_create(cx, &id, API_PG, &res).await?
                };
                // The secret is gone (deleted by hand): the server gets a new password.
                if stored.is_none()
                    && pass.update(
                        &res,
                        "new administrator password (the Key Vault secret was missing)",
                    )?
                {
                    let p = password();
                    vault::write(s, cx, &uri, vault::PASSWORD_SECRET, &p).await?;
                    let body = json!({"location": v["location"], "properties": {"administratorLoginPassword": p}});
                    s.arm.put(cx, &id, API_PG, &body, &res).await?
                } else {
                    v
                }
            }
        };
        let id = server["id"].as_str().unwrap_or_default().to_string();
        let dbres = format!("postgresql-database/{}/{DATABASE}", last(&id));
        let dbpath = format!("{id}/databases/{DATABASE}");
        let have_db = !id.is_empty() && s.arm.get(cx, &dbpath, API_PG, &dbres).await?.is_some();
        if !id.is_empty() && !have_db && pass.create(&dbres)? {
            let body = json!({"properties": {"charset": "UTF8", "collation": "en_US.utf8"}});
            s.arm.put(cx, &dbpath, API_PG, &body, &dbres).await?;
        }
        let host = server["properties"]["fullyQualifiedDomainName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let secret = vault::secret_ref(&uri);
        let mut o = Outputs::new();
        o.put(&contract::DATABASE_HOST, host.clone())
            .put(&contract::DATABASE_PORT, PORT)
            .put(&contract::DATABASE_USER, ADMIN)
            .put(&contract::DATABASE_NAME, DATABASE)
            .put(&contract::DATABASE_SECRET, secret);
        o.show(
            "Database",
            format!(
                "postgresql://{host}:{PORT}/{DATABASE} (password in Key Vault {})",
                last(uri.trim_end_matches('/'))
            ),
        );
        Ok(o)
    }

    async fn teardown(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        let s = &self.s;
        let cx = pass.cx;
        for v in s.tagged(cx, Some(PG_TYPE)).await? {
            let id = v["id"].as_str().unwrap_or_default().to_string();
            let res = format!("postgresql/{}", last(&id));
            if pass.delete(&res)? {
                s.arm.delete(cx, &id, API_PG, &res).await?;
            }
        }
        vault::teardown(s, pass).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_have_every_class() {
        for _ in 0..50 {
            let p = super::password();
            assert_eq!(p.len(), 32);
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(p.chars().any(|c| "-_.~".contains(c)));
        }
        assert_ne!(super::password(), super::password());
    }
}
