//! The `up` graph of an environment: provider roles, the Kubernetes-layer stages on top, and the
//! dependencies between them. Roles a provider does not have are dropped with their ordering kept,
//! so every provider fits the same graph.

mod access;
mod attendee;
mod blueprint;
mod build;
mod database_secret;
mod images;
mod retired;
mod workload;

use std::sync::Arc;

use kat_provider::{Provider, Role};

pub use access::ClusterAccess;
pub use attendee::{
    check as check_attendees, is_attendee_stage, members as attendees,
    namespace_of as attendee_namespace, stage_id as attendee_stage, ACCOUNT as ATTENDEE_ACCOUNT,
};
pub use blueprint::{database_mode, ingress_context, BlueprintSource, DATABASE_SECRET};
pub use build::{BuildStage, Built, BUILD_STAGE};
pub use images::{ImagesStage, IMAGES_STAGE};
pub use retired::RETIRED_STAGE;

/// Whether some environment (of any provider, with any addon) has a stage of this id.
pub fn is_known_stage(id: &str) -> bool {
    ROLE_STAGES.iter().any(|(_, s)| s.id == id)
        || crate::addons::ADDONS.iter().any(|a| a.id == id)
        || id == "blueprint"
        || id == IMAGES_STAGE
        || id == BUILD_STAGE
        || id == RETIRED_STAGE
        || attendee::is_attendee_stage(id)
}
pub use workload::{SetSource, WorkloadStage};

use crate::addons::AddonSource;
use crate::config::KatConfig;
use crate::engine::{ComponentStage, Node, Stage, StageGraph};

/// A stage before the provider or the Kubernetes layer has filled it in.
struct Spec {
    id: &'static str,
    deps: &'static [&'static str],
    title: &'static str,
}

/// The whole `up` graph; `down` walks it backwards. Registry and database sit beside the cluster.
const ROLE_STAGES: &[(Role, Spec)] = &[
    (
        Role::Network,
        Spec {
            id: "network",
            deps: &[],
            title: "network: virtual network and subnets",
        },
    ),
    (
        Role::Identity,
        Spec {
            id: "identity",
            deps: &[],
            title: "identity: cluster and node roles",
        },
    ),
    (
        Role::Registry,
        Spec {
            id: "registry",
            deps: &[],
            title: "registry: one repository per image",
        },
    ),
    (
        Role::Cluster,
        Spec {
            id: "cluster",
            deps: &["network", "identity"],
            title: "cluster: control plane",
        },
    ),
    (
        Role::Database,
        Spec {
            id: "database",
            deps: &["network"],
            title: "database: managed PostgreSQL",
        },
    ),
    (
        Role::Nodes,
        Spec {
            id: "nodes",
            deps: &["cluster", "identity"],
            title: "nodes: worker node pool",
        },
    ),
    (
        Role::Kubeconfig,
        Spec {
            id: "kubeconfig",
            deps: &["cluster"],
            title: "kubeconfig: credentials for the cluster",
        },
    ),
];

pub struct GraphInputs<'a> {
    pub config: &'a KatConfig,
    pub provider: Arc<dyn Provider>,
    pub access: Arc<ClusterAccess>,
    /// The blueprint's manifest source, when one is configured.
    pub blueprint: Option<Arc<dyn SetSource>>,
    /// The enabled addons' sources, by stage id.
    pub addons: Vec<Arc<AddonSource>>,
    /// The blueprint's published images, copied into the environment's registry.
    pub images: Option<Arc<ImagesStage>>,
    /// A namespaces fleet's blueprint, deployed once per attendee instead of the `blueprint`
    /// stage (which `blueprint` then leaves out).
    pub attendee_blueprint: Option<Arc<BlueprintSource>>,
    /// The environment's name (attendees' namespaces are `<env>-NN`).
    pub env: &'a str,
    /// `.kat/<env>`: where attendees' handouts are written.
    pub state_dir: std::path::PathBuf,
    /// The blueprint's images built from source in the cluster.
    pub build: Option<Arc<BuildStage>>,
}

