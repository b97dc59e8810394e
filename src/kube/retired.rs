//! Objects of this environment made by stages the configuration no longer names: an addon
//! switched off, the blueprint left out of `kat down`'s flags. `down` removes them too, found by
//! their labels, so what kat made never outlives the environment.

use kat_provider::{Applied, Change, OpContext, Outputs};

use super::client::KubeWorkloads;
use super::error::KubeError;
use super::labels::{env_selector, STAGE_LABEL};
use super::prune::{find_claims, find_labelled, Found};

/// The environment's objects whose stage is none of `keep`.
pub fn retired_selector(env: &str, keep: &[String]) -> String {
    if keep.is_empty() {
        env_selector(env)
    } else {
        format!(
            "{},{STAGE_LABEL} notin ({})",
            env_selector(env),
            keep.join(",")
        )
    }
}

impl KubeWorkloads {
    async fn retired(&self, keep: &[String]) -> Result<Vec<Found>, KubeError> {
        let selector = retired_selector(&self.env, keep);
        let mut found = find_labelled(
            &self.client,
            &self.discovery,
            &selector,
            self.opts.concurrency,
        )
        .await?;
        found.extend(
            find_claims(&self.client, &self.discovery, &selector)
                .await?
                .into_iter()
                .map(|(c, _)| c),
        );
        Ok(found)
    }

    pub(crate) async fn plan_destroy_retired(
        &self,
        keep: &[String],
    ) -> Result<Vec<Change>, KubeError> {
        self.plan_remove(self.retired(keep).await?).await
    }

    pub(crate) async fn destroy_retired(
        &self,
        keep: &[String],
        cx: &OpContext,
    ) -> Result<Applied, KubeError> {
        let found = self.retired(keep).await?;
        if !found.is_empty() {
            cx.step(format!(
                "deleting {} objects of stages kat.yaml no longer names",
                found.len()
            ));
        }
        Ok(Applied {
            changes: self.remove(found, cx).await?,
            outputs: Outputs::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selector_leaves_out_the_named_stages() {
        assert_eq!(
            retired_selector("dev", &["blueprint".into(), "metrics-server".into()]),
            "app.kubernetes.io/managed-by=kat,kat.dev/environment=dev,kat.dev/stage notin (blueprint,metrics-server)"
        );
        assert_eq!(retired_selector("dev", &[]), env_selector("dev"));
    }
}
