//! The fake Azure Resource Manager the aks tests run against, checked over plain HTTP: if it is
//! not faithful to ARM's semantics (long-running operations, deletes, the node resource group,
//! faults, auth, tag listings), the aks tests prove nothing.

mod aks_support;

use std::path::PathBuf;

use aks_support::{Answer, FakeArm};
use base64::Engine;
use serde_json::{json, Value};

const ENV_TAG: &str = "kat:environment";
const AKS: &str = "2024-09-01";
const NET: &str = "2024-05-01";
const RG: &str = "2021-04-01";

/// A kubeconfig as the testbed writes it (flow style), for listClusterUserCredential.
const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\n\
clusters: [{name: testbed, cluster: {server: \"https://127.0.0.1:16443\"}}]\n\
users: [{name: admin, user: {token: abc}}]\n\
contexts: [{name: testbed, context: {cluster: testbed, user: admin}}]\n\
current-context: testbed\n";

struct Fixture {
    arm: FakeArm,
    _dir: tempfile::TempDir,
}

fn start(args: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let kc: PathBuf = dir.path().join("kubeconfig");
    std::fs::write(&kc, KUBECONFIG).unwrap();
    Fixture {
        arm: FakeArm::start_with(&kc, args),
        _dir: dir,
    }
}

fn v(path: &str, version: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}api-version={version}")
}

fn tags(env: &str) -> Value {
    json!({ ENV_TAG: env })
}

fn group(arm: &FakeArm, rg: &str, env: &str) {
    let a = arm.arm(
        "PUT",
        &v(&arm.group_path(rg), RG),
        Some(json!({"location": "eastus", "tags": tags(env)})),
    );
    assert_eq!(a.status, 201, "{a:?}");
    assert_eq!(a.provisioning_state(), "Succeeded");
}

fn vnet_path(arm: &FakeArm, rg: &str) -> String {
    format!(
        "{}/providers/Microsoft.Network/virtualNetworks/{rg}",
        arm.group_path(rg)
    )
}

/// A VNet with a node subnet, polled to Succeeded; returns the subnet id.
fn vnet(arm: &FakeArm, rg: &str, env: &str) -> String {
    let path = vnet_path(arm, rg);
    let a = arm.arm(
        "PUT",
        &v(&path, NET),
        Some(
            json!({"location": "eastus", "tags": tags(env), "properties": {
            "addressSpace": {"addressPrefixes": ["10.10.0.0/16"]},
            "subnets": [{"name": "nodes", "properties": {"addressPrefix": "10.10.0.0/20"}}]}}),
        ),
    );
    assert_eq!(a.status, 201, "{a:?}");
    let last = arm.poll(&a).pop().unwrap();
    assert_eq!(last.body["status"], "Succeeded", "{last:?}");
    format!("{path}/subnets/nodes")
}

fn cluster_path(arm: &FakeArm, rg: &str, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.ContainerService/managedClusters/{name}",
        arm.group_path(rg)
    )
}

fn cluster_body(env: &str, subnet: &str) -> Value {
    json!({"location": "eastus", "tags": tags(env), "identity": {"type": "SystemAssigned"},
        "properties": {"kubernetesVersion": "1.31", "dnsPrefix": env,
            "nodeResourceGroup": format!("kat-{env}-nodes"),
            "networkProfile": {"networkPlugin": "azure", "networkPluginMode": "overlay"},
            "agentPoolProfiles": [{"name": "system", "mode": "System", "count": 1,
                "vmSize": "Standard_D2s_v5", "vnetSubnetID": subnet}]}})
}

/// Group, VNet and cluster for `env` (cluster creation accepted, not polled).
fn cluster(arm: &FakeArm, env: &str) -> (String, Answer) {
    let rg = format!("kat-{env}");
    group(arm, &rg, env);
    let subnet = vnet(arm, &rg, env);
    let path = cluster_path(arm, &rg, &rg);
    let a = arm.arm("PUT", &v(&path, AKS), Some(cluster_body(env, &subnet)));
    (path, a)
}

#[test]
fn cluster_create_polls_to_succeeded_with_its_node_group_and_kubelet_identity() {
    let f = start(&[]);
    let arm = &f.arm;
    let (path, accepted) = cluster(arm, "life");
    assert_eq!(accepted.status, 201, "{accepted:?}");
    assert_eq!(accepted.provisioning_state(), "Creating");
    assert!(accepted.header("Retry-After").is_some(), "{accepted:?}");
    let op_url = accepted.header("Azure-AsyncOperation").expect("async op");
    assert!(
        op_url
            .contains("/providers/Microsoft.ContainerService/locations/eastus/operationStatuses/")
            && op_url.ends_with(&format!("api-version={AKS}")),
        "{op_url}"
    );
    let kubelet = &accepted.body["properties"]["identityProfile"]["kubeletidentity"];
    for key in ["resourceId", "clientId", "objectId"] {
        assert!(kubelet[key].is_string(), "kubeletidentity.{key}: {kubelet}");
    }
    assert_ne!(kubelet["clientId"], kubelet["objectId"]);

    let polls = arm.poll(&accepted);
    assert_eq!(polls[0].body["status"], "InProgress", "{polls:?}");
    assert_eq!(polls.last().unwrap().body["status"], "Succeeded");
    let got = arm.arm("GET", &v(&path, AKS), None);
    assert_eq!(got.provisioning_state(), "Succeeded");
    assert_eq!(
        got.body["properties"]["agentPoolProfiles"][0]["provisioningState"],
        "Succeeded"
    );

    // The node resource group: made by AKS, managed by the cluster, tagged like it.
    let nodes = arm.arm("GET", &v(&arm.group_path("kat-life-nodes"), RG), None);
    assert_eq!(nodes.status, 200, "{nodes:?}");
    assert_eq!(
        nodes.body["managedBy"].as_str().unwrap().to_lowercase(),
        path.to_lowercase()
    );
    assert_eq!(nodes.body["tags"][ENV_TAG], "life");
    let identity = arm.arm(
        "GET",
        &v(kubelet["resourceId"].as_str().unwrap(), "2023-01-31"),
        None,
    );
    assert_eq!(
        identity.body["properties"]["principalId"],
        kubelet["objectId"]
    );

    // The user kubeconfig is the given one, renamed as Azure names things.
    let creds = arm.arm(
        "POST",
        &v(&format!("{path}/listClusterUserCredential"), AKS),
        None,
    );
    assert_eq!(creds.status, 200, "{creds:?}");
    let b64 = creds.body["kubeconfigs"][0]["value"].as_str().unwrap();
    let text = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap();
    assert!(text.contains("current-context: kat-life"), "{text}");
    assert!(
        text.contains("user: clusterUser_kat-life_kat-life"),
        "{text}"
    );
    assert!(
        text.contains("server: \"https://127.0.0.1:16443\""),
        "{text}"
    );
    assert!(!text.contains("testbed"), "{text}");
}

#[test]
fn delete_answers_202_with_location_then_the_resource_and_its_node_group_are_gone() {
    let f = start(&[]);
    let arm = &f.arm;
    let (path, accepted) = cluster(arm, "gone");
    arm.poll(&accepted);
    let del = arm.arm("DELETE", &v(&path, AKS), None);
    assert_eq!(del.status, 202, "{del:?}");
    assert!(del.header("Retry-After").is_some());
    let location = del.header("Location").expect("Location");
    assert!(location.contains("/operationResults/"), "{location}");
    let polls = arm.poll(&del);
    assert_eq!(polls[0].status, 202, "{polls:?}");
    assert_eq!(polls.last().unwrap().status, 204);
    let after = arm.arm("GET", &v(&path, AKS), None);
    assert_eq!((after.status, after.code()), (404, "ResourceNotFound"));
    let nodes = arm.arm("GET", &v(&arm.group_path("kat-gone-nodes"), RG), None);
    assert_eq!((nodes.status, nodes.code()), (404, "ResourceGroupNotFound"));
    // Deleting what is not there: 204.
    assert_eq!(arm.arm("DELETE", &v(&path, AKS), None).status, 204);

    // A group's delete takes everything in it.
    let rg = arm.group_path("kat-gone");
    let del = arm.arm("DELETE", &v(&rg, RG), None);
    assert_eq!(del.status, 202, "{del:?}");
    let into = arm.arm(
        "PUT",
        &v(
            &format!("{rg}/providers/Microsoft.ContainerRegistry/registries/katgone1"),
            "2023-07-01",
        ),
        Some(json!({"location": "eastus", "sku": {"name": "Basic"}})),
    );
    assert_eq!(
        (into.status, into.code()),
        (409, "ResourceGroupBeingDeleted")
    );
    assert_eq!(arm.poll(&del).last().unwrap().status, 200);
    assert!(arm.resources_of("gone").is_empty(), "{:?}", arm.resources());
    let vnet = arm.arm("GET", &v(&vnet_path(arm, "kat-gone"), NET), None);
    assert_eq!((vnet.status, vnet.code()), (404, "ResourceGroupNotFound"));
}

#[test]
fn faults_answer_429_with_retry_after_then_the_call_succeeds() {
    let f = start(&[]);
    let arm = &f.arm;
    group(arm, "kat-flaky", "flaky");
    let path = v(&arm.group_path("kat-flaky"), RG);
    arm.fault(
        json!({"match": "^GET .*/resourceGroups/kat-flaky$", "status": 429,
                     "retry_after": 3, "times": 1}),
    );
    let throttled = arm.arm("GET", &path, None);
    assert_eq!(
        (throttled.status, throttled.code()),
        (429, "TooManyRequests")
    );
    assert_eq!(throttled.header("Retry-After"), Some("3"));
    assert_eq!(arm.arm("GET", &path, None).status, 200);

    arm.fault_status("^GET .*/resourceGroups/kat-flaky$", 503, 1);
    assert_eq!(arm.arm("GET", &path, None).status, 503);
    assert_eq!(arm.arm("GET", &path, None).status, 200);

    // A create's answer lost after it was carried out: the resource exists all the same.
    let acr = format!(
        "{}/providers/Microsoft.ContainerRegistry/registries/katflaky1",
        arm.group_path("kat-flaky")
    );
    arm.fault(json!({"match": "^PUT .*/registries/katflaky1$", "status": 500, "after": true}));
    let lost = arm.arm(
        "PUT",
        &v(&acr, "2023-07-01"),
        Some(json!({"location": "eastus", "sku": {"name": "Basic"}})),
    );
    assert_eq!(lost.status, 500);
    assert_eq!(arm.arm("GET", &v(&acr, "2023-07-01"), None).status, 200);

    // A share of every call fails at random; the same seed fails the same calls.
    let run = |seed| {
        arm.share(0.5, seed);
        let statuses: Vec<u16> = (0..20)
            .map(|_| arm.arm("GET", &path, None).status)
            .collect();
        arm.clear_faults();
        statuses
    };
    let first = run(7);
    assert!(first.contains(&200), "{first:?}");
    assert!(first.iter().any(|s| *s == 429 || *s == 503), "{first:?}");
    assert_eq!(first, run(7));
    assert_eq!(arm.arm("GET", &path, None).status, 200);
}

#[test]
fn a_failed_operation_and_a_404_right_after_create() {
    let f = start(&[]);
    let arm = &f.arm;
    arm.fault(
        json!({"match": "^PUT .*/managedClusters/kat-bad$", "lro": "Failed",
                     "code": "VMExtensionProvisioningError", "message": "boom"}),
    );
    arm.not_found_after_put("/managedClusters/|/resourceGroups/[^/]+$");
    let (path, accepted) = cluster(arm, "bad");
    assert_eq!(accepted.status, 201);
    let early = arm.arm("GET", &v(&path, AKS), None);
    assert_eq!((early.status, early.code()), (404, "ResourceNotFound"));
    let group = v(&arm.group_path("kat-bad"), RG);
    let early = arm.arm("GET", &group, None);
    assert_eq!((early.status, early.code()), (404, "ResourceGroupNotFound"));
    assert_eq!(arm.arm("GET", &group, None).status, 200);
    let last = arm.poll(&accepted).pop().unwrap();
    assert_eq!(last.body["status"], "Failed");
    assert_eq!(last.body["error"]["code"], "VMExtensionProvisioningError");
    assert_eq!(last.body["error"]["message"], "boom");
    assert_eq!(
        arm.arm("GET", &v(&path, AKS), None).provisioning_state(),
        "Failed"
    );
}

#[test]
fn auth_is_refused_without_the_fake_az_token() {
    let f = start(&[]);
    let arm = &f.arm;
    let path = v(&arm.sub_path(""), "2022-12-01");
    let none = arm.request("GET", &path, None, None);
    assert_eq!((none.status, none.code()), (401, "AuthenticationFailed"));
    let wrong = arm.request("GET", &path, None, Some("not-the-token"));
    assert_eq!(
        (wrong.status, wrong.code()),
        (401, "InvalidAuthenticationToken")
    );
    let ok = arm.arm("GET", &path, None);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.body["subscriptionId"], arm.subscription.as_str());
    let other = arm.arm(
        "GET",
        &v(
            "/subscriptions/11111111-1111-1111-1111-111111111111",
            "2022-12-01",
        ),
        None,
    );
    assert_eq!((other.status, other.code()), (404, "SubscriptionNotFound"));
    let bad_version = arm.arm("GET", &v(&arm.sub_path(""), "2016-06-01"), None);
    assert_eq!(bad_version.status, 400, "{bad_version:?}");

    // The fake az as a logged-out machine has it.
    let mut cmd = std::process::Command::new(aks_support::az_dir().join("az"));
    arm.apply(&mut cmd);
    let out = cmd
        .args(["account", "get-access-token", "--output", "json"])
        .env("FAKE_AZ_LOGGED_OUT", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("az login"));
    let logged = arm.az_calls();
    assert_eq!(
        logged.last().unwrap()[..2],
        ["account".to_string(), "get-access-token".to_string()]
    );
}

