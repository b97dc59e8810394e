//! Keys `kat init` wrote for the default provider that do not apply to the one chosen later
//! (`kat init && kat up --provider kubeconfig`): the user never asked for them, so each is set
//! aside with a warning naming it. The same key written by the user (its line differs from what
//! `init` wrote) stays an error at its line: they asked for something the provider cannot do.

use kat_provider::{AutoscalerKind, Capabilities, DatabaseMode};

use super::settings::Settings;
use crate::config::{locate, EXAMPLE};

/// What was set aside: one warning per key, and whether the provider's request changed (the
/// database mode is part of it, so the provider must be made again).
#[derive(Debug, Default)]
pub struct SetAside {
    pub warnings: Vec<String>,
    pub request_changed: bool,
}

pub fn set_aside(settings: &mut Settings, caps: &Capabilities) -> SetAside {
    let mut out = SetAside::default();
    let provider = settings.provider;
    if settings.config.database.mode == DatabaseMode::Managed
        && caps.managed_database.is_none()
        && as_init_wrote(&settings.source.text, &["database", "mode"])
    {
        settings.config.database.mode = DatabaseMode::InCluster;
        out.request_changed = true;
        out.warnings.push(format!(
            "{}: database.mode: managed is `kat init`'s default and the {provider} provider has no managed database, so the database runs in the cluster (write `mode: in-cluster` to say so)",
            at(settings, &["database", "mode"])
        ));
    }
    let autoscaler = ["addons", "cluster-autoscaler"];
    if settings.config.addons.cluster_autoscaler.enabled
        && caps.autoscaler != AutoscalerKind::ClusterAutoscaler
        && as_init_wrote(&settings.source.text, &autoscaler)
    {
        settings.config.addons.cluster_autoscaler.enabled = false;
        out.warnings.push(format!(
            "{}: addons.cluster-autoscaler is on in `kat init`'s defaults and the {provider} provider's nodes are not kat's to scale, so it is left out (write `{{enabled: false}}` to say so)",
            at(settings, &autoscaler)
        ));
    }
    out
}

/// `kat.yaml:39`, where the key is.
fn at(settings: &Settings, key: &[&str]) -> String {
    let file = settings.source.display_name();
    match locate(&settings.source.text, key) {
        Some((line, _)) => format!("{file}:{line}"),
        None => file,
    }
}

/// The line holding `key` in the user's file is the very line `kat init` writes for it.
fn as_init_wrote(text: &str, key: &[&str]) -> bool {
    fn line_of<'a>(text: &'a str, key: &[&str]) -> Option<&'a str> {
        let (line, _) = locate(text, key)?;
        text.lines().nth(line - 1).map(str::trim_end)
    }
    match (line_of(text, key), line_of(EXAMPLE, key)) {
        (Some(theirs), Some(init)) => theirs == init,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_line_init_wrote_counts_as_a_default() {
        assert!(as_init_wrote(EXAMPLE, &["database", "mode"]));
        let edited = EXAMPLE.replace(
            "  mode: managed       #",
            "  mode: managed   # I want RDS #",
        );
        assert!(!as_init_wrote(&edited, &["database", "mode"]));
        assert!(!as_init_wrote(
            "database:\n  mode: managed\n",
            &["database", "mode"]
        ));
        assert!(as_init_wrote(EXAMPLE, &["addons", "cluster-autoscaler"]));
    }
}
