//! IAM roles: the cluster's (EKS manages ENIs and load balancers with it), the nodes' (join the
//! cluster, run the VPC CNI, pull from ECR) and, once the cluster's OIDC issuer exists, the IRSA role
//! of the cluster autoscaler (created by the cluster component; see `oidc.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::{Outputs, ProviderError};
use serde_json::{json, Value};

use crate::clients::Aws;
use crate::error::{api, is_not_found, pe};
use crate::shared::Shared;
use kat_provider::converge::retrying;
use kat_provider::converge::{Converge, Pass};

const POLICY: &str = "arn:aws:iam::aws:policy/";
pub const CLUSTER_POLICIES: &[&str] = &["AmazonEKSClusterPolicy"];
pub const NODE_POLICIES: &[&str] = &[
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
];

fn trust(service: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})
    .to_string()
}

/// IAM hands policy documents back URL-encoded.
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct RoleWant<'a> {
    pub name: String,
    pub trust: String,
    /// A string the current trust policy must contain, else it is replaced (IRSA: the provider ARN).
    pub trust_marker: Option<&'a str>,
    pub managed: &'a [&'a str],
    pub inline: Option<(&'a str, String)>,
}

/// Ensures a role with exactly these attachments; returns its ARN (None in a dry pass that would
/// create it).
pub async fn ensure_role(
    aws: &Aws,
    s: &Shared,
    pass: &mut Pass<'_>,
    want: &RoleWant<'_>,
) -> Result<Option<String>, ProviderError> {
    let resource = format!("iam-role/{}", want.name);
    let found = match aws.iam.get_role().role_name(&want.name).send().await {
        Ok(out) => out.role().cloned(),
        Err(e) if is_not_found(crate::error::code(&e).as_deref()) => None,
        Err(e) => return Err(pe("GetRole", &resource, e)),
    };
    let arn = match &found {
        Some(r) => {
            let doc = url_decode(r.assume_role_policy_document().unwrap_or_default());
            if let Some(marker) = want.trust_marker {
                if !doc.contains(marker) && pass.update(&resource, "trust policy")? {
                    aws.iam
                        .update_assume_role_policy()
                        .role_name(&want.name)
                        .policy_document(&want.trust)
                        .send()
                        .await
                        .map_err(|e| pe("UpdateAssumeRolePolicy", &resource, e))?;
                }
            }
            Some(r.arn().to_string())
        }
        None => {
            if !pass.create(&resource)? {
                for p in want.managed {
                    pass.update(&resource, format!("attach {p}"))?;
                }
                if let Some((n, _)) = &want.inline {
                    pass.update(&resource, format!("inline policy {n}"))?;
                }
                return Ok(None);
            }
            let out = aws
                .iam
                .create_role()
                .role_name(&want.name)
                .assume_role_policy_document(&want.trust)
                .description(format!("kat environment {}", s.names.env))
                .set_tags(Some(crate::tags::iam(&s.req.tags)))
                .send()
                .await
                .map_err(|e| pe("CreateRole", &resource, e))?;
            out.role().map(|r| r.arn().to_string())
        }
    };
    let attached: Vec<String> = if found.is_some() {
        aws.iam
            .list_attached_role_policies()
            .role_name(&want.name)
            .send()
            .await
            .map_err(|e| pe("ListAttachedRolePolicies", &resource, e))?
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect()
    } else {
        Vec::new()
    };
    for p in want.managed {
        let policy_arn = format!("{POLICY}{p}");
        if !attached.contains(&policy_arn) && pass.update(&resource, format!("attach {p}"))? {
            aws.iam
                .attach_role_policy()
                .role_name(&want.name)
                .policy_arn(&policy_arn)
                .send()
                .await
                .map_err(|e| pe("AttachRolePolicy", &resource, e))?;
        }
    }
    if let Some((policy, doc)) = &want.inline {
        let current = if found.is_some() {
            match aws
                .iam
                .get_role_policy()
                .role_name(&want.name)
                .policy_name(*policy)
                .send()
                .await
            {
                Ok(out) => Some(url_decode(out.policy_document())),
                Err(e) if is_not_found(crate::error::code(&e).as_deref()) => None,
                Err(e) => return Err(pe("GetRolePolicy", &resource, e)),
            }
        } else {
            None
        };
        let same = current
            .and_then(|c| serde_json::from_str::<Value>(&c).ok())
            .zip(serde_json::from_str::<Value>(doc).ok())
            .is_some_and(|(a, b)| a == b);
        if !same && pass.update(&resource, format!("inline policy {policy}"))? {
            aws.iam
                .put_role_policy()
                .role_name(&want.name)
                .policy_name(*policy)
                .policy_document(doc)
                .send()
                .await
                .map_err(|e| pe("PutRolePolicy", &resource, e))?;
        }
    }
    Ok(arn)
}

