//! Volume claims hold cloud disks, so `down` must release every one of them before the cluster
//! goes: the claims kat applied, including one a running pod still mounts (its protection
//! finalizer holds it until the pod is gone), and the claims a StatefulSet's controller made from
//! its templates, which kat never applied itself. Against the testbed (see kube_support).

mod kube_support;

use std::time::Duration;

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kat::kube::ENVIRONMENT_LABEL;
use kat_provider::{ChangeAction, Workloads};
use kube::api::Api;
use kube_support::{connect, cx, set, unique};

const MINUTE: Duration = Duration::from_secs(60);

fn database(ns: &str, with_statefulset: bool) -> String {
    let mut y = format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: uploads
  namespace: {ns}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 1Gi}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        image: example/web:1
        volumeMounts: [{{name: uploads, mountPath: /data}}]
      volumes:
      - name: uploads
        persistentVolumeClaim: {{claimName: uploads}}
"#
    );
    if with_statefulset {
        y.push_str(&format!(
            r#"---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: {ns}
spec:
  serviceName: db
  replicas: 1
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      containers:
      - name: db
        image: postgres:16
        volumeMounts: [{{name: data, mountPath: /var/lib/postgresql/data}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
"#
        ));
    }
    y
}

async fn claims(wl: &kat::kube::KubeWorkloads, ns: &str) -> Vec<String> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(wl.client().clone(), ns);
    let mut names: Vec<String> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        // One marked for deletion still counts: its disk is released only once it is gone.
        .filter_map(|c| c.metadata.name)
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_of_statefulsets_are_kept_while_wanted_and_released_by_down() {
    let env = unique("vols");
    let wl = connect(&env).await;
    let c = cx(&env, "db", MINUTE);
    let full = set("db", "db.yaml", &database(&env, true));
    wl.apply(&full, &c).await.expect("apply");
    assert_eq!(claims(&wl, &env).await, ["data-db-0", "uploads"]);
    let api: Api<PersistentVolumeClaim> = Api::namespaced(wl.client().clone(), &env);
    let made = api.get("data-db-0").await.unwrap();
    assert_eq!(
        made.metadata.labels.unwrap()[ENVIRONMENT_LABEL],
        env,
        "the template's claim carries kat's labels"
    );
    let left = wl.leftovers(&c).await.unwrap();
    assert!(
        left.contains(&format!("PersistentVolumeClaim/{env}/data-db-0")),
        "{left:?}"
    );

    // Applying the same set again neither changes nor prunes the StatefulSet's claim.
    let again = wl.apply(&full, &c).await.expect("second apply");
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(claims(&wl, &env).await, ["data-db-0", "uploads"]);

    // The StatefulSet leaves the set: its claim goes with it.
    let smaller = set("db", "db.yaml", &database(&env, false));
    let pruned = wl.apply(&smaller, &c).await.expect("prune");
    let deleted: Vec<&str> = pruned
        .changes
        .iter()
        .filter(|ch| ch.action == ChangeAction::Delete)
        .map(|ch| ch.resource.as_str())
        .collect();
    assert!(
        deleted.contains(&format!("PersistentVolumeClaim/{env}/data-db-0").as_str())
            && deleted.contains(&format!("StatefulSet/{env}/db").as_str()),
        "{deleted:?}"
    );
    assert_eq!(claims(&wl, &env).await, ["uploads"], "pruned means gone");

    // Re-add it, then tear down: the mounted claim and the template's claim are waited for
    // until gone (not only marked for deletion), and nothing labelled is left.
    let applied = wl.apply(&full, &c).await.expect("apply again");
    let gone = wl
        .destroy("db", &c, &applied.outputs)
        .await
        .expect("destroy");
    let resources: Vec<&str> = gone.changes.iter().map(|ch| ch.resource.as_str()).collect();
    assert!(
        resources.contains(&format!("PersistentVolumeClaim/{env}/uploads").as_str())
            && resources.contains(&format!("PersistentVolumeClaim/{env}/data-db-0").as_str()),
        "{resources:?}"
    );
    assert!(wl.leftovers(&c).await.unwrap().is_empty());
    assert!(claims(&wl, &env).await.is_empty());
}
