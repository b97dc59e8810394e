//! What a delete the cloud keeps refusing turns into: an error naming what holds the resource, so
//! the user knows what to delete (or wait for) before `kat down` again. A resource already gone is
//! success: teardown is idempotent.

use std::future::Future;

use super::{retrying, Pass, RetryError, Transient};
use crate::error::ProviderError;

/// Turns the end of a retried delete into success, the error itself, or a
/// [`ProviderError::Blocked`] naming the holders `holders` finds (the cloud's own message when it
/// finds none).
pub async fn blocked<T, E, H, HFut>(
    r: Result<T, RetryError<E>>,
    resource: &str,
    holders: H,
) -> Result<(), ProviderError>
where
    E: Transient + Into<ProviderError>,
    H: FnOnce() -> HFut,
    HFut: Future<Output = Result<Vec<String>, ProviderError>>,
{
    let e = match r {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    if e.is_not_found() {
        return Ok(());
    }
    if !e.is_in_use() {
        return Err(e.into());
    }
    let names = holders().await?;
    let blocker = if names.is_empty() {
        match e.failed() {
            Some(f) => format!("something the cloud did not name ({})", f.message()),
            None => "another resource the cloud did not name".to_string(),
        }
    } else {
        names.join(", ")
    };
    Err(ProviderError::Blocked {
        resource: resource.to_string(),
        blocker,
    })
}

/// Deletes `resource` when the pass allows, retrying what the cloud refuses for a while (in use,
/// throttled), and names what still holds it when the refusal persists.
pub async fn delete_retried<T, E, F, Fut, H, HFut>(
    pass: &mut Pass<'_>,
    resource: &str,
    call: F,
    holders: H,
) -> Result<(), ProviderError>
where
    E: Transient + Into<ProviderError>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    H: FnOnce() -> HFut,
    HFut: Future<Output = Result<Vec<String>, ProviderError>>,
{
    if pass.delete(resource)? {
        let r = retrying(pass.cx, &format!("delete {resource}"), call).await;
        blocked(r, resource, holders).await?;
    }
    Ok(())
}