#[test]
fn tag_filter_lists_the_environments_groups_and_resources_node_group_included() {
    let f = start(&[]);
    let arm = &f.arm;
    let (_, a) = cluster(arm, "mine");
    arm.poll(&a);
    group(arm, "kat-other", "other");
    vnet(arm, "kat-other", "other");
    let filter = |what: &str, env: &str| {
        v(
            &arm.sub_path(&format!(
                "/{what}?$filter=tagName%20eq%20'{ENV_TAG}'%20and%20tagValue%20eq%20'{env}'"
            )),
            RG,
        )
    };
    let names = |a: Answer| -> Vec<String> {
        let mut n: Vec<String> = a.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r["type"].as_str().unwrap(),
                    r["name"].as_str().unwrap()
                )
            })
            .collect();
        n.sort();
        n
    };
    assert_eq!(
        names(arm.arm("GET", &filter("resourcegroups", "mine"), None)),
        [
            "Microsoft.Resources/resourceGroups kat-mine",
            "Microsoft.Resources/resourceGroups kat-mine-nodes"
        ]
    );
    assert_eq!(
        names(arm.arm("GET", &filter("resources", "mine"), None)),
        [
            "Microsoft.ContainerService/managedClusters kat-mine",
            "Microsoft.ManagedIdentity/userAssignedIdentities kat-mine-agentpool",
            "Microsoft.Network/virtualNetworks kat-mine",
        ]
    );
    assert_eq!(
        names(arm.arm("GET", &filter("resources", "other"), None)),
        ["Microsoft.Network/virtualNetworks kat-other"]
    );
}

