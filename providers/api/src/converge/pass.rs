//! One converge pass: the changes it found, made unless the pass is dry.

use crate::component::{Change, ChangeAction, Verified};
use crate::context::OpContext;
use crate::error::ProviderError;
use crate::outputs::Outputs;

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
