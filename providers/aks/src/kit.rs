//! The converge kit in the shape of the eks crate's (`Pass`, `Converge`, `Comp`, `Retired`,
//! `retrying`), local until `kat_provider::converge` is on main: swapping this module for that
//! one changes the imports, not the steps.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use kat_provider::wait::Backoff;
use kat_provider::{
    Applied, Change, ChangeAction, Component, OpContext, Outputs, ProviderError, Verified,
};
use serde_json::{json, Value};

use crate::error::AksError;

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

    /// Records a mutation; true when the caller must now make it (not dry). Checks Ctrl-C and
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

fn verdict(pass: &Pass<'_>, outputs: &Outputs, recorded: &Outputs) -> Verified {
    if let Some(c) = pass.changes.first() {
        Verified::Drifted(format!("{} {} is needed", c.action, c.resource))
    } else if outputs != recorded {
        Verified::Drifted("recorded outputs are out of date".into())
    } else {
        Verified::Intact
    }
}

/// A component written once as a converge pass and a teardown pass.
#[async_trait]
pub trait Converge: Send + Sync {
    fn desired(&self) -> Value;
    fn nominal(&self) -> Option<Duration> {
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

    fn nominal_duration(&self) -> Option<Duration> {
        self.0.nominal()
    }

    async fn plan(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        let mut pass = Pass::new(cx, true);
        self.0.converge(&mut pass).await?;
        Ok(pass.changes)
    }

    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        let mut pass = Pass::new(cx, false);
        let outputs = self.0.converge(&mut pass).await?;
        Ok(Applied {
            changes: pass.changes,
            outputs,
        })
    }

    async fn verify(&self, cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError> {
        self.0.check(cx, recorded).await
    }

    async fn plan_destroy(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        let mut pass = Pass::new(cx, true);
        self.0.teardown(&mut pass).await?;
        Ok(pass.changes)
    }

    async fn destroy(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        let mut pass = Pass::new(cx, false);
        self.0.teardown(&mut pass).await?;
        Ok(Applied {
            changes: pass.changes,
            outputs: Outputs::new(),
        })
    }
}

/// A role kat.yaml turns off that an earlier configuration may have used: `up` changes nothing
/// (and names what is left), `down` still deletes it.
pub struct Retired<T> {
    inner: Comp<T>,
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

    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        let mut pass = Pass::new(cx, true);
        self.inner.0.teardown(&mut pass).await?;
        for c in &pass.changes {
            cx.step(format!(
                "{} is off, but {} from an earlier configuration is still there; `kat down` deletes it",
                self.setting, c.resource
            ));
        }
        Ok(Applied::default())
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

/// Calls `call` until it succeeds or fails with an error `transient` does not accept, backing off
/// in between, bounded by the stage deadline and Ctrl-C. Past the deadline the last refusal is
/// returned (it names what blocks), not a bare timeout.
pub async fn retrying<T, F, Fut>(
    cx: &OpContext,
    what: &str,
    transient: impl Fn(&AksError) -> bool,
    mut call: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AksError>>,
{
    let backoff = Backoff {
        first: Duration::from_millis(500),
        max: Duration::from_secs(20),
        factor: 1.7,
    };
    let mut n = 0;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if transient(&e) && n < 40 => {
                cx.step(format!("{what}: {e}; retrying"));
                match cx.sleep(backoff.interval(n), what).await {
                    Ok(()) => n += 1,
                    Err(ProviderError::Interrupted) => return Err(ProviderError::Interrupted),
                    Err(_) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}
