//! A role the current kat.yaml leaves out (the database is not `rds`, the registry is off) that an
//! earlier configuration, or another runner's kat.yaml, may have used. The graph is the same for
//! `up` and `down`, so the stage stays in it: `up` converges nothing (it only says what an earlier
//! configuration left), while `down` still finds what the role made by name and tags and deletes
//! it. Without this, RDS or ECR made under one kat.yaml kept billing after `down` under another,
//! and the network teardown then failed on the database's security group.

use async_trait::async_trait;
use kat_provider::{Applied, Change, Component, OpContext, Outputs, ProviderError, Verified};
use serde_json::{json, Value};

use crate::step::{Comp, Converge, Pass};

pub struct Retired<T> {
    inner: Comp<T>,
    /// The setting that turned the role off, for the line `up` prints when something is left.
    setting: &'static str,
}

impl<T> Retired<T> {
    pub fn new(inner: T, setting: &'static str) -> Self {
        Retired {
            inner: Comp(inner),
            setting,
        }
    }
}

#[async_trait]
impl<T: Converge> Component for Retired<T> {
    fn desired(&self) -> Value {
        json!({"enabled": false})
    }

    async fn plan(&self, _cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        Ok(Vec::new())
    }

    /// Changes nothing: deleting a database because a setting changed would lose data on `up`.
    /// What is still there is named, since it keeps costing money until `down`.
    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        let mut pass = Pass::new(cx, true);
        crate::budget::scoped(cx, self.inner.0.teardown(&mut pass)).await?;
        for c in &pass.changes {
            cx.step(format!(
                "{} is off, but {} from an earlier configuration is still there; `kat down` deletes it",
                self.setting, c.resource
            ));
        }
        Ok(Applied {
            changes: Vec::new(),
            outputs: Outputs::new(),
        })
    }

    async fn verify(
        &self,
        _cx: &OpContext,
        _recorded: &Outputs,
    ) -> Result<Verified, ProviderError> {
        Ok(Verified::Intact)
    }

    async fn plan_destroy(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        self.inner.plan_destroy(cx).await
    }

    async fn destroy(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        self.inner.destroy(cx).await
    }
}
