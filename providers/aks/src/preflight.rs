//! Before anything is touched: a credential, a subscription kat can see, the resource providers
//! the environment needs registered (MissingSubscriptionRegistration is the classic first failure
//! on a fresh subscription), and a Kubernetes version the location offers.

use kat_provider::{DatabaseMode, OpContext, ProviderError};
use serde_json::Value;

use crate::shared::Shared;

const API_SUBSCRIPTION: &str = "2022-12-01";
const API_PROVIDERS: &str = "2021-04-01";
pub const API_AKS: &str = "2024-09-01";

/// The subscription exists and the credential may see it; its tenant is kept.
pub async fn subscription(s: &Shared, cx: &OpContext) -> Result<(), ProviderError> {
    let what = format!("subscription {}", s.subscription);
    let sub = s
        .arm
        .get(cx, &s.sub_path(), API_SUBSCRIPTION, &what)
        .await?
        .ok_or_else(|| {
            ProviderError::config(
                "provider.aks.subscription",
                format!("{what} not found for this credential; check `provider.aks.subscription` / AZURE_SUBSCRIPTION_ID (`az account list` shows yours)"),
            )
        })?;
    if let Some(t) = sub["tenantId"].as_str() {
        let _ = s.tenant.set(t.to_string());
    }
    Ok(())
}

/// The namespaces this configuration needs.
fn namespaces(s: &Shared) -> Vec<&'static str> {
    let mut ns = vec![
        "Microsoft.ContainerService",
        "Microsoft.Network",
        "Microsoft.ContainerRegistry",
    ];
    if s.req.database.mode == DatabaseMode::Managed {
        ns.extend(["Microsoft.DBforPostgreSQL", "Microsoft.KeyVault"]);
    }
    ns
}

pub async fn registrations(s: &Shared, cx: &OpContext) -> Result<(), ProviderError> {
    let mut missing = Vec::new();
    for ns in namespaces(s) {
        let path = format!("{}/providers/{ns}", s.sub_path());
        let state = s
            .arm
            .get(cx, &path, API_PROVIDERS, &format!("resource provider {ns}"))
            .await?
            .and_then(|v| v["registrationState"].as_str().map(str::to_string))
            .unwrap_or_else(|| "NotRegistered".into());
        if state != "Registered" {
            missing.push((ns, state));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing
        .iter()
        .map(|(n, st)| format!("{n} ({st})"))
        .collect();
    let cmds: Vec<String> = missing
        .iter()
        .map(|(n, _)| format!("az provider register --namespace {n}"))
        .collect();
    Err(ProviderError::config(
        "provider.aks.subscription",
        format!(
            "subscription {} has resource providers kat needs that are not registered: {}; register them once (`{}`), wait until `az provider show -n <namespace>` says Registered, and run `kat up` again",
            s.subscription,
            list.join(", "),
            cmds.join(" && ")
        ),
    ))
}

/// `1.31.2` → `1.31`.
pub fn minor(v: &str) -> String {
    v.split('.').take(2).collect::<Vec<_>>().join(".")
}

fn numeric(v: &str) -> Vec<u64> {
    v.split('.').filter_map(|p| p.parse().ok()).collect()
}

/// The version to run: the one asked for if the location offers it, else the newest minor in
/// standard (not long-term-only, not preview) support.
pub fn choose(
    offered: &Value,
    wanted: Option<&str>,
    location: &str,
) -> Result<String, ProviderError> {
    let values = offered["values"].as_array().cloned().unwrap_or_default();
    let mut standard: Vec<String> = values
        .iter()
        .filter(|v| !v["isPreview"].as_bool().unwrap_or(false))
        .filter(|v| {
            v["capabilities"]["supportPlan"]
                .as_array()
                .is_none_or(|p| p.iter().any(|x| x == "KubernetesOfficial"))
        })
        .filter_map(|v| v["version"].as_str().map(str::to_string))
        .collect();
    standard.sort_by_key(|v| numeric(v));
    let all: Vec<String> = values
        .iter()
        .filter_map(|v| v["version"].as_str().map(str::to_string))
        .collect();
    match wanted {
        Some(w) => {
            if all.iter().any(|v| minor(v) == minor(w)) {
                Ok(w.to_string())
            } else {
                Err(ProviderError::config(
                    "provider.kubernetes_version",
                    format!(
                        "AKS in {location} does not offer Kubernetes {w}; it offers {}",
                        all.join(", ")
                    ),
                ))
            }
        }
        None => standard.last().cloned().ok_or_else(|| {
            ProviderError::Other(format!(
                "AKS in {location} lists no Kubernetes version in standard support"
            ))
        }),
    }
}

pub async fn version(s: &Shared, cx: &OpContext) -> Result<String, ProviderError> {
    if let Some(v) = s.version.get() {
        return Ok(v.clone());
    }
    let location = s.location()?;
    let path = format!(
        "{}/providers/Microsoft.ContainerService/locations/{location}/kubernetesVersions",
        s.sub_path()
    );
    let offered = s
        .arm
        .get(cx, &path, API_AKS, &format!("Kubernetes versions in {location}"))
        .await?
        .ok_or_else(|| {
            ProviderError::config(
                "provider.region",
                format!("AKS knows no location `{location}`; `az account list-locations -o table` lists them"),
            )
        })?;
    let v = choose(
        &offered,
        s.req.config.kubernetes_version.as_deref(),
        &location,
    )?;
    let _ = s.version.set(v.clone());
    Ok(v)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn newest_standard_support_version_unless_one_is_asked_for() {
        let offered = json!({"values": [
            {"version": "1.29", "capabilities": {"supportPlan": ["AKSLongTermSupport"]}},
            {"version": "1.30", "capabilities": {"supportPlan": ["KubernetesOfficial"]}},
            {"version": "1.31", "capabilities": {"supportPlan": ["KubernetesOfficial", "AKSLongTermSupport"]}},
            {"version": "1.32", "isPreview": true, "capabilities": {"supportPlan": ["KubernetesOfficial"]}}
        ]});
        assert_eq!(super::choose(&offered, None, "x").unwrap(), "1.31");
        assert_eq!(super::choose(&offered, Some("1.29"), "x").unwrap(), "1.29");
        assert!(super::choose(&offered, Some("1.20"), "x").is_err());
    }
}
