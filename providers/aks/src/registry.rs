//! The `registry` stage: an Azure Container Registry (globally unique name: a random suffix, found
//! again by its tag; `checkNameAvailability` before creating) and the AcrPull role assignment to
//! the cluster's kubelet identity (its object id, principalType set; PrincipalNotFound retried
//! while Entra ID propagates the new identity).

use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::{contract, OpContext, Outputs, ProviderError};
use serde_json::{json, Value};

use crate::cluster::KUBELET_OBJECT_ID;
use crate::names::{last, suffix};
use crate::shared::Shared;
use kat_provider::converge::{Converge, Pass};

pub const API_ACR: &str = "2023-07-01";
pub const API_ROLES: &str = "2022-04-01";
pub const ACR_TYPE: &str = "Microsoft.ContainerRegistry/registries";
/// The built-in AcrPull role.
const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

pub struct Registry {
    pub s: Arc<Shared>,
}

/// kat's registries for the environment, by tag.
pub async fn find(s: &Shared, cx: &OpContext) -> Result<Vec<String>, ProviderError> {
    Ok(s.tagged(cx, Some(ACR_TYPE))
        .await?
        .into_iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect())
}

/// A role assignment name is a GUID; kat derives it from scope, role and principal, so a run
/// killed after the PUT finds the same one instead of making a second.
pub fn assignment_name(scope: &str, role: &str, principal: &str) -> String {
    let mut h: [u64; 2] = [0xcbf29ce484222325, 0x84222325cbf29ce4];
    for (i, b) in format!("{scope}|{role}|{principal}").bytes().enumerate() {
        let k = i % 2;
        h[k] ^= b as u64;
        h[k] = h[k].wrapping_mul(0x100000001b3);
        h[1 - k] = h[1 - k].rotate_left(5) ^ h[k];
    }
    let x = ((h[0] as u128) << 64) | h[1] as u128;
    let x = (x & !(0xf << 76)) | (0x4 << 76); // version 4 layout
    let x = (x & !(0x3 << 62)) | (0x2 << 62); // RFC 4122 variant
    let s = format!("{x:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &s[0..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

impl Registry {
    async fn create(&self, pass: &mut Pass<'_>) -> Result<Option<String>, ProviderError> {
        let s = &self.s;
        let cx = pass.cx;
        if !pass.create(format!("acr/{}", s.names.registry("<suffix>")))? {
            return Ok(None);
        }
        let check = format!(
            "{}/providers/Microsoft.ContainerRegistry/checkNameAvailability",
            s.sub_path()
        );
        for _ in 0..5 {
            let name = s.names.registry(&suffix());
            let a = s
                .arm
                .post(
                    cx,
                    &check,
                    API_ACR,
                    Some(&json!({"name": name, "type": ACR_TYPE})),
                    &format!("acr/{name}"),
                )
                .await?;
            if a["nameAvailable"].as_bool() == Some(false) {
                continue;
            }
            let res = format!("acr/{name}");
            let body = json!({"location": s.location()?, "tags": s.tags(),
                "sku": {"name": s.req.config.aks.acr_sku},
                "properties": {"adminUserEnabled": false}});
            let r = s
                .arm
                .put(cx, &s.res_path(ACR_TYPE, &name), API_ACR, &body, &res)
                .await?;
            return Ok(r["id"].as_str().map(str::to_string));
        }
        Err(ProviderError::Other(
            "five random registry names were all taken; run `kat up` again".into(),
        ))
    }

    async fn grant(
        &self,
        pass: &mut Pass<'_>,
        scope: &str,
        principal: &str,
    ) -> Result<(), ProviderError> {
        let s = &self.s;
        let cx = pass.cx;
        let role = format!(
            "{}/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL}",
            s.sub_path()
        );
        let list = format!(
            "{scope}/providers/Microsoft.Authorization/roleAssignments?$filter={}",
            crate::arm::encode(&format!("principalId eq '{principal}'"))
        );
        let have = s
            .arm
            .list(
                cx,
                &list,
                API_ROLES,
                &format!("role assignments on {}", last(scope)),
            )
            .await?;
        let granted = have.iter().any(|a| {
            a["properties"]["roleDefinitionId"]
                .as_str()
                .is_some_and(|r| r.to_ascii_lowercase().ends_with(ACR_PULL))
        });
        let res = format!("role-assignment/AcrPull/{}", last(scope));
        if granted || !pass.create(&res)? {
            return Ok(());
        }
        let path = format!(
            "{scope}/providers/Microsoft.Authorization/roleAssignments/{}",
            assignment_name(scope, ACR_PULL, principal)
        );
        let body = json!({"properties": {"roleDefinitionId": role, "principalId": principal,
                                         "principalType": "ServicePrincipal"}});
        // PrincipalNotFound while Entra ID propagates the kubelet identity: retried.
        kat_provider::converge::retrying(cx, &format!("create {res}"), || async {
            match s.arm.put(cx, &path, API_ROLES, &body, &res).await {
                Err(e) if e.code() == Some("RoleAssignmentExists") => Ok(Value::Null),
                r => r,
            }
        })
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Converge for Registry {
    fn desired(&self) -> Value {
        json!({"sku": self.s.req.config.aks.acr_sku, "role": "AcrPull", "tags": self.s.req.tags})
    }

    fn nominal(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_secs(35))
    }

    async fn converge(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        let s = &self.s;
        let cx = pass.cx;
        let mut ids = find(s, cx).await?;
        ids.sort();
        let id = match ids.first() {
            Some(id) => Some(id.clone()),
            None => self.create(pass).await?,
        };
        let Some(id) = id else {
            return Ok(Outputs::new());
        };
        let res = format!("acr/{}", last(&id));
        let acr = match s.arm.get(cx, &id, API_ACR, &res).await? {
            Some(a) if pass.dry => a,
            Some(_) => s.arm.get_after_create(cx, &id, API_ACR, &res).await?,
            None => {
                return Err(ProviderError::Other(format!(
                    "{res} is listed by tag but a GET finds nothing; run `kat up` again"
                )))
            }
        };
        match cx.input::<String>("cluster", KUBELET_OBJECT_ID) {
            Ok(p) if !p.is_empty() => self.grant(pass, &id, &p).await?,
            Ok(_) | Err(_) if pass.dry => {}
            Ok(_) => {
                return Err(ProviderError::Other(format!(
                    "{} has no kubelet identity yet; run `kat up` again",
                    s.names.cluster()
                )))
            }
            Err(e) => return Err(e),
        }
        let url = acr["properties"]["loginServer"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut o = Outputs::new();
        o.put(&contract::REGISTRY_URL, url.clone())
            .set("prefix", &url)
            .set("id", &id);
        o.show(
            "Registry",
            format!("{url} (AcrPull for the cluster's nodes)"),
        );
        Ok(o)
    }

    async fn teardown(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        let s = &self.s;
        let cx = pass.cx;
        for id in find(s, cx).await? {
            // The assignments kat made on the registry go first: deleting the registry leaves
            // them orphaned in the subscription otherwise.
            let list = format!("{id}/providers/Microsoft.Authorization/roleAssignments");
            let assignments = s
                .arm
                .list(
                    cx,
                    &list,
                    API_ROLES,
                    &format!("role assignments on {}", last(&id)),
                )
                .await
                .unwrap_or_default();
            for a in assignments {
                let Some(aid) = a["id"].as_str() else {
                    continue;
                };
                let scope = a["properties"]["scope"].as_str().unwrap_or_default();
                if !scope.eq_ignore_ascii_case(&id) {
                    continue; // inherited from above the registry: not kat's
                }
                let res = format!("role-assignment/{}", last(aid));
                if pass.delete(&res)? {
                    s.arm.delete(cx, aid, API_ROLES, &res).await?;
                }
            }
            let res = format!("acr/{}", last(&id));
            if pass.delete(&res)? {
                s.arm.delete(cx, &id, API_ACR, &res).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn assignment_names_are_stable_guids() {
        let a = super::assignment_name("/s/x", "r", "p");
        assert_eq!(a, super::assignment_name("/s/x", "r", "p"));
        assert_ne!(a, super::assignment_name("/s/x", "r", "q"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
