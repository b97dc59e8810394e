//! `images:` in kat.yaml: what the images stage copies besides the blueprint's images, and how
//! kat builds images from source.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImagesConfig {
    /// The rootless BuildKit image that builds `build:` images in the cluster. Default: the
    /// `moby/buildkit` release kat is tested with; name a copy in a mirror for air-gapped
    /// clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<String>,
    /// Build the blueprint's `build:` images in the cluster. Default: yes where kat made the
    /// registry and can push to it by itself (as for `registry.mirror`), no for a registry of
    /// yours (`registry.url`), where the images are then expected to be pushed already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<bool>,
    /// Copy every addon's container images into the environment's registry too (by digest,
    /// pinned in kat.lock) and run the addons from there. Needs the mirror (`registry.mirror`).
    #[serde(default)]
    pub mirror_addons: bool,
    /// What each build Job's pod asks of its node, as Kubernetes quantities (`cpu: 2`,
    /// `memory: 4Gi`): both are requests, memory is also the limit (BuildKit's memory use is what
    /// gets a node into trouble; a CPU limit would only throttle it). Default: none, so a build
    /// fits on the smallest workshop node and runs there at best effort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_resources: Option<BuildResources>,
}

/// `images.build_resources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildResources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

impl ImagesConfig {
    pub fn is_default(&self) -> bool {
        self == &ImagesConfig::default()
    }
}
