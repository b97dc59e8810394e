//! What EKS changes on a node group in place: scaling (UpdateNodegroupConfig), labels and taints
//! (the same call), and the Kubernetes version (UpdateNodegroupVersion, a rolling replacement of
//! the nodes that EKS runs itself).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_eks::types::{
    Nodegroup, NodegroupScalingConfig, Taint, TaintEffect as EksEffect, UpdateLabelsPayload,
    UpdateTaintsPayload,
};
use kat_provider::{NodePoolConfig, NodeTaint, TaintEffect};

/// The in-place changes one group needs; each `Some` is one part of the update.
#[derive(Debug, Default)]
pub struct InPlace {
    pub scaling: Option<NodegroupScalingConfig>,
    pub labels: Option<UpdateLabelsPayload>,
    pub taints: Option<UpdateTaintsPayload>,
    /// What changes, for the plan (`scaling 1–4 (desired 2) → 1–4 (desired 3)`).
    pub details: Vec<String>,
}

impl InPlace {
    pub fn is_empty(&self) -> bool {
        self.details.is_empty()
    }
}

/// The desired size kat asks for: the autoscaler's once the group runs, unless kat.yaml's
/// `count` itself changed since kat last applied it.
pub fn desired_size(have: Option<i32>, cfg: &NodePoolConfig, count_changed: bool) -> i32 {
    let (min, max) = (cfg.min as i32, cfg.max.max(cfg.min) as i32);
    match have {
        Some(h) if !count_changed => h.clamp(min, max),
        _ => (cfg.count as i32).clamp(min, max),
    }
}