pub fn build_graph(inputs: &GraphInputs<'_>) -> StageGraph {
    let timeouts = &inputs.config.timeouts;
    let mut present: Vec<Node> = Vec::new();
    let mut absent: Vec<(String, Vec<String>)> = Vec::new();
    for (role, spec) in ROLE_STAGES {
        let mut deps: Vec<String> = spec.deps.iter().map(|d| d.to_string()).collect();
        deps.extend(
            inputs
                .provider
                .extra_deps(*role)
                .into_iter()
                .map(|r| r.as_str().to_string()),
        );
        match inputs.provider.component(*role) {
            Some(c) => present.push(node(
                spec.id,
                deps,
                spec.title,
                Arc::new(ComponentStage(c)),
                timeouts,
            )),
            None => absent.push((spec.id.into(), deps)),
        }
    }
    let platform = || vec!["nodes".to_string(), "kubeconfig".to_string()];
    let mut blueprint_deps = platform();
    for source in &inputs.addons {
        let addon = source.def();
        let mut deps = platform();
        deps.extend(addon.after.iter().map(|s| s.to_string()));
        if source.mirrors_images() && inputs.images.is_some() {
            deps.push(IMAGES_STAGE.to_string());
        }
        let stage = WorkloadStage::new(addon.id, source.clone(), inputs.access.clone());
        present.push(node(addon.id, deps, addon.title, Arc::new(stage), timeouts));
        if addon.before_blueprint {
            blueprint_deps.push(addon.id.to_string());
        }
    }
    if let Some(stage) = &inputs.images {
        present.push(node(
            IMAGES_STAGE,
            vec!["registry".to_string()],
            "images: the blueprint's (and addons') images copied into the registry by digest",
            stage.clone(),
            timeouts,
        ));
        blueprint_deps.push(IMAGES_STAGE.to_string());
    }
    if let Some(stage) = &inputs.build {
        let mut deps = platform();
        deps.push("registry".to_string());
        present.push(node(
            BUILD_STAGE,
            deps,
            "build: the blueprint's images built from source in the cluster (rootless BuildKit)",
            stage.clone(),
            timeouts,
        ));
        blueprint_deps.push(BUILD_STAGE.to_string());
    }
    if let Some(source) = &inputs.blueprint {
        blueprint_deps.extend(["registry".to_string(), "database".to_string()]);
        let stage = WorkloadStage::new("blueprint", source.clone(), inputs.access.clone());
        let title = "blueprint: the application";
        present.push(node(
            "blueprint",
            blueprint_deps.clone(),
            title,
            Arc::new(stage),
            timeouts,
        ));
    }
    let mut attendee_stages = Vec::new();
    for member in attendee::members(inputs.config) {
        let id = attendee::stage_id(&member);
        let mut deps = blueprint_deps.clone();
        if inputs.attendee_blueprint.is_some() {
            deps.extend(["registry".to_string(), "database".to_string()]);
        }
        let source = attendee::AttendeeSource {
            blueprint: inputs.attendee_blueprint.clone(),
            namespace: attendee::namespace_of(inputs.env, &member),
            member: member.clone(),
            quota: inputs.config.fleet.as_ref().and_then(|f| f.quota.clone()),
        };
        let stage =
            attendee::AttendeeStage::new(source, inputs.access.clone(), inputs.state_dir.clone());
        let title = format!("attendee {member}: namespace, access, quota and the application");
        present.push(node(&id, deps, &title, Arc::new(stage), timeouts));
        attendee_stages.push(id);
    }
    let workload_stages: Vec<String> = inputs
        .addons
        .iter()
        .map(|a| a.def().id.to_string())
        .chain(inputs.blueprint.iter().map(|_| "blueprint".to_string()))
        .chain(attendee_stages)
        .collect();
    present.push(node(
        RETIRED_STAGE,
        platform(),
        "retired: what stages kat.yaml no longer names made (down only)",
        Arc::new(retired::RetiredStage::new(
            workload_stages,
            inputs.access.clone(),
        )),
        timeouts,
    ));
    let known: Vec<String> = present.iter().map(|n| n.id.clone()).collect();
    let mut graph = StageGraph::new();
    for mut n in present {
        n.deps = rewire(&n.deps, &absent, &known);
        graph.add(n);
    }
    graph
}

fn node(
    id: &str,
    deps: Vec<String>,
    title: &str,
    stage: Arc<dyn Stage>,
    timeouts: &crate::config::TimeoutsConfig,
) -> Node {
    Node {
        id: id.to_string(),
        deps,
        stage,
        timeout: timeouts.for_stage(id),
        title: title.to_string(),
    }
}

/// Replaces a dependency on a role the provider lacks by that role's own dependencies (so an
/// existing cluster's kubeconfig still comes after identity, if it had one), and drops those on
/// stages that are not in the graph at all (a disabled addon).
fn rewire(deps: &[String], absent: &[(String, Vec<String>)], known: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut todo: Vec<String> = deps.to_vec();
    while let Some(d) = todo.pop() {
        if let Some((_, via)) = absent.iter().find(|(id, _)| *id == d) {
            todo.extend(via.iter().cloned());
        } else if known.contains(&d) && !out.contains(&d) {
            out.push(d);
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::rewire;

    #[test]
    fn dependencies_on_absent_roles_pass_through_to_theirs() {
        let absent = vec![
            ("network".to_string(), vec![]),
            (
                "cluster".to_string(),
                vec!["network".to_string(), "identity".to_string()],
            ),
        ];
        let known = vec!["identity".to_string(), "kubeconfig".to_string()];
        assert_eq!(
            rewire(&["cluster".into()], &absent, &known),
            vec!["identity".to_string()]
        );
        assert_eq!(
            rewire(
                &["cert-manager".into(), "kubeconfig".into()],
                &absent,
                &known
            ),
            vec!["kubeconfig".to_string()]
        );
    }
}
