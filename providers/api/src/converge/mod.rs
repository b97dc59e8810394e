//! The converge kit a cloud provider writes its components with: one pass shared by `plan` and
//! `apply` (and by `plan_destroy` and `destroy`). With `dry` set every mutation is recorded but
//! not made, so the plan is exactly what apply would do, and `verify` is a dry pass that finds
//! nothing to do. A provider writes converge steps ([`Converge`]); [`Comp`] makes one a
//! [`Component`], [`Retired`] keeps a role that kat.yaml turned off deletable, and [`retrying`]
//! / [`delete_retried`] ride out what a cloud refuses for a while.

mod blocked;
mod pass;
mod retired;
mod retry;
mod scope;

pub use blocked::{blocked, delete_retried};
pub use pass::{verdict, Pass};
pub use retired::Retired;
pub use retry::{limited, retrying, RetryError, Transient, ATTEMPTS};
pub use scope::{NoScope, Scope};

use std::marker::PhantomData;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::component::{Applied, Change, Component, Verified};
use crate::context::OpContext;
use crate::error::ProviderError;
use crate::outputs::Outputs;

/// A component written once as a converge pass and a teardown pass.
#[async_trait]
pub trait Converge: Send + Sync {
    fn desired(&self) -> Value;

    /// How long a converge that creates everything usually takes on the real cloud: the live
    /// view's bar and "usually ~15m".
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

/// A [`Converge`] as a [`Component`]: plan = dry converge, verify = a dry converge that finds
/// nothing to do. Every call runs inside the provider's [`Scope`] (for eks, the AWS SDK's retry
/// budget of the stage).
pub struct Comp<T, S = NoScope> {
    pub inner: T,
    scope: PhantomData<fn() -> S>,
}

impl<T, S> Comp<T, S> {
    pub fn new(inner: T) -> Self {
        Comp {
            inner,
            scope: PhantomData,
        }
    }
}

#[async_trait]
impl<T: Converge, S: Scope> Component for Comp<T, S> {
    fn desired(&self) -> Value {
        self.inner.desired()
    }

    fn nominal_duration(&self) -> Option<Duration> {
        self.inner.nominal()
    }

    async fn plan(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        S::run(cx, async {
            let mut pass = Pass::new(cx, true);
            self.inner.converge(&mut pass).await?;
            Ok(pass.changes)
        })
        .await
    }

    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        S::run(cx, async {
            let mut pass = Pass::new(cx, false);
            let outputs = self.inner.converge(&mut pass).await?;
            Ok(Applied {
                changes: pass.changes,
                outputs,
            })
        })
        .await
    }

    async fn verify(&self, cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError> {
        S::run(cx, self.inner.check(cx, recorded)).await
    }

    async fn plan_destroy(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        S::run(cx, async {
            let mut pass = Pass::new(cx, true);
            self.inner.teardown(&mut pass).await?;
            Ok(pass.changes)
        })
        .await
    }

    async fn destroy(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        S::run(cx, async {
            let mut pass = Pass::new(cx, false);
            self.inner.teardown(&mut pass).await?;
            Ok(Applied {
                changes: pass.changes,
                outputs: Outputs::new(),
            })
        })
        .await
    }
}
