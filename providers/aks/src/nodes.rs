//! The `nodes` stage: a user node pool with AKS's own cluster autoscaler (`enableAutoScaling`,
//! `minCount`/`maxCount` from `provider.nodes`). Its node count belongs to the autoscaler, so it
//! is never drift; bounds, labels and taints are changed in place. ARM refuses a second operation
//! on a cluster's pools while one runs (409 OperationNotAllowed): the ARM client retries it.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::{Outputs, ProviderError};
use serde_json::{json, Value};

use crate::preflight::API_AKS;
use crate::shared::Shared;
use kat_provider::converge::{Converge, Pass};

pub const USER_POOL: &str = "user";

pub struct Nodes {
    pub s: Arc<Shared>,
}

impl Nodes {
    fn path(&self) -> String {
        format!("{}/agentPools/{USER_POOL}", crate::cluster::path(&self.s))
    }

    fn resource(&self) -> String {
        format!("node-pool/{}/{USER_POOL}", self.s.names.cluster())
    }

    fn vm_size(&self) -> String {
        let s = &self.s;
        s.req
            .config
            .nodes
            .instance_type
            .clone()
            .unwrap_or_else(|| s.req.config.aks.user_vm_size.clone())
    }

    fn taints(&self) -> Vec<String> {
        self.s
            .req
            .config
            .nodes
            .taints
            .iter()
            .map(|t| {
                format!(
                    "{}={}:{:?}",
                    t.key,
                    t.value.clone().unwrap_or_default(),
                    t.effect
                )
            })
            .collect()
    }

    /// The settings kat owns on an existing pool, as ARM shows them.
    fn owned(&self) -> Value {
        let n = &self.s.req.config.nodes;
        json!({"enableAutoScaling": true, "minCount": n.min, "maxCount": n.max,
               "nodeLabels": n.labels, "nodeTaints": self.taints()})
    }

    fn body(&self, subnet: &str) -> Value {
        let s = &self.s;
        let n = &s.req.config.nodes;
        let mut p = json!({
            "mode": "User",
            "vmSize": self.vm_size(),
            "count": n.count.clamp(n.min, n.max),
            "osType": "Linux",
            "type": "VirtualMachineScaleSets",
            "vnetSubnetID": subnet,
            "tags": s.tags(),
        });
        if n.spot {
            p["scaleSetPriority"] = json!("Spot");
            p["scaleSetEvictionPolicy"] = json!("Delete");
            p["spotMaxPrice"] = json!(-1);
        }
        merge(&mut p, &self.owned());
        json!({"properties": p})
    }
}

fn merge(into: &mut Value, from: &Value) {
    if let (Some(a), Some(b)) = (into.as_object_mut(), from.as_object()) {
        for (k, v) in b {
            a.insert(k.clone(), v.clone());
        }
    }
}

/// What differs between the pool's settings and kat's, as `key a → b`.
fn drift(have: &Value, want: &Value) -> Vec<String> {
    let norm = |v: &Value, k: &str| -> Value {
        match (k, &v[k]) {
            ("nodeLabels", Value::Null) => json!(BTreeMap::<String, String>::new()),
            ("nodeTaints", Value::Null) => json!(Vec::<String>::new()),
            (_, x) => x.clone(),
        }
    };
    want.as_object()
        .map(|o| {
            o.keys()
                .filter(|k| norm(have, k) != norm(want, k))
                .map(|k| format!("{k} {} → {}", norm(have, k), norm(want, k)))
                .collect()
        })
        .unwrap_or_default()
}

fn outputs(p: &Value, s: &Shared) -> Outputs {
    let pr = &p["properties"];
    let mut o = Outputs::new();
    o.set("pool", USER_POOL)
        .set("vm_size", pr["vmSize"].as_str().unwrap_or_default())
        .set("min", pr["minCount"].as_u64().unwrap_or_default())
        .set("max", pr["maxCount"].as_u64().unwrap_or_default());
    o.show(
        "Nodes",
        format!(
            "{} × {}-{} (AKS cluster autoscaler), pool {USER_POOL} of {}",
            pr["vmSize"].as_str().unwrap_or_default(),
            pr["minCount"],
            pr["maxCount"],
            s.names.cluster()
        ),
    );
    o
}

