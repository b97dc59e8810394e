//! What kat installs for each addon: the pinned upstream release manifest per version and provider
//! variant, or a small manifest kat renders itself where upstream publishes none.

use kat_provider::{Capabilities, LoadBalancerKind};

use super::error::AddonError;

pub struct AddonDef {
    pub id: &'static str,
    pub title: &'static str,
    /// Stages this addon needs besides nodes and credentials.
    pub after: &'static [&'static str],
    /// The blueprint waits for it (its Ingresses, certificates and HPAs need it).
    pub before_blueprint: bool,
    /// The version used when kat.yaml names none: the first of `versions`.
    pub versions: &'static [&'static str],
    /// Release manifest URL; `{version}` and `{variant}` are filled in. `None`: kat renders the
    /// manifest itself (upstream publishes none that can be applied as is).
    pub url: Option<&'static str>,
}

pub const ADDONS: &[AddonDef] = &[
    AddonDef {
        id: "ingress-nginx",
        title: "ingress-nginx: ingress controller and its load balancer",
        after: &[],
        before_blueprint: true,
        versions: &["1.12.1", "1.11.5"],
        url: Some("https://raw.githubusercontent.com/kubernetes/ingress-nginx/controller-v{version}/deploy/static/provider/{variant}/deploy.yaml"),
    },
    AddonDef {
        id: "cert-manager",
        title: "cert-manager: certificates and a ClusterIssuer",
        after: &[],
        before_blueprint: true,
        versions: &["1.16.2", "1.15.4"],
        url: Some("https://github.com/cert-manager/cert-manager/releases/download/v{version}/cert-manager.yaml"),
    },
    AddonDef {
        id: "metrics-server",
        title: "metrics-server: resource metrics for HPAs",
        after: &[],
        before_blueprint: true,
        versions: &["0.7.2", "0.6.4"],
        url: Some("https://github.com/kubernetes-sigs/metrics-server/releases/download/v{version}/components.yaml"),
    },
    AddonDef {
        id: "cluster-autoscaler",
        title: "cluster-autoscaler: grows and shrinks node groups",
        after: &["identity"],
        before_blueprint: false,
        // Chosen by the cluster's minor version (see autoscaler.rs) unless set.
        versions: &["1.33.0", "1.32.1", "1.31.1", "1.30.3", "1.29.5", "1.28.7"],
        url: None,
    },
    AddonDef {
        id: "monitoring",
        title: "monitoring: Prometheus and Grafana at /monitoring-grafana",
        after: &["ingress-nginx"],
        before_blueprint: false,
        // The Prometheus release; each comes with a pinned Grafana (see monitoring/mod.rs).
        versions: &["2.55.1", "2.54.1"],
        url: None,
    },
    AddonDef {
        id: "dashboard",
        title: "dashboard: Kubernetes dashboard at /dashboard",
        after: &["ingress-nginx"],
        before_blueprint: false,
        versions: &["2.7.0"],
        url: Some("https://raw.githubusercontent.com/kubernetes/dashboard/v{version}/aio/deploy/recommended.yaml"),
    },
];

/// One file to download, and which addon it is for (for messages and the lock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub addon: String,
    pub url: String,
}

/// The ingress-nginx variant for how this provider exposes Services: an AWS NLB, a cloud load
/// balancer, or host ports/NodePort on single-node and bare clusters.
pub fn variant_for(caps: &Capabilities) -> &'static str {
    if caps.node_ports() {
        return "baremetal";
    }
    match caps.load_balancer {
        LoadBalancerKind::AwsNlb => "aws",
        LoadBalancerKind::AzureLoadBalancer | LoadBalancerKind::ClusterDefault => "cloud",
        LoadBalancerKind::HostPorts => "baremetal",
    }
}

impl AddonDef {
    pub fn get(id: &str) -> Option<&'static AddonDef> {
        ADDONS.iter().find(|a| a.id == id)
    }

    /// The version asked for, or the pinned default; an error names the known ones.
    pub fn version<'a>(&'a self, asked: Option<&'a str>) -> Result<&'a str, AddonError> {
        let version = asked
            .map(|v| v.trim_start_matches('v'))
            .unwrap_or(self.versions[0]);
        if !self.versions.contains(&version) {
            return Err(AddonError::UnknownVersion {
                addon: self.id.into(),
                version: version.into(),
                known: self.versions.join(", "),
            });
        }
        Ok(version)
    }

    /// The artifact for `version` (or the pinned default) on this provider; `None` when kat renders
    /// this addon itself.
    pub fn artifact(
        &self,
        version: Option<&str>,
        caps: &Capabilities,
    ) -> Result<Option<Artifact>, AddonError> {
        let version = self.version(version)?;
        Ok(self.url.map(|url| Artifact {
            addon: self.id.into(),
            url: url
                .replace("{version}", version)
                .replace("{variant}", variant_for(caps)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kat_provider::AutoscalerKind;

    fn caps(lb: LoadBalancerKind) -> Capabilities {
        Capabilities {
            creates_cluster: true,
            managed_database: None,
            autoscaler: AutoscalerKind::NotApplicable,
            load_balancer: lb,
            registry: false,
            registry_push: false,
            single_node: false,
            simulated: false,
        }
    }

    #[test]
    fn ingress_manifest_follows_the_provider_variant_and_pinned_version() {
        let def = AddonDef::get("ingress-nginx").unwrap();
        let aws = def
            .artifact(None, &caps(LoadBalancerKind::AwsNlb))
            .unwrap()
            .unwrap();
        assert!(
            aws.url
                .contains("controller-v1.12.1/deploy/static/provider/aws/"),
            "{}",
            aws.url
        );
        let bare = def
            .artifact(Some("v1.11.5"), &caps(LoadBalancerKind::HostPorts))
            .unwrap()
            .unwrap();
        assert!(bare
            .url
            .contains("controller-v1.11.5/deploy/static/provider/baremetal/"));
    }

    #[test]
    fn an_unknown_version_names_the_known_ones() {
        let def = AddonDef::get("cert-manager").unwrap();
        let err = def
            .artifact(Some("0.1.0"), &caps(LoadBalancerKind::AwsNlb))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("addons.cert-manager.version") && err.contains("1.16.2, 1.15.4"),
            "{err}"
        );
    }
}