pub fn diff(ng: &Nodegroup, cfg: &NodePoolConfig, count_changed: bool) -> InPlace {
    let mut out = InPlace::default();
    let sc = ng.scaling_config();
    let have = (
        sc.and_then(|s| s.min_size()).unwrap_or(-1),
        sc.and_then(|s| s.max_size()).unwrap_or(-1),
        sc.and_then(|s| s.desired_size()),
    );
    let (min, max) = (cfg.min as i32, cfg.max.max(cfg.min) as i32);
    let desired = desired_size(have.2, cfg, count_changed);
    if (have.0, have.1, have.2) != (min, max, Some(desired)) {
        out.details.push(format!(
            "scaling {}–{} (desired {}) → {min}–{max} (desired {desired})",
            have.0,
            have.1,
            have.2.unwrap_or_default()
        ));
        out.scaling = Some(scaling(cfg, desired));
    }

    let have_labels: BTreeMap<String, String> = ng
        .labels()
        .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    if have_labels != cfg.labels {
        let add: BTreeMap<_, _> = cfg
            .labels
            .iter()
            .filter(|(k, v)| have_labels.get(*k) != Some(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let remove: Vec<String> = have_labels
            .keys()
            .filter(|k| !cfg.labels.contains_key(*k))
            .cloned()
            .collect();
        out.details.push(format!(
            "labels {} → {}",
            show_labels(&have_labels),
            show_labels(&cfg.labels)
        ));
        out.labels = Some(
            UpdateLabelsPayload::builder()
                .set_add_or_update_labels((!add.is_empty()).then(|| add.into_iter().collect()))
                .set_remove_labels((!remove.is_empty()).then_some(remove))
                .build(),
        );
    }

    let have_taints: BTreeSet<NodeTaint> = ng.taints().iter().filter_map(from_eks).collect();
    let want_taints: BTreeSet<NodeTaint> = cfg.taints.iter().cloned().collect();
    if have_taints != want_taints {
        let add: Vec<Taint> = want_taints.difference(&have_taints).map(to_eks).collect();
        // A taint is keyed by key and effect: one whose value changed is updated, not removed.
        let remove: Vec<Taint> = have_taints
            .iter()
            .filter(|h| {
                !want_taints
                    .iter()
                    .any(|w| w.key == h.key && w.effect == h.effect)
            })
            .map(to_eks)
            .collect();
        out.details.push(format!(
            "taints {} → {}",
            show_taints(&have_taints),
            show_taints(&want_taints)
        ));
        out.taints = Some(
            UpdateTaintsPayload::builder()
                .set_add_or_update_taints((!add.is_empty()).then_some(add))
                .set_remove_taints((!remove.is_empty()).then_some(remove))
                .build(),
        );
    }
    out
}

pub fn scaling(cfg: &NodePoolConfig, desired: i32) -> NodegroupScalingConfig {
    NodegroupScalingConfig::builder()
        .min_size(cfg.min as i32)
        .max_size(cfg.max.max(cfg.min) as i32)
        .desired_size(desired)
        .build()
}

/// The group's Kubernetes version when it lags the control plane's (after a cluster upgrade):
/// `(have, want)`.
pub fn version_lag(ng: &Nodegroup, cluster_version: Option<&str>) -> Option<(String, String)> {
    let (have, want) = (ng.version()?, cluster_version?);
    (have != want).then(|| (have.to_string(), want.to_string()))
}

pub fn to_eks(t: &NodeTaint) -> Taint {
    Taint::builder()
        .key(&t.key)
        .set_value(t.value.clone())
        .effect(match t.effect {
            TaintEffect::NoSchedule => EksEffect::NoSchedule,
            TaintEffect::PreferNoSchedule => EksEffect::PreferNoSchedule,
            TaintEffect::NoExecute => EksEffect::NoExecute,
        })
        .build()
}

fn from_eks(t: &Taint) -> Option<NodeTaint> {
    Some(NodeTaint {
        key: t.key()?.to_string(),
        value: t.value().map(str::to_string),
        effect: match t.effect()? {
            EksEffect::NoSchedule => TaintEffect::NoSchedule,
            EksEffect::PreferNoSchedule => TaintEffect::PreferNoSchedule,
            EksEffect::NoExecute => TaintEffect::NoExecute,
            _ => return None,
        },
    })
}

fn show_labels(l: &BTreeMap<String, String>) -> String {
    if l.is_empty() {
        return "none".into();
    }
    l.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn show_taints(t: &BTreeSet<NodeTaint>) -> String {
    if t.is_empty() {
        return "none".into();
    }
    t.iter()
        .map(|t| {
            format!(
                "{}{}:{:?}",
                t.key,
                t.value
                    .as_deref()
                    .map(|v| format!("={v}"))
                    .unwrap_or_default(),
                t.effect
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eks::types::NodegroupScalingConfig;

    fn group(desired: i32, labels: &[(&str, &str)], taints: Vec<Taint>) -> Nodegroup {
        Nodegroup::builder()
            .scaling_config(
                NodegroupScalingConfig::builder()
                    .min_size(1)
                    .max_size(4)
                    .desired_size(desired)
                    .build(),
            )
            .set_labels(Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ))
            .set_taints(Some(taints))
            .version("1.31")
            .build()
    }

    fn taint(key: &str, value: &str, effect: TaintEffect) -> NodeTaint {
        NodeTaint {
            key: key.into(),
            value: Some(value.into()),
            effect,
        }
    }

    #[test]
    fn the_autoscalers_size_is_kept_unless_count_changed() {
        let cfg = NodePoolConfig::default();
        let ng = group(3, &[], vec![]);
        assert!(diff(&ng, &cfg, false).is_empty());
        let d = diff(&ng, &cfg, true);
        assert_eq!(d.details, vec!["scaling 1–4 (desired 3) → 1–4 (desired 2)"]);
    }

    #[test]
    fn labels_and_taints_are_added_changed_and_removed() {
        let cfg = NodePoolConfig {
            labels: [("role".to_string(), "app".to_string())].into(),
            taints: vec![taint("dedicated", "new", TaintEffect::NoSchedule)],
            ..Default::default()
        };
        let ng = group(
            2,
            &[("role", "web"), ("old", "x")],
            vec![
                to_eks(&taint("dedicated", "old", TaintEffect::NoSchedule)),
                to_eks(&taint("gone", "x", TaintEffect::NoExecute)),
            ],
        );
        let d = diff(&ng, &cfg, false);
        let labels = d.labels.unwrap();
        assert_eq!(labels.add_or_update_labels().unwrap()["role"], "app");
        assert_eq!(labels.remove_labels(), ["old".to_string()]);
        let taints = d.taints.unwrap();
        assert_eq!(taints.add_or_update_taints()[0].value(), Some("new"));
        // The value change is an update, only the taint no longer wanted is removed.
        let removed: Vec<_> = taints.remove_taints().iter().map(|t| t.key()).collect();
        assert_eq!(removed, vec![Some("gone")]);
        assert!(
            d.details[0].starts_with("labels old=x,role=web → role=app"),
            "{:?}",
            d.details
        );
    }

    #[test]
    fn a_group_behind_the_control_plane_is_named() {
        let ng = group(2, &[], vec![]);
        assert_eq!(version_lag(&ng, Some("1.31")), None);
        assert_eq!(
            version_lag(&ng, Some("1.32")),
            Some(("1.31".into(), "1.32".into()))
        );
    }
}