#[test]
fn agent_pools_one_operation_at_a_time_and_the_autoscaler_owns_count() {
    let f = start(&[]);
    let arm = &f.arm;
    let (path, a) = cluster(arm, "pools");
    let pool = v(&format!("{path}/agentPools/user"), AKS);
    let subnet = format!("{}/subnets/nodes", vnet_path(arm, "kat-pools"));
    let body = json!({"properties": {"mode": "User", "enableAutoScaling": true, "minCount": 1,
                      "maxCount": 3, "count": 1, "vnetSubnetID": subnet}});
    let busy = arm.arm("PUT", &pool, Some(body.clone()));
    assert_eq!((busy.status, busy.code()), (409, "OperationNotAllowed"));
    arm.poll(&a);
    let created = arm.arm("PUT", &pool, Some(body.clone()));
    assert_eq!(created.status, 201, "{created:?}");
    let second = arm.arm(
        "PUT",
        &v(&format!("{path}/agentPools/other"), AKS),
        Some(body.clone()),
    );
    assert_eq!((second.status, second.code()), (409, "OperationNotAllowed"));
    arm.poll(&created);
    let got = arm.arm("GET", &pool, None);
    let count = got.body["properties"]["count"].as_u64().unwrap();
    assert!((1..=3).contains(&count) && count != 1, "{got:?}");
    let list = arm.arm("GET", &v(&format!("{path}/agentPools"), AKS), None);
    assert_eq!(list.body["value"].as_array().unwrap().len(), 2, "{list:?}");

    // The subnet is in use by the pools.
    let del = arm.arm("DELETE", &v(&subnet, NET), None);
    assert_eq!(
        (del.status, del.code()),
        (409, "InUseSubnetCannotBeDeleted")
    );
    let bad = json!({"properties": {"mode": "User", "enableAutoScaling": true, "minCount": 3,
                     "maxCount": 1}});
    let invalid = arm.arm("PUT", &v(&format!("{path}/agentPools/bad"), AKS), Some(bad));
    assert_eq!(invalid.status, 400, "{invalid:?}");
}

