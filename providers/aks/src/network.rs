//! The `network` stage: the resource group (kat's `kat-<env>`, or an existing one kat keeps), a
//! VNet with the node subnet, and with a managed database its delegated subnet and a private DNS
//! zone linked to the VNet (PostgreSQL flexible server with private access needs both).

use std::net::Ipv4Addr;
use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::{DatabaseMode, OpContext, Outputs, ProviderError};
use serde_json::{json, Value};

use crate::shared::{Shared, API_GROUPS};
use kat_provider::converge::{delete_retried, Converge, Pass};

pub const API_NETWORK: &str = "2024-05-01";
pub const API_DNS: &str = "2024-06-01";
pub const NODES_SUBNET: &str = "nodes";
pub const DB_SUBNET: &str = "database";

pub struct Network {
    pub s: Arc<Shared>,
}

/// The node subnet (first /20) and database subnet (the /24 after it) of the VNet's range.
pub fn subnets(vnet_cidr: &str) -> Result<(String, String), ProviderError> {
    let bad = || {
        ProviderError::config(
            "provider.aks.vnet_cidr",
            format!("`{vnet_cidr}` is not an IPv4 range of /19 or larger, such as 10.224.0.0/16"),
        )
    };
    let (ip, len) = vnet_cidr.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let len: u32 = len.parse().map_err(|_| bad())?;
    if len > 19 {
        return Err(bad());
    }
    let base = u32::from(ip) & (u32::MAX << (32 - len));
    Ok((
        format!("{}/20", Ipv4Addr::from(base)),
        format!("{}/24", Ipv4Addr::from(base + 4096)),
    ))
}

impl Network {
    fn managed_db(&self) -> bool {
        self.s.req.database.mode == DatabaseMode::Managed
    }

    fn vnet_path(&self) -> String {
        self.s
            .res_path("Microsoft.Network/virtualNetworks", &self.s.names.vnet())
    }

    fn zone_path(&self) -> String {
        self.s.res_path(
            "Microsoft.Network/privateDnsZones",
            &self.s.names.dns_zone(),
        )
    }

    fn subnet_body(&self, name: &str, prefix: &str) -> Value {
        let mut b = json!({"name": name, "properties": {"addressPrefix": prefix}});
        if name == DB_SUBNET {
            b["properties"]["delegations"] = json!([{"name": "postgresql",
                "properties": {"serviceName": "Microsoft.DBforPostgreSQL/flexibleServers"}}]);
        }
        b
    }

    async fn group(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        let s = &self.s;
        let res = format!("resource-group/{}", s.names.group);
        let found = s
            .arm
            .get(pass.cx, &s.group_path(), API_GROUPS, &res)
            .await?;
        match found {
            Some(g) if !s.names.own_group || s.ours(&g) => {
                if g["properties"]["provisioningState"] == "Deleting" {
                    return Err(ProviderError::Other(format!(
                        "{res} is still being deleted (an earlier `kat down`); wait until it is gone and run `kat up` again"
                    )));
                }
                Ok(())
            }
            Some(_) => Err(ProviderError::config(
                "provider.aks.resource_group",
                format!("{res} exists but is not tagged for environment {}: kat does not take over a group it did not make; set `provider.aks.resource_group: {}` to build in it (kat then keeps it on `down`), or choose another environment name", s.names.env, s.names.group),
            )),
            None if !s.names.own_group => Err(ProviderError::config(
                "provider.aks.resource_group",
                format!("{res} does not exist; create it or remove `provider.aks.resource_group` so kat creates kat-{}", s.names.env),
            )),
            None => {
                if pass.create(&res)? {
                    let body = json!({"location": s.location()?, "tags": s.tags()});
                    s.arm
                        .put(pass.cx, &s.group_path(), API_GROUPS, &body, &res)
                        .await?;
                }
                Ok(())
            }
        }
    }

