//! `--provider aks` against the fake ARM server (its own process) with the fake `az` as the
//! credential, and the Kubernetes stages on the testbed (listClusterUserCredential serves its
//! kubeconfig): the ratings blueprint up with ACR, an autoscaling user pool and ingress-nginx; a second
//! `up` that makes no mutating ARM call; a stateless `down` that leaves nothing in the fake.
//! Prints wall times and mutating ARM calls (`--nocapture`).
#![cfg(feature = "aks")]

#[path = "aks_support/mod.rs"]
mod aks_support;
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use aks_support::FakeArm;
use common::*;

pub fn testbed() -> PathBuf {
    match std::env::var_os("KAT_TEST_KUBECONFIG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!("KAT_TEST_KUBECONFIG is not set: the aks tests run their Kubernetes stages on the testbed (see tests/kube_support)"),
    }
}

fn config(env: &str, extra: &str) -> String {
    format!(
        "environment: {env}\nprovider:\n  name: aks\n  region: westeurope\n  nodes: {{min: 1, max: 5, count: 2}}\n{extra}"
    )
}

struct Aks {
    sb: Sandbox,
    fake: FakeArm,
    env: String,
}

impl Aks {
    fn new(env: &str, extra: &str) -> Aks {
        Aks {
            sb: Sandbox::new(&config(env, extra)),
            fake: FakeArm::start(&testbed()),
            env: env.into(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.sb.cmd(args);
        self.fake.apply(&mut c);
        c.env("KAT_AZURE_NO_IMDS", "1")
            .env("KUBECONFIG", self.sb.path().join("home-kube-config"))
            .env("KAT_CACHE_DIR", self.sb.path().join("cache"));
        c
    }

    fn run(&self, args: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        events_of(&self.cmd(&all).output().expect("run kat"))
    }

    /// Runs, timing it and counting the mutating ARM calls it made.
    fn measured(&self, what: &str, args: &[&str]) -> (i32, Vec<serde_json::Value>, String, usize) {
        self.fake.clear_calls();
        let started = Instant::now();
        let (code, events, stderr) = self.run(args);
        let mutating = self.fake.mutating_calls();
        eprintln!(
            "MEASURE {what}: {:.2}s wall, {} ARM calls ({} mutating)",
            started.elapsed().as_secs_f64(),
            self.fake.calls().len(),
            mutating.len()
        );
        (code, events, stderr, mutating.len())
    }
}

#[test]
fn ratings_up_twice_then_stateless_down_leaves_nothing() {
    let fixtures = common::http::FixtureServer::start();
    let url = fixtures.serve("/ingress-nginx.yaml", INGRESS_NGINX);
    let t = Aks::new(
        "azlife",
        // The fake ACR takes no push: the mirror into ACR is tested in aks_registry.rs.
        &format!("registry:\n  mirror: false\nimages:\n  build: false\nblueprint: ratings\naddons:\n  ingress-nginx: {{enabled: true, url: \"{url}\", settings: {{host: ratings.example.test}}}}\ntimeouts:\n  default: 2m\n"),
    );
    let (code, events, stderr, _) = t.measured("kat up (aks, ratings, fake ARM)", &["up"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    for stage in [
        "network",
        "cluster",
        "nodes",
        "kubeconfig",
        "registry",
        "ingress-nginx",
        "blueprint",
    ] {
        assert_eq!(
            result_of(&events, stage),
            "changed",
            "{stage}: {:#?}",
            summary(&events)
        );
    }
    // No kat autoscaler: the pool scales itself.
    assert!(events.iter().all(|e| e["stage"] != "cluster-autoscaler"));

    // What Azure holds, asked of the fake: group, VNet, cluster, its node group, pool, ACR.
    let ours = t.fake.resources_of(&t.env);
    let kinds: Vec<&str> = ours.iter().map(|r| r.type_.as_str()).collect();
    for kind in [
        "Microsoft.Resources/resourceGroups",
        "Microsoft.Network/virtualNetworks",
        "Microsoft.ContainerService/managedClusters",
        "Microsoft.ContainerRegistry/registries",
    ] {
        assert!(
            kinds.iter().any(|k| k.eq_ignore_ascii_case(kind)),
            "{kind} in {kinds:?}"
        );
    }
    let cluster = t.fake.arm(
        "GET",
        &format!(
            "{}/providers/Microsoft.ContainerService/managedClusters/kat-azlife?api-version=2024-09-01",
            t.fake.group_path("kat-azlife")
        ),
        None,
    );
    let p = &cluster.body["properties"];
    assert_eq!(p["nodeResourceGroup"], "kat-azlife-nodes");
    assert_eq!(p["networkProfile"]["networkPluginMode"], "overlay");
    assert_eq!(cluster.body["identity"]["type"], "SystemAssigned");
    let pool = t.fake.arm(
        "GET",
        &format!(
            "{}/providers/Microsoft.ContainerService/managedClusters/kat-azlife/agentPools/user?api-version=2024-09-01",
            t.fake.group_path("kat-azlife")
        ),
        None,
    );
    assert_eq!(
        pool.body["properties"]["enableAutoScaling"], true,
        "{:#?}",
        pool.body
    );
    assert_eq!(pool.body["properties"]["minCount"], 1);
    assert_eq!(pool.body["properties"]["maxCount"], 5);
    assert_eq!(pool.body["properties"]["mode"], "User");
    // AcrPull for the kubelet identity's object id.
    let kubelet = p["identityProfile"]["kubeletidentity"]["objectId"]
        .as_str()
        .unwrap()
        .to_string();
    let acr = ours
        .iter()
        .find(|r| {
            r.type_
                .eq_ignore_ascii_case("Microsoft.ContainerRegistry/registries")
        })
        .unwrap();
    let grants = t.fake.arm(
        "GET",
        &format!(
            "{}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01",
            acr.id
        ),
        None,
    );
    let grants = grants.body["value"].as_array().cloned().unwrap_or_default();
    assert!(
        grants
            .iter()
            .any(|g| g["properties"]["principalId"] == kubelet.as_str()
                && g["properties"]["principalType"] == "ServicePrincipal"
                && g["properties"]["roleDefinitionId"]
                    .as_str()
                    .unwrap()
                    .ends_with("7f951dda-4ed3-4680-a7ca-43fe172d538d")),
        "{grants:#?}"
    );
    // The registry URL reaches the blueprint's images.
    let outputs = &summary(&events)["shown"];
    let registry = outputs["Registry"].as_str().unwrap_or_default();
    assert!(registry.contains(".azurecr.io"), "{outputs:#?}");

    // Ingress: kat's ingress-nginx Service carries the Azure load balancer's health-probe path
    // (AKS 1.24+ probes `/` otherwise and marks nginx down); the ratings Ingress goes through it.
    let probe = kubectl(&[
        "get",
        "service",
        "ingress-nginx-controller",
        "-n",
        "ingress-nginx",
        "-o",
        "jsonpath={.metadata.annotations.service\\.beta\\.kubernetes\\.io/azure-load-balancer-health-probe-request-path}",
    ]);
    assert_eq!(probe, "/healthz");
    let hosts = kubectl(&[
        "get",
        "ingress",
        "-n",
        "ratingsapp",
        "-o",
        "jsonpath={.items[*].spec.rules[*].host}",
    ]);
    assert!(hosts.contains("ratings.example.test"), "{hosts}");

    // The kubeconfig: Azure's own, context kat-<env>, 0600.
    let kubeconfig = t.sb.path().join(".kat/azlife/kubeconfig");
    let mode = std::fs::metadata(&kubeconfig).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(text.contains("current-context: kat-azlife"), "{text}");

    // Second up: nothing to do, no mutating ARM call.
    let (code, events, stderr, mutating) = t.measured("second kat up (aks)", &["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{:#?}",
        summary(&events)
    );
    assert_eq!(mutating, 0, "{:#?}", t.fake.mutating_calls());

    // Stateless down: the state directory is gone; everything is found by tag.
    std::fs::remove_dir_all(t.sb.path().join(".kat")).unwrap();
    let (code, events, stderr, _) = t.measured("kat down (aks, no state)", &["down"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    let left = t.fake.resources_of(&t.env);
    assert!(left.is_empty(), "{left:#?}");
    let all: Vec<String> = t.fake.resources().into_iter().map(|r| r.id).collect();
    assert!(
        all.is_empty(),
        "nothing at all is left in the fake: {all:#?}"
    );
}

fn kubectl(args: &[&str]) -> String {
    kubectl_at(&testbed(), args)
}

fn all_text(dir: &std::path::Path) -> String {
    let mut s = String::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            s.push_str(&all_text(&p));
        } else if let Ok(t) = std::fs::read_to_string(&p) {
            s.push_str(&t);
        }
    }
    s
}

/// `database.mode: managed`: a flexible server on the
/// delegated subnet with private access, its password generated into Key Vault and read back only
/// into the Kubernetes Secret; `down` deletes and purges the vault.
#[test]
fn managed_database_password_goes_from_key_vault_to_the_secret_only() {
    use base64::Engine;
    let t = Aks::new(
        "azdb",
        "database:\n  mode: managed\nregistry:\n  mirror: false\nblueprint:\n  name: nanomon\n",
    );
    let (code, events, stderr, _) =
        t.measured("kat up (aks, nanomon, managed PostgreSQL)", &["up"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    for stage in ["network", "cluster", "nodes", "database", "blueprint"] {
        assert_eq!(result_of(&events, stage), "changed", "{stage}");
    }
    let ours = t.fake.resources_of(&t.env);
    let server = ours
        .iter()
        .find(|r| {
            r.type_
                .eq_ignore_ascii_case("Microsoft.DBforPostgreSQL/flexibleServers")
        })
        .unwrap_or_else(|| panic!("a flexible server: {ours:#?}"));
    let server = t.fake.arm(
        "GET",
        &format!("{}?api-version=2024-08-01", server.id),
        None,
    );
    let net = &server.body["properties"]["network"];
    assert_eq!(net["publicNetworkAccess"], "Disabled", "{:#?}", server.body);
    assert!(net["delegatedSubnetResourceId"]
        .as_str()
        .unwrap()
        .ends_with("/subnets/database"));
    assert!(net["privateDnsZoneArmResourceId"]
        .as_str()
        .unwrap()
        .contains("privateDnsZones"));

    // The password: in the vault (read through the vaultUri the state refers to) and the Secret.
    let secret = t.sb.state("azdb")["stages"]["database"]["outputs"]["values"]["secret"].clone();
    assert_eq!(secret["store"], "azure-keyvault", "{secret}");
    let url = format!("{}?api-version=7.4", secret["name"].as_str().unwrap());
    let stored = t.fake.arm("GET", &url, None);
    let password = stored.body["value"]
        .as_str()
        .unwrap_or_else(|| panic!("{:#?}", stored.body))
        .to_string();
    assert!(password.len() >= 16);
    let field = |key: &str| {
        let v = kubectl(&[
            "get",
            "secret",
            "kat-database",
            "-n",
            "nanomon",
            "-o",
            &format!("jsonpath={{.data.{key}}}"),
        ]);
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(v).unwrap()).unwrap()
    };
    assert_eq!(field("password"), password);
    assert_eq!(field("username"), "kat");
    assert_eq!(field("port"), "5432");
    assert!(
        field("host").contains("postgres.database.azure.com"),
        "{}",
        field("host")
    );
    let events_text = serde_json::to_string(&events).unwrap();
    assert!(!events_text.contains(&password) && !stderr.contains(&password));
    assert!(!all_text(&t.sb.path().join(".kat")).contains(&password));

    let (code, events, stderr, mutating) =
        t.measured("second kat up (aks, managed PostgreSQL)", &["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(mutating, 0, "{:#?}", t.fake.mutating_calls());
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{:#?}",
        summary(&events)
    );

    std::fs::remove_dir_all(t.sb.path().join(".kat")).unwrap();
    let (code, events, stderr, _) =
        t.measured("kat down (aks, managed PostgreSQL, no state)", &["down"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    let all: Vec<String> = t.fake.resources().into_iter().map(|r| r.id).collect();
    assert!(all.is_empty(), "{all:#?}");
    // The vault was purged, not left soft-deleted.
    assert!(
        t.fake
            .calls()
            .iter()
            .any(|c| c.method == "POST" && c.path.ends_with("/purge") && c.status < 300),
        "{:#?}",
        t.fake.calls()
    );
}

/// `provider.aks.resource_group`: kat builds in a group it did not make and `down` keeps it,
/// deleting only what kat made there.
#[test]
fn an_existing_resource_group_is_built_in_and_kept() {
    let t = Aks::new("azown", "  aks:\n    resource_group: team-rg\n");
    t.fake.seed(serde_json::json!({"resources": [
        {"id": t.fake.group_path("team-rg"), "location": "westeurope", "tags": {"owner": "team"}}
    ]}));
    let (code, events, stderr, _) = t.measured("kat up (aks, existing group)", &["up"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    let ids: Vec<String> = t
        .fake
        .resources()
        .into_iter()
        .map(|r| r.id.to_lowercase())
        .collect();
    assert!(
        ids.iter().any(|i| i.contains(
            "/resourcegroups/team-rg/providers/microsoft.network/virtualnetworks/kat-azown"
        )),
        "{ids:#?}"
    );
    assert!(
        !ids.iter().any(|i| i.ends_with("/resourcegroups/kat-azown")),
        "{ids:#?}"
    );
    std::fs::remove_dir_all(t.sb.path().join(".kat")).unwrap();
    let (code, events, stderr, _) = t.measured("kat down (aks, existing group)", &["down"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    let left: Vec<String> = t
        .fake
        .resources()
        .into_iter()
        .map(|r| r.id.to_lowercase())
        .collect();
    assert_eq!(
        left,
        vec![t.fake.group_path("team-rg").to_lowercase()],
        "only the group is left"
    );
}

/// ingress-nginx's manifest as served to kat (tests cannot reach the internet): the controller,
/// its LoadBalancer Service and admission webhook.
const INGRESS_NGINX: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: ingress-nginx}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
spec:
  selector: {matchLabels: {app: ingress-nginx}}
  template:
    metadata: {labels: {app: ingress-nginx}}
    spec:
      containers: [{name: controller, image: registry.k8s.io/ingress-nginx/controller:v1.11.5}]
---
apiVersion: v1
kind: Service
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
spec:
  type: LoadBalancer
  selector: {app: ingress-nginx}
  ports:
  - {name: http, port: 80, targetPort: 80, protocol: TCP}
  - {name: https, port: 443, targetPort: 443, protocol: TCP}
"#;