#[test]
fn unregistered_provider_is_refused_until_registered() {
    let f = start(&["--unregistered", "Microsoft.ContainerService"]);
    let arm = &f.arm;
    let (_, refused) = cluster(arm, "reg");
    assert_eq!(
        (refused.status, refused.code()),
        (409, "MissingSubscriptionRegistration")
    );
    let provider = arm.sub_path("/providers/Microsoft.ContainerService");
    let reg = arm.arm("POST", &v(&format!("{provider}/register"), RG), None);
    assert_eq!(reg.body["registrationState"], "Registering", "{reg:?}");
    let mut states = Vec::new();
    for _ in 0..10 {
        let s = arm.arm("GET", &v(&provider, RG), None).body["registrationState"].clone();
        states.push(s.clone());
        if s == "Registered" {
            break;
        }
    }
    assert_eq!(states.first().unwrap(), "Registering", "{states:?}");
    assert_eq!(states.last().unwrap(), "Registered", "{states:?}");
    let path = cluster_path(arm, "kat-reg", "kat-reg");
    let subnet = format!("{}/subnets/nodes", vnet_path(arm, "kat-reg"));
    let ok = arm.arm("PUT", &v(&path, AKS), Some(cluster_body("reg", &subnet)));
    assert_eq!(ok.status, 201, "{ok:?}");
    let calls = arm.mutating_calls();
    assert!(
        calls.iter().any(|c| c.path.ends_with("/register")),
        "{calls:?}"
    );
}

