//! One converge pass shared by `plan` and `apply` (and `plan_destroy` and `destroy`): with `dry`
//! set, every mutation is recorded but not made, so the plan is exactly what apply would do.

use async_trait::async_trait;
use kat_provider::{
    Applied, Change, ChangeAction, Component, OpContext, Outputs, ProviderError, Verified,
};
use serde_json::Value;

use crate::budget::scoped;

pub struct Pass<'a> {
    pub cx: &'a OpContext,
    pub dry: bool,
    pub changes: Vec<Change>,
}

impl<'a> Pass<'a> {
    pub fn new(cx: &'a OpContext, dry: bool) -> Self {
        Pass {
            cx,
            dry,
            changes: Vec::new(),
        }
    }

    /// Records a mutation; true when the caller must now make it (not dry). Checks for Ctrl-C and
    /// the deadline first, so no request starts that the run will not wait for.
    pub fn will(
        &mut self,
        action: ChangeAction,
        resource: impl Into<String>,
        detail: Option<String>,
    ) -> Result<bool, ProviderError> {
        let resource = resource.into();
        let mut change = Change::new(action, &resource);
        if let Some(d) = detail {
            change = change.with_detail(d);
        }
        self.changes.push(change);
        if self.dry {
            return Ok(false);
        }
        self.cx.check(&resource)?;
        self.cx.step(format!("{action} {resource}"));
        Ok(true)
    }

    pub fn create(&mut self, resource: impl Into<String>) -> Result<bool, ProviderError> {
        self.will(ChangeAction::Create, resource, None)
    }

    pub fn update(
        &mut self,
        resource: impl Into<String>,
        detail: impl Into<String>,
    ) -> Result<bool, ProviderError> {
        self.will(ChangeAction::Update, resource, Some(detail.into()))
    }

    pub fn delete(&mut self, resource: impl Into<String>) -> Result<bool, ProviderError> {
        self.will(ChangeAction::Delete, resource, None)
    }
}

/// What `verify` concludes from a dry pass: intact when nothing would change and the outputs are
/// the ones recorded.
pub fn verdict(pass: &Pass<'_>, outputs: &Outputs, recorded: &Outputs) -> Verified {
    if let Some(c) = pass.changes.first() {
        Verified::Drifted(format!("{} {} is needed", c.action, c.resource))
    } else if outputs != recorded {
        Verified::Drifted("recorded outputs are out of date".into())
    } else {
        Verified::Intact
    }
}

/// A component written once as a converge pass and a teardown pass; [`Comp`] makes it a
/// [`Component`] (plan = dry converge, verify = dry converge that finds nothing to do).
#[async_trait]
pub trait Converge: Send + Sync {
    fn desired(&self) -> Value;

    /// How long a converge that creates everything usually takes on AWS (the figures of
    /// `shared/reference/cloud-latencies.md`): the live view's bar and "usually ~15m".
    fn nominal(&self) -> Option<std::time::Duration> {
        None
    }
    async fn converge(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError>;
    async fn teardown(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError>;

    async fn check(&self, cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError> {
        let mut pass = Pass::new(cx, true);
        let outputs = self.converge(&mut pass).await?;
        Ok(verdict(&pass, &outputs, recorded))
    }
}

pub struct Comp<T>(pub T);

#[async_trait]
impl<T: Converge> Component for Comp<T> {
    fn desired(&self) -> Value {
        self.0.desired()
    }

    fn nominal_duration(&self) -> Option<std::time::Duration> {
        self.0.nominal()
    }

    // Every call runs in the stage's budget scope: the SDK's retries of each AWS request end at
    // its deadline and on Ctrl-C (see budget.rs).
    async fn plan(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        scoped(cx, async {
            let mut pass = Pass::new(cx, true);
            self.0.converge(&mut pass).await?;
            Ok(pass.changes)
        })
        .await
    }

    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        scoped(cx, async {
            let mut pass = Pass::new(cx, false);
            let outputs = self.0.converge(&mut pass).await?;
            Ok(Applied {
                changes: pass.changes,
                outputs,
            })
        })
        .await
    }

    async fn verify(&self, cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError> {
        scoped(cx, self.0.check(cx, recorded)).await
    }

    async fn plan_destroy(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        scoped(cx, async {
            let mut pass = Pass::new(cx, true);
            self.0.teardown(&mut pass).await?;
            Ok(pass.changes)
        })
        .await
    }

    async fn destroy(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        scoped(cx, async {
            let mut pass = Pass::new(cx, false);
            self.0.teardown(&mut pass).await?;
            Ok(Applied {
                changes: pass.changes,
                outputs: Outputs::new(),
            })
        })
        .await
    }
}
