//! Objects a webhook in the set intercepts wait for the webhook's Service to have ready endpoints.
//! The testbed cannot call webhooks, so they use `failurePolicy: Ignore` and only the wait is
//! tested (see kube_support for how to start the testbed).

mod kube_support;

use std::time::Duration;

use kat_provider::{Outputs, ProviderError, Workloads};
use kube_support::{connect, cx, set, unique};

fn webhook_set(env: &str, image: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: {env}-hook
---
apiVersion: v1
kind: Namespace
metadata:
  name: {env}-app
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hook
  namespace: {env}-hook
spec:
  selector:
    matchLabels: {{app: hook}}
  template:
    metadata:
      labels: {{app: hook}}
    spec:
      containers:
      - name: hook
        image: {image}
---
apiVersion: v1
kind: Service
metadata:
  name: hook
  namespace: {env}-hook
spec:
  selector: {{app: hook}}
  ports:
  - port: 443
    protocol: TCP
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: {env}
webhooks:
- name: check.{env}.kat.test
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Ignore
  clientConfig:
    service: {{namespace: {env}-hook, name: hook}}
  namespaceSelector:
    matchLabels: {{kubernetes.io/metadata.name: {env}-app}}
  rules:
  - apiGroups: [""]
    apiVersions: [v1]
    operations: [CREATE, UPDATE]
    resources: [configmaps]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: checked
  namespace: {env}-app
data:
  a: b
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intercepted_objects_wait_for_the_webhook_backend() {
    let env = unique("hook");
    let wl = connect(&env).await;
    let c = cx(&env, "hooks", Duration::from_secs(60));
    let applied = wl
        .apply(
            &set("hooks", "hooks.yaml", &webhook_set(&env, "example/hook:1")),
            &c,
        )
        .await
        .expect("apply");
    assert_eq!(applied.changes.len(), 6, "{:?}", applied.changes);
    wl.destroy("hooks", &c, &applied.outputs).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_without_endpoints_blocks_what_it_intercepts() {
    let env = unique("deadhook");
    let wl = connect(&env).await;
    let c = cx(&env, "hooks", Duration::from_secs(6));
    let yaml = webhook_set(&env, "example/pull-error:1");
    let err = wl
        .apply(&set("hooks", "hooks.yaml", &yaml), &c)
        .await
        .unwrap_err();
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, ProviderError::Timeout { .. }), "{err:?}");
    assert!(
        msg.contains(&format!("webhook Service {env}-hook/hook")),
        "{msg}"
    );
    // The intercepted ConfigMap was not sent.
    let left = wl.leftovers(&c).await.unwrap();
    assert!(
        !left.iter().any(|o| o.starts_with("ConfigMap/")),
        "{left:?}"
    );
    wl.destroy(
        "hooks",
        &cx(&env, "hooks", Duration::from_secs(60)),
        &Outputs::new(),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_before_start_applies_nothing() {
    let env = unique("cancel");
    let wl = connect(&env).await;
    let c = cx(&env, "x", Duration::from_secs(60));
    c.cancel.cancel();
    let yaml = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {env}\n");
    let err = wl.apply(&set("x", "x.yaml", &yaml), &c).await.unwrap_err();
    assert!(matches!(err, ProviderError::Interrupted), "{err:?}");
    assert!(wl.leftovers(&c).await.unwrap().is_empty());
}