#[test]
fn role_assignment_waits_for_the_kubelet_identity_to_propagate() {
    let f = start(&[]);
    let arm = &f.arm;
    let (_, a) = cluster(arm, "roles");
    let object_id = a.body["properties"]["identityProfile"]["kubeletidentity"]["objectId"]
        .as_str()
        .unwrap()
        .to_string();
    arm.poll(&a);
    let rg = arm.group_path("kat-roles");
    let acr = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/katroles1");
    let made = arm.arm(
        "PUT",
        &v(&acr, "2023-07-01"),
        Some(json!({"location": "eastus", "tags": tags("roles"), "sku": {"name": "Basic"}})),
    );
    arm.poll(&made);
    let ra = v(
        &format!(
            "{acr}/providers/Microsoft.Authorization/roleAssignments/7b0c3f40-94c8-4c1e-9d64-c83f6d1f2f0a"
        ),
        "2022-04-01",
    );
    let body = json!({"properties": {
        "roleDefinitionId": arm.sub_path("/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"),
        "principalId": object_id, "principalType": "ServicePrincipal"}});
    let first = arm.arm("PUT", &ra, Some(body.clone()));
    assert_eq!((first.status, first.code()), (400, "PrincipalNotFound"));
    let then = arm.arm("PUT", &ra, Some(body.clone()));
    assert_eq!(then.status, 201, "{then:?}");
    let twice = arm.arm(
        "PUT",
        &ra.replace("7b0c3f40", "8b0c3f40"),
        Some(body.clone()),
    );
    assert_eq!((twice.status, twice.code()), (409, "RoleAssignmentExists"));
    let unknown = arm.arm(
        "PUT",
        &ra.replace("7b0c3f40", "9b0c3f40"),
        Some(json!({"properties": {"roleDefinitionId": "x",
                    "principalId": "00000000-0000-0000-0000-00000000dead"}})),
    );
    assert_eq!(unknown.code(), "PrincipalNotFound");
    let listed = arm.arm(
        "GET",
        &v(
            &arm.sub_path(&format!(
                "/providers/Microsoft.Authorization/roleAssignments?$filter=principalId%20eq%20'{object_id}'"
            )),
            "2022-04-01",
        ),
        None,
    );
    assert_eq!(
        listed.body["value"].as_array().unwrap().len(),
        1,
        "{listed:?}"
    );
    // The assignment goes with the registry it sits on.
    arm.poll(&arm.arm("DELETE", &v(&acr, "2023-07-01"), None));
    assert!(
        !arm.resources()
            .iter()
            .any(|r| r.type_ == "Microsoft.Authorization/roleAssignments"),
        "{:?}",
        arm.resources()
    );
}