/// Deletes a role and what holds it: instance profiles, attached and inline policies.
pub async fn delete_role(aws: &Aws, pass: &mut Pass<'_>, name: &str) -> Result<(), ProviderError> {
    let resource = format!("iam-role/{name}");
    match aws.iam.get_role().role_name(name).send().await {
        Ok(_) => {}
        Err(e) if is_not_found(crate::error::code(&e).as_deref()) => return Ok(()),
        Err(e) => return Err(pe("GetRole", &resource, e)),
    }
    if !pass.delete(&resource)? {
        return Ok(());
    }
    let profiles = aws
        .iam
        .list_instance_profiles_for_role()
        .role_name(name)
        .send()
        .await
        .map_err(|e| pe("ListInstanceProfilesForRole", &resource, e))?;
    for p in profiles.instance_profiles() {
        let profile = p.instance_profile_name();
        aws.iam
            .remove_role_from_instance_profile()
            .instance_profile_name(profile)
            .role_name(name)
            .send()
            .await
            .map_err(|e| pe("RemoveRoleFromInstanceProfile", &resource, e))?;
        // Only profiles kat's roles hold: EKS node groups make their own and delete them with the
        // group; one still here was left by an interrupted delete.
        aws.iam
            .delete_instance_profile()
            .instance_profile_name(profile)
            .send()
            .await
            .map_err(|e| pe("DeleteInstanceProfile", profile, e))?;
    }
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| pe("ListAttachedRolePolicies", &resource, e))?;
    for p in attached.attached_policies() {
        aws.iam
            .detach_role_policy()
            .role_name(name)
            .policy_arn(p.policy_arn().unwrap_or_default())
            .send()
            .await
            .map_err(|e| pe("DetachRolePolicy", &resource, e))?;
    }
    let inline = aws
        .iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| pe("ListRolePolicies", &resource, e))?;
    for p in inline.policy_names() {
        aws.iam
            .delete_role_policy()
            .role_name(name)
            .policy_name(p)
            .send()
            .await
            .map_err(|e| pe("DeleteRolePolicy", &resource, e))?;
    }
    retrying(pass.cx, &format!("delete {resource}"), || async {
        aws.iam
            .delete_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| api("DeleteRole", &resource, e))
    })
    .await?;
    Ok(())
}

pub struct Identity {
    pub s: Arc<Shared>,
}

impl Identity {
    async fn roles(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        let aws = self.s.aws().await;
        let n = &self.s.names;
        let cluster = ensure_role(
            &aws,
            &self.s,
            pass,
            &RoleWant {
                name: n.cluster_role(),
                trust: trust("eks.amazonaws.com"),
                trust_marker: None,
                managed: CLUSTER_POLICIES,
                inline: None,
            },
        )
        .await?;
        let node = ensure_role(
            &aws,
            &self.s,
            pass,
            &RoleWant {
                name: n.node_role(),
                trust: trust("ec2.amazonaws.com"),
                trust_marker: None,
                managed: NODE_POLICIES,
                inline: None,
            },
        )
        .await?;
        let mut o = Outputs::new();
        o.set("cluster_role_arn", cluster.unwrap_or_default())
            .set("node_role_arn", node.unwrap_or_default());
        Ok(o)
    }

    async fn delete_all(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        let aws = self.s.aws().await;
        let n = &self.s.names;
        // The autoscaler's role too: the cluster component made it, but a `down` whose cluster
        // stage found no cluster must still leave no role behind.
        for role in [n.autoscaler_role(), n.node_role(), n.cluster_role()] {
            delete_role(&aws, pass, &role).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Converge for Identity {
    fn nominal(&self) -> Option<std::time::Duration> {
        // Roles and policies in seconds, then IAM's eventual consistency.
        Some(std::time::Duration::from_secs(15))
    }

    fn desired(&self) -> Value {
        json!({"cluster": CLUSTER_POLICIES, "node": NODE_POLICIES, "tags": self.s.req.tags})
    }

    async fn converge(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        self.roles(pass).await
    }

    async fn teardown(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        self.delete_all(pass).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn iam_policy_documents_are_url_decoded() {
        assert_eq!(
            super::url_decode("%7B%22Version%22%3A%222012-10-17%22%7D"),
            "{\"Version\":\"2012-10-17\"}"
        );
        assert_eq!(super::url_decode("100%"), "100%");
    }
}