    async fn vnet(&self, pass: &mut Pass<'_>) -> Result<Option<Value>, ProviderError> {
        let s = &self.s;
        let res = format!("vnet/{}", s.names.vnet());
        let (nodes, db) = subnets(&s.req.config.aks.vnet_cidr)?;
        let mut wanted = vec![(NODES_SUBNET, nodes)];
        if self.managed_db() {
            wanted.push((DB_SUBNET, db));
        }
        let found = s
            .arm
            .get(pass.cx, &self.vnet_path(), API_NETWORK, &res)
            .await?;
        match found {
            None => {
                if pass.create(&res)? {
                    let body = json!({"location": s.location()?, "tags": s.tags(),
                    "properties": {
                        "addressSpace": {"addressPrefixes": [s.req.config.aks.vnet_cidr]},
                        "subnets": wanted.iter().map(|(n, p)| self.subnet_body(n, p)).collect::<Vec<_>>()
                    }});
                    return Ok(Some(
                        s.arm
                            .put(pass.cx, &self.vnet_path(), API_NETWORK, &body, &res)
                            .await?,
                    ));
                }
                Ok(None)
            }
            Some(v) => {
                let have: Vec<&str> = v["properties"]["subnets"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x["name"].as_str()).collect())
                    .unwrap_or_default();
                let mut changed = false;
                for (name, prefix) in &wanted {
                    if have.contains(name) {
                        continue;
                    }
                    let sres = format!("subnet/{}/{name}", s.names.vnet());
                    if pass.create(&sres)? {
                        let path = format!("{}/subnets/{name}", self.vnet_path());
                        s.arm
                            .put(
                                pass.cx,
                                &path,
                                API_NETWORK,
                                &self.subnet_body(name, prefix),
                                &sres,
                            )
                            .await?;
                        changed = true;
                    }
                }
                if changed {
                    return Ok(s
                        .arm
                        .get(pass.cx, &self.vnet_path(), API_NETWORK, &res)
                        .await?);
                }
                Ok(Some(v))
            }
        }
    }

    async fn dns(
        &self,
        pass: &mut Pass<'_>,
        vnet_id: Option<&str>,
    ) -> Result<Option<String>, ProviderError> {
        let s = &self.s;
        let zone = s.names.dns_zone();
        let res = format!("private-dns-zone/{zone}");
        let mut id = s
            .arm
            .get(pass.cx, &self.zone_path(), API_DNS, &res)
            .await?
            .and_then(|z| z["id"].as_str().map(str::to_string));
        if id.is_none() && pass.create(&res)? {
            let body = json!({"location": "global", "tags": s.tags()});
            let z = s
                .arm
                .put(pass.cx, &self.zone_path(), API_DNS, &body, &res)
                .await?;
            id = z["id"].as_str().map(str::to_string);
        }
        let link = format!(
            "{}/virtualNetworkLinks/{}",
            self.zone_path(),
            s.names.vnet()
        );
        let lres = format!("dns-zone-link/{zone}/{}", s.names.vnet());
        let have_link = id.is_some() && s.arm.get(pass.cx, &link, API_DNS, &lres).await?.is_some();
        if !have_link && pass.create(&lres)? {
            let body = json!({"location": "global", "tags": s.tags(), "properties": {
                "virtualNetwork": {"id": vnet_id.unwrap_or_default()},
                "registrationEnabled": false}});
            s.arm.put(pass.cx, &link, API_DNS, &body, &lres).await?;
        }
        Ok(id)
    }

    /// Deletes what kat made inside a group it keeps (with its own group, deleting the group
    /// deletes everything in it).
    async fn delete_inside(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        let s = &self.s;
        let cx = pass.cx;
        let zone = s.names.dns_zone();
        let link = format!(
            "{}/virtualNetworkLinks/{}",
            self.zone_path(),
            s.names.vnet()
        );
        let lres = format!("dns-zone-link/{zone}/{}", s.names.vnet());
        if s.arm.get(pass.cx, &link, API_DNS, &lres).await?.is_some() && pass.delete(&lres)? {
            s.arm.delete(pass.cx, &link, API_DNS, &lres).await?;
        }
        let zres = format!("private-dns-zone/{zone}");
        if let Some(z) = s
            .arm
            .get(pass.cx, &self.zone_path(), API_DNS, &zres)
            .await?
        {
            if s.ours(&z) && pass.delete(&zres)? {
                s.arm
                    .delete(pass.cx, &self.zone_path(), API_DNS, &zres)
                    .await?;
            }
        }
        let vres = format!("vnet/{}", s.names.vnet());
        if let Some(v) = s
            .arm
            .get(pass.cx, &self.vnet_path(), API_NETWORK, &vres)
            .await?
        {
            if s.ours(&v) {
                let path = self.vnet_path();
                // A subnet stays "in use" for a while after the cluster or server that used it.
                delete_retried(
                    pass,
                    &vres,
                    || async { s.arm.delete(cx, &path, API_NETWORK, &vres).await },
                    || async { Ok(Vec::new()) },
                )
                .await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Converge for Network {
    fn desired(&self) -> Value {
        let a = &self.s.req.config.aks;
        json!({"group": self.s.names.group, "own_group": self.s.names.own_group,
               "location": self.s.req.config.region, "vnet_cidr": a.vnet_cidr,
               "database_subnet": self.managed_db(), "tags": self.s.req.tags})
    }

    fn nominal(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_secs(if self.managed_db() {
            40
        } else {
            15
        }))
    }

    async fn converge(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        let s = &self.s;
        self.group(pass).await?;
        let vnet = self.vnet(pass).await?;
        let vnet_id = vnet
            .as_ref()
            .and_then(|v| v["id"].as_str())
            .map(str::to_string);
        let subnet_id = |name: &str| {
            vnet.as_ref()
                .and_then(|v| v["properties"]["subnets"].as_array())
                .and_then(|a| a.iter().find(|x| x["name"] == name))
                .and_then(|x| x["id"].as_str())
                .map(str::to_string)
        };
        let mut o = Outputs::new();
        o.set("resource_group", &s.names.group)
            .set("location", s.location()?);
        if let Some(id) = &vnet_id {
            o.set("vnet_id", id);
        }
        if let Some(id) = subnet_id(NODES_SUBNET) {
            o.set("nodes_subnet_id", id);
        }
        if self.managed_db() {
            if let Some(id) = subnet_id(DB_SUBNET) {
                o.set("database_subnet_id", id);
            }
            if let Some(z) = self.dns(pass, vnet_id.as_deref()).await? {
                o.set("dns_zone_id", z);
            }
        }
        o.show("Resource group", &s.names.group);
        Ok(o)
    }

    async fn teardown(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        let s = &self.s;
        if !s.names.own_group {
            return self.delete_inside(pass).await;
        }
        let res = format!("resource-group/{}", s.names.group);
        if let Some(g) = s
            .arm
            .get(pass.cx, &s.group_path(), API_GROUPS, &res)
            .await?
        {
            if !s.ours(&g) {
                pass.cx.warn(format!(
                    "{res} is not tagged for environment {}; kat leaves it",
                    s.names.env
                ));
                return Ok(());
            }
            if pass.delete(&res)? {
                s.arm
                    .delete(pass.cx, &s.group_path(), API_GROUPS, &res)
                    .await?;
                wait_gone(s, pass.cx, &s.group_path(), &res).await?;
            }
        }
        Ok(())
    }
}

/// Polls until a GET 404s: a delete ARM reported done can still show the group a moment.
pub async fn wait_gone(
    s: &Shared,
    cx: &OpContext,
    path: &str,
    res: &str,
) -> Result<(), ProviderError> {
    kat_provider::wait::poll_until(
        cx,
        &format!("{res} to be deleted"),
        kat_provider::wait::Backoff::default(),
        || async {
            Ok(s.arm
                .get(cx, path, API_GROUPS, res)
                .await?
                .is_none()
                .then_some(()))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn subnets_are_carved_from_the_vnet() {
        assert_eq!(
            super::subnets("10.224.0.0/16").unwrap(),
            ("10.224.0.0/20".to_string(), "10.224.16.0/24".to_string())
        );
        assert!(super::subnets("10.224.0.0/24").is_err());
        assert!(super::subnets("nope").is_err());
    }
}