#[test]
fn names_checks_postgres_reservation_and_key_vault_soft_delete() {
    let f = start(&[]);
    let arm = &f.arm;
    group(arm, "kat-names", "names");
    let rg = arm.group_path("kat-names");
    let acr_check = v(
        &arm.sub_path("/providers/Microsoft.ContainerRegistry/checkNameAvailability"),
        "2023-07-01",
    );
    let check = |name: &str| {
        arm.arm(
            "POST",
            &acr_check,
            Some(json!({"name": name, "type": "Microsoft.ContainerRegistry/registries"})),
        )
        .body
    };
    assert_eq!(check("katregistry")["nameAvailable"], false);
    assert_eq!(check("katnames1")["nameAvailable"], true);
    arm.seed(json!({"registry_names_taken": ["katnames1"]}));
    assert_eq!(check("katnames1")["reason"], "AlreadyExists");

    // PostgreSQL: a deleted server's name stays reserved in this run.
    let pg_check = v(
        &arm.sub_path("/providers/Microsoft.DBforPostgreSQL/checkNameAvailability"),
        "2024-08-01",
    );
    let pg_free = |name: &str| {
        arm.arm(
            "POST",
            &pg_check,
            Some(json!({"name": name, "type": "Microsoft.DBforPostgreSQL/flexibleServers"})),
        )
        .body["nameAvailable"]
            .clone()
    };
    assert_eq!(pg_free("kat-names-pg"), true);
    let server = v(
        &format!("{rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers/kat-names-pg"),
        "2024-08-01",
    );
    let made = arm.arm(
        "PUT",
        &server,
        Some(json!({"location": "eastus", "tags": tags("names"),
            "sku": {"name": "Standard_B1ms", "tier": "Burstable"},
            "properties": {"administratorLogin": "kat", "administratorLoginPassword": "pw-1-Aa",
                           "version": "16"}})),
    );
    assert_eq!(made.status, 201, "{made:?}");
    assert!(
        !made.body.to_string().contains("pw-1-Aa"),
        "the password is write-only"
    );
    arm.poll(&made);
    assert_eq!(pg_free("kat-names-pg"), false);
    arm.poll(&arm.arm("DELETE", &server, None));
    assert_eq!(pg_free("kat-names-pg"), false);

    // Key Vault: vaultUri on loopback, secrets there, soft delete, purge.
    let vault = v(
        &format!("{rg}/providers/Microsoft.KeyVault/vaults/kat-names-kv"),
        "2023-07-01",
    );
    let oid = "00000000-0000-0000-0000-00000000b0b0";
    let kv_body = json!({"location": "eastus", "tags": tags("names"), "properties": {
        "tenantId": "00000000-0000-0000-0000-0000000a2e7a", "sku": {"family": "A", "name": "standard"},
        "accessPolicies": [{"tenantId": "00000000-0000-0000-0000-0000000a2e7a", "objectId": oid,
            "permissions": {"secrets": ["get", "set", "delete"]}}]}});
    let made = arm.arm("PUT", &vault, Some(kv_body.clone()));
    arm.poll(&made);
    let uri = made.body["properties"]["vaultUri"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        uri.starts_with(&arm.url) && uri.ends_with("/_vault/kat-names-kv/"),
        "{uri}"
    );
    let secret = v(&format!("{uri}secrets/db-password"), "7.4");
    assert_eq!(
        arm.arm("PUT", &secret, Some(json!({"value": "s3cret"})))
            .status,
        200
    );
    assert_eq!(arm.arm("GET", &secret, None).body["value"], "s3cret");
    let anonymous = arm.request("GET", &secret, None, None);
    assert_eq!(anonymous.status, 401);
    assert!(anonymous.header("WWW-Authenticate").is_some());
    assert_eq!(arm.arm("DELETE", &vault, None).status, 200);
    let deleted = v(
        &arm.sub_path("/providers/Microsoft.KeyVault/locations/eastus/deletedVaults/kat-names-kv"),
        "2023-07-01",
    );
    assert_eq!(arm.arm("GET", &deleted, None).status, 200);
    let again = arm.arm("PUT", &vault, Some(kv_body));
    assert_eq!((again.status, again.code()), (409, "ConflictError"));
    assert!(arm
        .resources()
        .iter()
        .any(|r| r.type_ == "Microsoft.KeyVault/deletedVaults"));
    let purge = arm.arm(
        "POST",
        &deleted.replace("kat-names-kv?", "kat-names-kv/purge?"),
        None,
    );
    assert_eq!(purge.status, 202, "{purge:?}");
    arm.poll(&purge);
    assert_eq!(arm.arm("GET", &deleted, None).status, 404);
}