#[async_trait]
impl Converge for Nodes {
    fn desired(&self) -> Value {
        json!({"pool": USER_POOL, "vm_size": self.vm_size(), "owned": self.owned(),
               "spot": self.s.req.config.nodes.spot, "tags": self.s.req.tags})
    }

    fn nominal(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_secs(240))
    }

    async fn converge(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        let s = &self.s;
        let n = &s.req.config.nodes;
        if n.min > n.max || n.max == 0 {
            return Err(ProviderError::config(
                "provider.nodes.min",
                format!(
                    "min {} and max {}: the autoscaler needs 0 ≤ min ≤ max and max ≥ 1",
                    n.min, n.max
                ),
            ));
        }
        let cx = pass.cx;
        let res = self.resource();
        let found = if crate::cluster::find(s, cx).await?.is_some() {
            s.arm.get(cx, &self.path(), API_AKS, &res).await?
        } else {
            None
        };
        let state = found
            .as_ref()
            .and_then(|p| p["properties"]["provisioningState"].as_str())
            .map(str::to_string);
        let pool = match (&found, state.as_deref()) {
            (None, _) | (Some(_), Some("Failed")) => {
                let subnet: String = match cx.input("network", "nodes_subnet_id") {
                    Ok(v) => v,
                    Err(_) if pass.dry => String::new(),
                    Err(e) => return Err(e),
                };
                let go = if found.is_some() {
                    pass.update(&res, "provisioning failed earlier: converge again")?
                } else {
                    pass.create(&res)?
                };
                if !go {
                    return Ok(found.map(|p| outputs(&p, s)).unwrap_or_default());
                }
                s.arm
                    .put(cx, &self.path(), API_AKS, &self.body(&subnet), &res)
                    .await?
            }
            (Some(p), _) => {
                let changes = drift(&p["properties"], &self.owned());
                let have_size = p["properties"]["vmSize"].as_str().unwrap_or_default();
                if have_size != self.vm_size() {
                    cx.warn(format!(
                        "{res} runs {have_size}, kat.yaml asks for {}: AKS cannot change a pool's VM size in place; `kat down` and `kat up` rebuild it",
                        self.vm_size()
                    ));
                }
                if !changes.is_empty() && pass.update(&res, changes.join(", "))? {
                    let mut body = json!({"properties": p["properties"].clone()});
                    merge(&mut body["properties"], &self.owned());
                    s.arm.put(cx, &self.path(), API_AKS, &body, &res).await?
                } else if pass.dry {
                    p.clone()
                } else {
                    s.arm
                        .get_after_create(cx, &self.path(), API_AKS, &res)
                        .await?
                }
            }
        };
        Ok(outputs(&pool, s))
    }

    async fn teardown(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        let s = &self.s;
        let res = self.resource();
        if crate::cluster::find(s, pass.cx).await?.is_none() {
            return Ok(());
        }
        if s.arm
            .get(pass.cx, &self.path(), API_AKS, &res)
            .await?
            .is_some()
            && pass.delete(&res)?
        {
            s.arm.delete(pass.cx, &self.path(), API_AKS, &res).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn count_is_not_drift_but_bounds_are() {
        let want = json!({"enableAutoScaling": true, "minCount": 1, "maxCount": 4, "nodeLabels": {}, "nodeTaints": []});
        let have = json!({"enableAutoScaling": true, "minCount": 1, "maxCount": 4, "count": 3});
        assert!(super::drift(&have, &want).is_empty());
        let have = json!({"enableAutoScaling": true, "minCount": 1, "maxCount": 3, "count": 3});
        assert_eq!(super::drift(&have, &want), vec!["maxCount 3 → 4"]);
    }
}
