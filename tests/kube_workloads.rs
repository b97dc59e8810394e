//! The Kubernetes layer against a real API server (the testbed; see kube_support for how to start
//! it). Each test uses its own environment and namespace, so they run concurrently.

mod kube_support;

use std::time::Duration;

use kat::kube::{ApplyOptions, ObjectRef};
use kat_provider::{ChangeAction, Outputs, ProviderError, Verified, Workloads};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube_support::{connect, connect_with, cx, set, unique};

const MINUTE: Duration = Duration::from_secs(60);

fn app_yaml(ns: &str, with_config: bool) -> String {
    let mut y = format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.25
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {ns}
spec:
  selector: {{app: web}}
  ports:
  - port: 80
    protocol: TCP
"#
    );
    if with_config {
        y.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\ndata:\n  mode: test\n"
        ));
    }
    y
}

/// The image and readiness of each pod of the `web` Deployment that is not being deleted.
async fn active_pods(wl: &kat::kube::KubeWorkloads, ns: &str) -> Vec<(String, bool)> {
    let pods = kube_api(wl, "v1", "Pod", "pods", ns)
        .list(&kube::api::ListParams::default().labels("app=web"))
        .await
        .unwrap();
    pods.items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            let ready = p.data["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            let image = p.data["spec"]["containers"][0]["image"].as_str();
            (image.unwrap_or_default().to_string(), ready)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_is_ready_idempotent_pruned_and_destroyed() {
    let env = unique("app");
    let ns = env.clone();
    let wl = connect(&env).await;
    let full = set("apps", "app.yaml", &app_yaml(&ns, true));
    let c = cx(&env, "apps", MINUTE);

    let planned = wl.plan(&full, &c).await.expect("plan");
    assert_eq!(planned.len(), 4, "{planned:?}");
    assert!(planned.iter().all(|ch| ch.action == ChangeAction::Create));

    let first = wl.apply(&full, &c).await.expect("first apply");
    let created: Vec<_> = first
        .changes
        .iter()
        .filter(|c| c.action == ChangeAction::Create)
        .collect();
    assert_eq!(created.len(), 4, "{:?}", first.changes);
    let inventory: Vec<ObjectRef> = first.outputs.get("inventory").expect("inventory recorded");
    assert_eq!(inventory.len(), 4);
    assert!(inventory
        .iter()
        .any(|r| r.kind == "Deployment" && r.namespace.as_deref() == Some(ns.as_str())));

    // Ready means the rollout finished: both pods Ready (the ReplicaSet's and the Deployment's
    // status may follow later: kat judges from the pods).
    assert_eq!(
        active_pods(&wl, &ns).await,
        vec![("nginx:1.25".to_string(), true); 2]
    );

    let second = wl.apply(&full, &c).await.expect("second apply");
    assert!(
        second.changes.is_empty(),
        "second apply changed {:?}",
        second.changes
    );
    assert!(wl.plan(&full, &c).await.unwrap().is_empty());
    assert_eq!(
        wl.verify(&full, &c, &second.outputs).await.unwrap(),
        Verified::Intact
    );

    // A changed value is planned as an update of that object alone, without applying it.
    let edited = set(
        "apps",
        "app.yaml",
        &app_yaml(&ns, true).replace("mode: test", "mode: live"),
    );
    let planned = wl.plan(&edited, &c).await.expect("plan an edit");
    assert_eq!(planned.len(), 1, "{planned:?}");
    assert_eq!(planned[0].action, ChangeAction::Update);
    assert_eq!(planned[0].resource, format!("ConfigMap/{ns}/settings"));
    let cms = kube_api(&wl, "v1", "ConfigMap", "configmaps", &ns);
    assert_eq!(
        cms.get("settings").await.unwrap().data["data"]["mode"],
        "test"
    );

    // Dropping the ConfigMap from the set prunes it.
    let smaller = set("apps", "app.yaml", &app_yaml(&ns, false));
    let pruned = wl
        .apply(&smaller, &c)
        .await
        .expect("apply without the ConfigMap");
    assert_eq!(pruned.changes.len(), 1, "{:?}", pruned.changes);
    assert_eq!(pruned.changes[0].action, ChangeAction::Delete);
    assert_eq!(
        pruned.changes[0].resource,
        format!("ConfigMap/{ns}/settings")
    );
    assert!(cms.get_opt("settings").await.unwrap().is_none());

    // A new image rolls out: kat returns once both pods of the new ReplicaSet are Ready and
    // no pod of the old one runs.
    let rolled = set(
        "apps",
        "app.yaml",
        &app_yaml(&ns, false).replace("nginx:1.25", "nginx:1.27"),
    );
    let update = wl.apply(&rolled, &c).await.expect("roll out a new image");
    assert_eq!(update.changes.len(), 1, "{:?}", update.changes);
    assert_eq!(update.changes[0].action, ChangeAction::Update);
    // Old pods may still be terminating; none is left running.
    assert_eq!(
        active_pods(&wl, &ns).await,
        vec![("nginx:1.27".to_string(), true); 2]
    );

    // Deleted behind kat's back: verify says what is missing.
    let services = kube_api(&wl, "v1", "Service", "services", &ns);
    services.delete("web", &Default::default()).await.unwrap();
    match wl.verify(&smaller, &c, &pruned.outputs).await.unwrap() {
        Verified::Drifted(why) => assert!(
            why.contains(&format!("Service/{ns}/web is missing")),
            "{why}"
        ),
        Verified::Intact => panic!("a deleted Service is drift"),
    }

    let gone = wl
        .destroy("apps", &c, &pruned.outputs)
        .await
        .expect("destroy");
    // The Namespace and the Deployment; the Service was already gone.
    assert_eq!(gone.changes.len(), 2, "{:?}", gone.changes);
    assert!(wl.leftovers(&c).await.unwrap().is_empty());
    let ns_api = kube_api_all(&wl, "v1", "Namespace", "namespaces");
    assert!(
        ns_api.get_opt(&ns).await.unwrap().is_none(),
        "namespace waited for until gone"
    );
    // Idempotent: nothing left to delete is success.
    let again = wl
        .destroy("apps", &c, &pruned.outputs)
        .await
        .expect("second destroy");
    assert!(again.changes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_job_and_volume_claim_are_waited_for_and_removed() {
    let env = unique("state");
    let wl = connect(&env).await;
    let yaml = format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: {env}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
  namespace: {env}
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: {env}
spec:
  serviceName: db
  replicas: 2
  selector:
    matchLabels: {{app: db}}
  template:
    metadata:
      labels: {{app: db}}
    spec:
      containers:
      - name: db
        image: postgres:16
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: {env}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: example/migrate:1
"#
    );
    let s = set("state", "state.yaml", &yaml);
    let c = cx(&env, "state", MINUTE);
    let applied = wl.apply(&s, &c).await.expect("apply");
    assert_eq!(applied.changes.len(), 4, "{:?}", applied.changes);
    let sts = kube_api(&wl, "apps/v1", "StatefulSet", "statefulsets", &env)
        .get("db")
        .await
        .unwrap();
    assert_eq!(sts.data["status"]["readyReplicas"], 2);
    let job = kube_api(&wl, "batch/v1", "Job", "jobs", &env)
        .get("migrate")
        .await
        .unwrap();
    assert_eq!(job.data["status"]["succeeded"], 1);

    let gone = wl
        .destroy("state", &c, &applied.outputs)
        .await
        .expect("destroy");
    assert_eq!(gone.changes.len(), 4, "{:?}", gone.changes);
    assert!(wl.leftovers(&c).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_and_its_resource_in_one_set_and_destroy_by_labels() {
    let env = unique("crd");
    let group = format!("{env}.kat.test");
    let wl = connect(&env).await;
    let yaml = format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
---
apiVersion: v1
kind: Namespace
metadata:
  name: {env}
---
apiVersion: {group}/v1
kind: Widget
metadata:
  name: w1
  namespace: {env}
spec:
  size: 3
"#
    );
    let s = set("crds", "crd.yaml", &yaml);
    let c = cx(&env, "crds", MINUTE);
    let planned = wl.plan(&s, &c).await.expect("plan before the CRD exists");
    assert_eq!(planned.len(), 3);
    let applied = wl.apply(&s, &c).await.expect("apply");
    assert_eq!(applied.changes.len(), 3, "{:?}", applied.changes);
    assert!(wl.apply(&s, &c).await.unwrap().changes.is_empty());

    // State lost: destroy finds everything by label.
    let gone = wl
        .destroy("crds", &c, &Outputs::new())
        .await
        .expect("destroy by labels");
    assert_eq!(gone.changes.len(), 3, "{:?}", gone.changes);
    assert!(wl.leftovers(&c).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_names_field_and_manager_and_force_takes_over() {
    let env = unique("conflict");
    let wl = connect(&env).await;
    let yaml = |value: &str| {
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {env}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: {env}\ndata:\n  owner: {value}\n"
        )
    };
    let c = cx(&env, "cfg", MINUTE);
    wl.apply(&set("cfg", "cfg.yaml", &yaml("kat")), &c)
        .await
        .expect("first apply");

    // Another tool takes the field over.
    let cms = kube_api(&wl, "v1", "ConfigMap", "configmaps", &env);
    let theirs = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "shared", "namespace": env}, "data": {"owner": "other"}});
    cms.patch(
        "shared",
        &PatchParams::apply("other-tool").force(),
        &Patch::Apply(&theirs),
    )
    .await
    .unwrap();

    let err = wl
        .apply(&set("cfg", "cfg.yaml", &yaml("kat-again")), &c)
        .await
        .unwrap_err();
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, ProviderError::Api { .. }), "{err:?}");
    assert!(
        msg.contains(".data.owner") && msg.contains("other-tool"),
        "{msg}"
    );
    assert!(
        msg.contains("cfg.yaml#1") && msg.contains("--force-conflicts"),
        "{msg}"
    );

    let forced = connect_with(
        &env,
        ApplyOptions {
            force_conflicts: true,
            concurrency: 4,
            ..Default::default()
        },
    )
    .await;
    let done = forced
        .apply(&set("cfg", "cfg.yaml", &yaml("kat-again")), &c)
        .await
        .expect("forced apply");
    assert_eq!(done.changes.len(), 1, "{:?}", done.changes);
    assert_eq!(
        cms.get("shared").await.unwrap().data["data"]["owner"],
        "kat-again"
    );
    forced.destroy("cfg", &c, &done.outputs).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_pull_error_times_out_naming_backoff_and_image() {
    let env = unique("pull");
    let wl = connect(&env).await;
    let image = "registry.example/pull-error/app:1.0";
    let yaml = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {env}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\n  namespace: {env}\nspec:\n  selector:\n    matchLabels: {{app: broken}}\n  template:\n    metadata:\n      labels: {{app: broken}}\n    spec:\n      containers:\n      - name: app\n        image: {image}\n"
    );
    // A second workload that crashes and a third nothing can schedule: all are explained in the
    // one timeout.
    let yaml = format!(
        "{yaml}---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: crashy\n  namespace: {env}\nspec:\n  selector:\n    matchLabels: {{app: crashy}}\n  template:\n    metadata:\n      labels: {{app: crashy}}\n    spec:\n      containers:\n      - name: app\n        image: example/crash-loop:1\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: nowhere\n  namespace: {env}\nspec:\n  selector:\n    matchLabels: {{app: nowhere}}\n  template:\n    metadata:\n      labels: {{app: nowhere}}\n    spec:\n      nodeSelector: {{disk: none-has-it}}\n      containers:\n      - name: app\n        image: example/app:1\n"
    );
    let c = cx(&env, "bad", Duration::from_secs(8));
    let err = wl
        .apply(&set("bad", "bad.yaml", &yaml), &c)
        .await
        .unwrap_err();
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, ProviderError::Timeout { .. }), "{err:?}");
    assert!(
        msg.contains("ImagePullBackOff") && msg.contains(image),
        "{msg}"
    );
    assert!(msg.contains(&format!("Deployment/{env}/broken")), "{msg}");
    assert!(
        msg.contains(&format!("Deployment/{env}/crashy")) && msg.contains("CrashLoopBackOff"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("Deployment/{env}/nowhere")) && msg.contains("Unschedulable"),
        "{msg}"
    );
    wl.destroy("bad", &cx(&env, "bad", MINUTE), &Outputs::new())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_balancer_address_is_in_outputs() {
    let env = unique("lb");
    let wl = connect(&env).await;
    let yaml = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {env}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: front\n  namespace: {env}\nspec:\n  type: LoadBalancer\n  selector: {{app: front}}\n  ports:\n  - port: 443\n"
    );
    let c = cx(&env, "lb", MINUTE);
    let applied = wl
        .apply(&set("lb", "lb.yaml", &yaml), &c)
        .await
        .expect("apply");
    let shown: Vec<&String> = applied.outputs.shown.values().collect();
    assert!(
        shown
            .iter()
            .any(|v| v.contains(&format!("front.{env}.lb.local"))),
        "{:?}",
        applied.outputs.shown
    );
    let gone = wl.destroy("lb", &c, &applied.outputs).await.unwrap();
    assert_eq!(gone.changes.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_picks_the_versions_a_1_20_server_serves() {
    let wl = connect(&unique("disc")).await;
    let v = wl.api_versions().await;
    assert_eq!(v.hpa, "autoscaling/v2beta2");
    assert_eq!(v.pdb, "policy/v1beta1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kind_names_its_source() {
    let env = unique("unknown");
    let wl = connect(&env).await;
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n---\napiVersion: example.com/v1\nkind: Frobnicator\nmetadata:\n  name: x\n";
    let err = wl
        .apply(&set("odd", "odd.yaml", yaml), &cx(&env, "odd", MINUTE))
        .await
        .unwrap_err();
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(err.is_usage(), "{err:?}");
    assert!(
        msg.contains("odd.yaml#1") && msg.contains("Frobnicator"),
        "{msg}"
    );
    // Nothing was applied: the set is checked before the first request.
    assert!(wl
        .leftovers(&cx(&env, "odd", MINUTE))
        .await
        .unwrap()
        .is_empty());
}

fn kube_api(
    wl: &kat::kube::KubeWorkloads,
    api_version: &str,
    kind: &str,
    plural: &str,
    ns: &str,
) -> Api<DynamicObject> {
    Api::namespaced_with(
        wl.client().clone(),
        ns,
        &resource(api_version, kind, plural),
    )
}

fn kube_api_all(
    wl: &kat::kube::KubeWorkloads,
    api_version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    Api::all_with(wl.client().clone(), &resource(api_version, kind, plural))
}

fn resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}
