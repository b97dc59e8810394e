//! Which microk8s addons an environment needs, and the order they go in and out.

use std::collections::BTreeSet;

/// Always: CoreDNS (Services by name), the default StorageClass (database volumes) and the
/// registry (images built for the workshop).
pub const BASE: [&str; 3] = ["dns", "hostpath-storage", "registry"];

/// microk8s's addon that stands in for a kat addon. kat's ingress-nginx always becomes
/// microk8s's own ingress controller (host ports 80/443, not a second controller); the others
/// only when kat.yaml asks for the cluster's own (`addons.<id>.source: microk8s`, listed in
/// `own`): by default they come from kat's pinned manifests, which work offline from a bundle,
/// where microk8s's observability downloads Helm charts when it is enabled.
pub fn microk8s_addon_for(kat_addon: &str, own: &[String]) -> Option<&'static str> {
    if kat_addon == "ingress-nginx" {
        return Some("ingress");
    }
    if !own.iter().any(|o| o == kat_addon) {
        return None;
    }
    own_addon(kat_addon)
}

/// microk8s's own addon for a kat addon, when it has one.
pub fn own_addon(kat_addon: &str) -> Option<&'static str> {
    match kat_addon {
        "cert-manager" => Some("cert-manager"),
        "metrics-server" => Some("metrics-server"),
        "monitoring" => Some("observability"),
        "dashboard" => Some("dashboard"),
        _ => None,
    }
}

/// The microk8s addons for the kat addons kat.yaml enables, in enable order.
pub fn needed(kat_addons: &[String], own: &[String]) -> Vec<String> {
    let mut out: Vec<String> = BASE.iter().map(|s| s.to_string()).collect();
    for a in kat_addons {
        if let Some(m) = microk8s_addon_for(a, own) {
            if !out.iter().any(|x| x == m) {
                out.push(m.to_string());
            }
        }
    }
    out
}

/// The addons to disable, in an order that takes users before what they use: the registry
/// before the storage its volume is on, storage and DNS last. hostpath-storage is disabled with
/// `:destroy-storage` (otherwise microk8s asks on the terminal whether to delete the volumes'
/// directory, and reads "no" from a closed stdin).
pub fn disable_args(enabled_by_kat: &BTreeSet<String>) -> Vec<String> {
    let rank = |a: &str| match a {
        "hostpath-storage" => 2,
        "dns" => 3,
        _ => 0,
    };
    let mut v: Vec<&String> = enabled_by_kat.iter().collect();
    v.sort_by_key(|a| (rank(a), a.to_string()));
    v.into_iter()
        .map(|a| {
            if a == "hostpath-storage" {
                "hostpath-storage:destroy-storage".to_string()
            } else {
                a.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_is_needed_only_with_kat_s_ingress_addon() {
        assert_eq!(needed(&[], &[]), ["dns", "hostpath-storage", "registry"]);
        assert_eq!(
            needed(&["ingress-nginx".into(), "monitoring".into()], &[]),
            ["dns", "hostpath-storage", "registry", "ingress"]
        );
    }

    #[test]
    fn the_cluster_s_own_addons_only_when_asked_for() {
        let kat: Vec<String> = ["monitoring", "metrics-server", "cluster-autoscaler"]
            .map(String::from)
            .into();
        let own: Vec<String> = ["monitoring".into()].into();
        assert_eq!(
            needed(&kat, &own),
            ["dns", "hostpath-storage", "registry", "observability"]
        );
        assert_eq!(microk8s_addon_for("metrics-server", &own), None);
        assert_eq!(own_addon("cluster-autoscaler"), None);
    }

    #[test]
    fn users_go_before_what_they_use() {
        let all: BTreeSet<String> = ["dns", "hostpath-storage", "ingress", "registry"]
            .map(String::from)
            .into();
        assert_eq!(
            disable_args(&all),
            [
                "ingress",
                "registry",
                "hostpath-storage:destroy-storage",
                "dns"
            ]
        );
    }
}
