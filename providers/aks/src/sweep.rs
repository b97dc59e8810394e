//! After `down`: everything still tagged for the environment, asked of Azure (resource groups,
//! the AKS node group included, and resources), and any soft-deleted vault of kat's.

use kat_provider::{Leftover, OpContext, ProviderError};

use crate::shared::Shared;

pub async fn sweep(s: &Shared, cx: &OpContext) -> Result<Vec<Leftover>, ProviderError> {
    let mut out = Vec::new();
    for g in s.tagged_groups(cx).await? {
        out.push(Leftover {
            kind: "resource-group".into(),
            id: g["id"].as_str().unwrap_or("?").to_string(),
            detail: format!(
                "tagged for the environment, {}",
                g["properties"]["provisioningState"]
                    .as_str()
                    .unwrap_or("present")
            ),
        });
    }
    for r in s.tagged(cx, None).await? {
        out.push(Leftover {
            kind: r["type"].as_str().unwrap_or("resource").to_string(),
            id: r["id"].as_str().unwrap_or("?").to_string(),
            detail: "tagged for the environment".into(),
        });
    }
    Ok(out)
}
