//! Objects a webhook intercepts wait until the webhook can be called: its Service has a ready
//! endpoint and its configuration carries the CA bundle someone injects; a request the API server
//! refuses because it could not call the webhook is retried for a bounded time. The testbed cannot
//! call webhooks (every call fails at once), so `failurePolicy: Ignore` lets the waits be tested
//! alone, and `Fail` stands for a webhook that is not serving yet (see kube_support for how to
//! start the testbed).

mod kube_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kat::kube::{ApplyOptions, KubeWorkloads};
use kat_provider::{OpContext, Outputs, Progress, ProviderError, Workloads};
use kube::api::{Api, DynamicObject, PostParams};
use kube::discovery::ApiResource;
use kube_support::{connect, connect_with, cx, set, unique};
use tokio::sync::mpsc;

/// A CA bundle as a test value: the testbed never checks it (it calls no webhook).
const SOME_CA: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==";

fn webhook_set(env: &str, image: &str) -> String {
    hook_set(env, image, "Ignore", Some(SOME_CA))
}

fn hook_set(env: &str, image: &str, policy: &str, ca: Option<&str>) -> String {
    let ca = ca
        .map(|c| format!("\n    caBundle: {c}"))
        .unwrap_or_default();
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
  # 1.20 does not label namespaces with their name yet: the webhook selects this one by its own.
  labels: {{kat.test/hooked: {env}}}
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
  failurePolicy: {policy}
  clientConfig:
    service: {{namespace: {env}-hook, name: hook}}{ca}
  namespaceSelector:
    matchLabels: {{kat.test/hooked: {env}}}
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

/// Steps a stage reports, as they happen.
struct Steps(mpsc::UnboundedSender<String>);

impl Progress for Steps {
    fn step(&self, message: &str) {
        let _ = self.0.send(message.to_string());
    }
}

fn watched(env: &str, timeout: Duration) -> (OpContext, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut c = cx(env, "hooks", timeout);
    c.progress = Arc::new(Steps(tx));
    (c, rx)
}

async fn step_containing(rx: &mut mpsc::UnboundedReceiver<String>, text: &str) -> String {
    while let Some(step) = rx.recv().await {
        if step.contains(text) {
            return step;
        }
    }
    panic!("the stage ended without a step containing `{text}`");
}

fn webhook_api(wl: &KubeWorkloads) -> Api<DynamicObject> {
    let ar = ApiResource {
        group: "admissionregistration.k8s.io".into(),
        version: "v1".into(),
        api_version: "admissionregistration.k8s.io/v1".into(),
        kind: "ValidatingWebhookConfiguration".into(),
        plural: "validatingwebhookconfigurations".into(),
    };
    Api::all_with(wl.client().clone(), &ar)
}

async fn configmap_exists(wl: &KubeWorkloads, ns: &str) -> bool {
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(wl.client().clone(), ns);
    api.get_opt("checked").await.unwrap().is_some()
}

/// Another writer of the webhook configuration (cainjector, a patch Job, a recovering webhook):
/// sets `key` of its one webhook (`caBundle` is in its clientConfig).
async fn patch_webhook(wl: &KubeWorkloads, env: &str, key: &str, value: &str) {
    let api = webhook_api(wl);
    let mut live = serde_json::to_value(api.get(env).await.unwrap()).unwrap();
    let hook = &mut live["webhooks"][0];
    if key == "caBundle" {
        hook["clientConfig"][key] = value.into();
    } else {
        hook[key] = value.into();
    }
    let obj: DynamicObject = serde_json::from_value(live).unwrap();
    api.replace(env, &PostParams::default(), &obj)
        .await
        .expect("update the webhook configuration");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intercepted_objects_wait_until_the_ca_bundle_is_injected() {
    let env = unique("inject");
    let wl = Arc::new(connect(&env).await);
    let (c, mut steps) = watched(&env, Duration::from_secs(60));
    let yaml = hook_set(&env, "example/hook:1", "Ignore", None);
    let apply = {
        let (wl, c) = (wl.clone(), c.clone());
        tokio::spawn(async move { wl.apply(&set("hooks", "hooks.yaml", &yaml), &c).await })
    };
    let step = step_containing(&mut steps, "CA bundle to be injected").await;
    assert!(
        step.contains(&format!("ValidatingWebhookConfiguration/{env}")),
        "{step}"
    );
    // The backend is ready, but the API server could not trust it yet: nothing intercepted is sent.
    assert!(!configmap_exists(&wl, &format!("{env}-app")).await);
    patch_webhook(&wl, &env, "caBundle", SOME_CA).await;
    let applied = apply
        .await
        .unwrap()
        .expect("apply once the CA bundle is in");
    assert!(configmap_exists(&wl, &format!("{env}-app")).await);
    wl.destroy("hooks", &c, &applied.outputs).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_from_a_webhook_not_yet_serving_is_retried() {
    let env = unique("refused");
    let wl = Arc::new(connect(&env).await);
    let (c, mut steps) = watched(&env, Duration::from_secs(60));
    let yaml = hook_set(&env, "example/hook:1", "Fail", Some(SOME_CA));
    let apply = {
        let (wl, c) = (wl.clone(), c.clone());
        tokio::spawn(async move { wl.apply(&set("hooks", "hooks.yaml", &yaml), &c).await })
    };
    let step = step_containing(&mut steps, "refused by a webhook, retrying").await;
    assert!(
        step.contains("ConfigMap/") && step.contains("failed calling webhook"),
        "{step}"
    );
    // The webhook recovers (here: stops failing closed); the next try goes through.
    patch_webhook(&wl, &env, "failurePolicy", "Ignore").await;
    let applied = apply
        .await
        .unwrap()
        .expect("apply after the webhook recovered");
    assert!(configmap_exists(&wl, &format!("{env}-app")).await);
    wl.destroy("hooks", &c, &applied.outputs).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_never_answers_fails_the_stage_with_its_refusal() {
    let env = unique("neverhook");
    let opts = ApplyOptions {
        webhook_retry: Duration::from_secs(2),
        ..Default::default()
    };
    let wl = connect_with(&env, opts).await;
    let retries = Arc::new(Mutex::new(0));
    let (c, mut steps) = watched(&env, Duration::from_secs(60));
    let counter = {
        let retries = retries.clone();
        tokio::spawn(async move {
            while let Some(s) = steps.recv().await {
                if s.contains("retrying") {
                    *retries.lock().unwrap() += 1;
                }
            }
        })
    };
    let yaml = hook_set(&env, "example/hook:1", "Fail", Some(SOME_CA));
    let err = wl
        .apply(&set("hooks", "hooks.yaml", &yaml), &c)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("failed calling webhook") && err.contains("ConfigMap"),
        "{err}"
    );
    drop(c);
    counter.await.unwrap();
    assert!(*retries.lock().unwrap() >= 1, "the refusal was not retried");
    assert!(!configmap_exists(&wl, &format!("{env}-app")).await);
    wl.destroy(
        "hooks",
        &cx(&env, "hooks", Duration::from_secs(60)),
        &Outputs::new(),
    )
    .await
    .unwrap();
}
