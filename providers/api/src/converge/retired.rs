//! A role the current kat.yaml leaves out (the database is not managed, the registry is off) that
//! an earlier configuration, or another runner's kat.yaml, may have used. The graph is the same for
//! `up` and `down`, so the stage stays in it: `up` converges nothing (it only says what an earlier
//! configuration left), while `down` still finds what the role made by name and tags and deletes
//! it. Without this, a database or registry made under one kat.yaml kept billing after `down`
//! under another, and the network teardown then failed on what the database still held.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{Comp, Converge, NoScope, Pass, Scope};
use crate::component::{Applied, Change, Component, Verified};
use crate::context::OpContext;
use crate::error::ProviderError;
use crate::outputs::Outputs;

pub struct Retired<T, S = NoScope> {
    inner: Comp<T, S>,
    /// The setting that turned the role off, for the line `up` prints when something is left.
    setting: &'static str,
}

impl<T, S> Retired<T, S> {
    pub fn new(inner: T, setting: &'static str) -> Self {
        Retired {
            inner: Comp::new(inner),
            setting,
        }
    }
}

#[async_trait]
impl<T: Converge, S: Scope> Component for Retired<T, S> {
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
        S::run(cx, self.inner.inner.teardown(&mut pass)).await?;
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
