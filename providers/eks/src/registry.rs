//! ECR: one repository per requested image (`kat-<env>/<repo>`), scanned on push, with a lifecycle
//! policy so a workshop's pushes do not pile up. `destroy` force-deletes them, images included.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ecr::types::{ImageScanningConfiguration, Repository};
use kat_provider::contract::REGISTRY_URL;
use kat_provider::{Outputs, ProviderError};
use serde_json::{json, Value};

use crate::clients::Aws;
use crate::error::{is_not_found, pe};
use crate::shared::Shared;
use kat_provider::converge::{Converge, Pass};

fn lifecycle() -> Value {
    json!({"rules": [
        {"rulePriority": 1, "description": "untagged images go after a day",
         "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1},
         "action": {"type": "expire"}},
        {"rulePriority": 2, "description": "keep the newest 30 images",
         "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30},
         "action": {"type": "expire"}}
    ]})
}

pub struct Registry {
    pub s: Arc<Shared>,
}

impl Registry {
    fn repos(&self) -> Vec<String> {
        let r = self.s.req.registry.clone().unwrap_or_default();
        // No blueprint image yet: one repository for the application.
        if r.is_empty() {
            vec!["app".into()]
        } else {
            r
        }
    }
}

async fn describe(aws: &Aws, name: &str) -> Result<Option<Repository>, ProviderError> {
    match aws
        .ecr
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.repositories().first().cloned()),
        Err(e) if is_not_found(crate::error::code(&e).as_deref()) => Ok(None),
        Err(e) => Err(pe(
            "DescribeRepositories",
            &format!("ecr-repository/{name}"),
            e,
        )),
    }
}

/// Every repository under `kat-<env>/`, found without state.
pub async fn owned(aws: &Aws, s: &Shared) -> Result<Vec<String>, ProviderError> {
    let prefix = format!("{}/", s.names.cluster());
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let out = aws
            .ecr
            .describe_repositories()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| pe("DescribeRepositories", "ecr", e))?;
        names.extend(
            out.repositories()
                .iter()
                .filter_map(|r| r.repository_name())
                .filter(|n| n.starts_with(&prefix))
                .map(str::to_string),
        );
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(names);
        }
    }
}

#[async_trait]
impl Converge for Registry {
    fn desired(&self) -> Value {
        json!({"repositories": self.repos(), "lifecycle": lifecycle(), "tags": self.s.req.tags})
    }

    async fn converge(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        let aws = self.s.aws().await;
        let mut url = String::new();
        for repo in self.repos() {
            let name = self.s.names.repository(&repo);
            let resource = format!("ecr-repository/{name}");
            let found = describe(&aws, &name).await?;
            let uri = match &found {
                Some(r) => {
                    let scans = r
                        .image_scanning_configuration()
                        .map(|c| c.scan_on_push())
                        .unwrap_or(false);
                    if !scans && pass.update(&resource, "scan on push")? {
                        aws.ecr
                            .put_image_scanning_configuration()
                            .repository_name(&name)
                            .image_scanning_configuration(
                                ImageScanningConfiguration::builder()
                                    .scan_on_push(true)
                                    .build(),
                            )
                            .send()
                            .await
                            .map_err(|e| pe("PutImageScanningConfiguration", &resource, e))?;
                    }
                    r.repository_uri().map(str::to_string)
                }
                None if pass.create(&resource)? => aws
                    .ecr
                    .create_repository()
                    .repository_name(&name)
                    .image_scanning_configuration(
                        ImageScanningConfiguration::builder()
                            .scan_on_push(true)
                            .build(),
                    )
                    .set_tags(Some(crate::tags::ecr(&self.s.req.tags)))
                    .send()
                    .await
                    .map_err(|e| pe("CreateRepository", &resource, e))?
                    .repository()
                    .and_then(|r| r.repository_uri().map(str::to_string)),
                None => None,
            };
            let policy = if found.is_some() {
                match aws
                    .ecr
                    .get_lifecycle_policy()
                    .repository_name(&name)
                    .send()
                    .await
                {
                    Ok(out) => out
                        .lifecycle_policy_text()
                        .and_then(|t| serde_json::from_str::<Value>(t).ok()),
                    Err(e) if is_not_found(crate::error::code(&e).as_deref()) => None,
                    Err(e) => return Err(pe("GetLifecyclePolicy", &resource, e)),
                }
            } else {
                None
            };
            if policy != Some(lifecycle()) && pass.update(&resource, "lifecycle policy")? {
                aws.ecr
                    .put_lifecycle_policy()
                    .repository_name(&name)
                    .lifecycle_policy_text(lifecycle().to_string())
                    .send()
                    .await
                    .map_err(|e| pe("PutLifecyclePolicy", &resource, e))?;
            }
            if let Some(uri) = uri {
                // `<account>.dkr.ecr.<region>.amazonaws.com/kat-<env>/<repo>`: the registry is
                // everything before the first `/`.
                url = uri.split('/').next().unwrap_or_default().to_string();
            }
        }
        // Tests: a local registry standing in for ECR (see `ecr_auth::ENDPOINT_OVERRIDE`).
        if let Some(stand_in) = crate::ecr_auth::endpoint_override() {
            url = stand_in;
        }
        let mut o = Outputs::new();
        let prefix = format!("{url}/{}", self.s.names.cluster());
        o.put(&REGISTRY_URL, &url)
            .set("prefix", &prefix)
            .set("repositories", self.repos());
        o.show("Registry", prefix);
        Ok(o)
    }

    async fn teardown(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        let aws = self.s.aws().await;
        for name in owned(&aws, &self.s).await? {
            let resource = format!("ecr-repository/{name}");
            if pass.delete(&resource)? {
                match aws
                    .ecr
                    .delete_repository()
                    .repository_name(&name)
                    .force(true)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if is_not_found(crate::error::code(&e).as_deref()) => {}
                    Err(e) => return Err(pe("DeleteRepository", &resource, e)),
                }
            }
        }
        Ok(())
    }
}
