//! What every call of a component runs inside. The eks provider's scope hands the stage's
//! deadline and Ctrl-C to the AWS SDK's retry loop (the SDK has no other way in); a provider
//! with its own client needs none.

use std::future::Future;

use crate::context::OpContext;

pub trait Scope: Send + Sync + 'static {
    fn run<'a, F>(cx: &'a OpContext, fut: F) -> impl Future<Output = F::Output> + Send + 'a
    where
        F: Future + Send + 'a,
        F::Output: Send;
}

/// No scope: the future runs as it is.
pub struct NoScope;

impl Scope for NoScope {
    fn run<'a, F>(_cx: &'a OpContext, fut: F) -> impl Future<Output = F::Output> + Send + 'a
    where
        F: Future + Send + 'a,
        F::Output: Send,
    {
        fut
    }
}
