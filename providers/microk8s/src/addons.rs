//! Which microk8s addons an environment needs, and the order they go in and out.

use std::collections::BTreeSet;

/// Always: CoreDNS (Services by name), the default StorageClass (database volumes) and the
/// registry (images built for the workshop).
pub const BASE: [&str; 3] = ["dns", "hostpath-storage", "registry"];

/// microk8s's addon that stands in for a kat addon (kat's ingress-nginx: microk8s's own
/// ingress controller on host ports 80/443, not a second controller).
pub fn microk8s_addon_for(kat_addon: &str) -> Option<&'static str> {
    match kat_addon {
        "ingress-nginx" => Some("ingress"),
        _ => None,
    }
}

/// The microk8s addons for the kat addons kat.yaml enables, in enable order.
pub fn needed(kat_addons: &[String]) -> Vec<String> {
    let mut out: Vec<String> = BASE.iter().map(|s| s.to_string()).collect();
    for a in kat_addons {
        if let Some(m) = microk8s_addon_for(a) {
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
        assert_eq!(needed(&[]), ["dns", "hostpath-storage", "registry"]);
        assert_eq!(
            needed(&["ingress-nginx".into(), "monitoring".into()]),
            ["dns", "hostpath-storage", "registry", "ingress"]
        );
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
