//! The cluster's IAM OIDC provider and the cluster autoscaler's IRSA role.
//!
//! Both need the cluster's OIDC issuer, which exists only once the control plane does, while the
//! identity stage runs before the cluster. So the cluster component makes them right after the
//! cluster is ACTIVE (eksctl does the same, as a post-cluster task), and deletes them with it.

use kat_provider::ProviderError;
use serde_json::json;

use crate::clients::Aws;
use crate::error::{is_not_found, pe};
use crate::identity::{ensure_role, RoleWant};
use crate::shared::Shared;
use crate::tags::ENV_TAG;
use kat_provider::converge::Pass;

/// The root CA thumbprint IAM used to require; EKS issuers no longer need one, AWS ignores it.
const THUMBPRINT: &str = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280";

fn host_path(issuer: &str) -> &str {
    issuer.trim_start_matches("https://")
}

pub async fn ensure_provider(
    aws: &Aws,
    s: &Shared,
    pass: &mut Pass<'_>,
    issuer: &str,
) -> Result<Option<String>, ProviderError> {
    let resource = format!("oidc-provider/{}", host_path(issuer));
    if let Some(found) = find_provider(aws, issuer).await? {
        return Ok(Some(found));
    }
    if !pass.create(&resource)? {
        return Ok(None);
    }
    let made = aws
        .iam
        .create_open_id_connect_provider()
        .url(issuer)
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list(THUMBPRINT)
        .set_tags(Some(crate::tags::iam(&s.req.tags)))
        .send()
        .await;
    match made {
        Ok(out) => Ok(out.open_id_connect_provider_arn().map(str::to_string)),
        // A create whose answer was lost and was retried finds its own provider made: IAM
        // takes no idempotency token here, so the provider is looked up again instead.
        Err(e) if crate::error::code(&e).as_deref() == Some("EntityAlreadyExists") => {
            find_provider(aws, issuer).await
        }
        Err(e) => Err(pe("CreateOpenIDConnectProvider", &resource, e)),
    }
}

/// The IAM OIDC provider for `issuer`, if one exists (its ARN ends with the issuer's host/path).
async fn find_provider(aws: &Aws, issuer: &str) -> Result<Option<String>, ProviderError> {
    let suffix = format!("oidc-provider/{}", host_path(issuer));
    let list = aws
        .iam
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(|e| pe("ListOpenIDConnectProviders", &suffix, e))?;
    Ok(list
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .find(|arn| arn.ends_with(&suffix))
        .map(str::to_string))
}

/// Every OIDC provider tagged for this environment (found without the cluster, which may be gone).
pub async fn tagged(aws: &Aws, env: &str) -> Result<Vec<String>, ProviderError> {
    let list = aws
        .iam
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(|e| pe("ListOpenIDConnectProviders", "oidc-provider", e))?;
    let mut out = Vec::new();
    for arn in list
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
    {
        let got = match aws
            .iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
        {
            Ok(g) => g,
            Err(e) if is_not_found(crate::error::code(&e).as_deref()) => continue,
            Err(e) => return Err(pe("GetOpenIDConnectProvider", arn, e)),
        };
        if got
            .tags()
            .iter()
            .any(|t| t.key() == ENV_TAG && t.value() == env)
        {
            out.push(arn.to_string());
        }
    }
    Ok(out)
}

pub async fn delete_tagged(
    aws: &Aws,
    s: &Shared,
    pass: &mut Pass<'_>,
) -> Result<(), ProviderError> {
    for arn in tagged(aws, &s.names.env).await? {
        if pass.delete(format!("oidc-provider/{arn}"))? {
            aws.iam
                .delete_open_id_connect_provider()
                .open_id_connect_provider_arn(&arn)
                .send()
                .await
                .map_err(|e| pe("DeleteOpenIDConnectProvider", &arn, e))?;
        }
    }
    Ok(())
}

/// What the cluster autoscaler may do: read the groups and scale those it discovered by tags.
fn autoscaler_policy() -> String {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Resource": "*", "Action": [
            "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
            "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
            "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
            "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
            "eks:DescribeNodegroup"]},
        {"Effect": "Allow", "Resource": "*", "Action": [
            "autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
         "Condition": {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true"}}}
    ]})
    .to_string()
}

pub async fn ensure_autoscaler_role(
    aws: &Aws,
    s: &Shared,
    pass: &mut Pass<'_>,
    provider_arn: Option<&str>,
    issuer: &str,
) -> Result<Option<String>, ProviderError> {
    let host = host_path(issuer);
    let provider = provider_arn.unwrap_or("(new OIDC provider)");
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            format!("{host}:sub"): "system:serviceaccount:kube-system:cluster-autoscaler",
            format!("{host}:aud"): "sts.amazonaws.com"}}}]})
    .to_string();
    ensure_role(
        aws,
        s,
        pass,
        &RoleWant {
            name: s.names.autoscaler_role(),
            trust,
            trust_marker: provider_arn,
            managed: &[],
            inline: Some(("cluster-autoscaler", autoscaler_policy())),
        },
    )
    .await
}