#[test]
fn latency_profile_keeps_operations_running_and_calls_are_logged() {
    let f = start(&[]);
    let arm = &f.arm;
    arm.latency(0.01);
    let (path, accepted) = cluster(arm, "slow");
    // AKS takes ~6 min; at 1:100 that is seconds, far longer than the next call.
    let status = arm.arm(
        "GET",
        accepted.header("Azure-AsyncOperation").unwrap(),
        None,
    );
    assert_eq!(status.body["status"], "InProgress");
    assert_eq!(
        arm.arm("GET", &v(&path, AKS), None).provisioning_state(),
        "Creating"
    );
    arm.settle();
    assert_eq!(
        arm.arm("GET", &v(&path, AKS), None).provisioning_state(),
        "Succeeded"
    );
    arm.latency(0.0);

    arm.clear_calls();
    arm.arm(
        "POST",
        &v(&format!("{path}/listClusterUserCredential"), AKS),
        None,
    );
    arm.arm("GET", &v(&path, AKS), None);
    assert!(arm.mutating_calls().is_empty(), "{:?}", arm.calls());
    arm.arm("DELETE", &v(&path, AKS), None);
    let calls = arm.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(calls[0].api_version.as_deref(), Some(AKS));
    let mutating = arm.mutating_calls();
    assert_eq!(mutating.len(), 1);
    assert_eq!(
        (mutating[0].method.as_str(), mutating[0].status),
        ("DELETE", 202)
    );
}

#[test]
fn state_file_keeps_resources_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap();
    let f = start(&["--state-file", state_arg]);
    group(&f.arm, "kat-kept", "kept");
    let head = f
        .arm
        .arm("HEAD", &v(&f.arm.group_path("kat-kept"), RG), None);
    assert_eq!(head.status, 204);
    drop(f);
    let f = start(&["--state-file", state_arg]);
    let got = f
        .arm
        .arm("GET", &v(&f.arm.group_path("kat-kept"), RG), None);
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body["tags"][ENV_TAG], "kept");
    let missing = f
        .arm
        .arm("HEAD", &v(&f.arm.group_path("kat-none"), RG), None);
    assert_eq!(missing.status, 404);
}
