//! The `kubeconfig` provider against the testbed (see kube_support for how to start it).

mod kube_support;

use std::path::PathBuf;

use kat_provider::config::KubeconfigConfig;
use kat_provider::{
    DatabaseConfig, DatabaseMode, KubeAccess, OpContext, Provider, ProviderConfig, ProviderError,
    ProviderRequest, Role,
};
use kat_provider_kubeconfig::KubeconfigProvider;
use kube_support::kubeconfig;

fn provider(path: PathBuf, context: Option<&str>) -> KubeconfigProvider {
    let config = ProviderConfig {
        kubeconfig: KubeconfigConfig {
            path: Some(path),
            context: context.map(str::to_string),
        },
        ..Default::default()
    };
    KubeconfigProvider::new(ProviderRequest {
        env: "kcfg".into(),
        config,
        state_dir: std::env::temp_dir(),
        database: DatabaseConfig {
            mode: DatabaseMode::None,
            ..Default::default()
        },
        registry: None,
        tags: Default::default(),
        addons: Vec::new(),
        own_addons: Vec::new(),
        purge: false,
    })
    .unwrap()
}

#[tokio::test]
async fn existing_cluster_is_checked_and_recorded() {
    let path = kubeconfig();
    let p = provider(path.clone(), None);
    let cx = OpContext::detached("kcfg", "kubeconfig");
    p.preflight(&cx).await.expect("preflight");
    let caps = p.capabilities();
    assert!(!caps.creates_cluster && !caps.registry && caps.managed_database.is_none());
    assert!(!caps.single_node, "the testbed has three nodes");
    for role in Role::ALL {
        assert_eq!(
            p.component(role).is_some(),
            role == Role::Kubeconfig,
            "{role}"
        );
    }
    let applied = p
        .component(Role::Kubeconfig)
        .unwrap()
        .apply(&cx)
        .await
        .expect("apply");
    assert!(applied.changes.is_empty());
    assert_eq!(
        applied.outputs.get::<PathBuf>("kubeconfig"),
        Some(path.clone())
    );
    assert!(applied.outputs.get::<String>("context").is_some());
    assert!(applied.outputs.shown["Kubernetes API"].starts_with("https://127.0.0.1:"));
    assert!(applied.outputs.shown.contains_key("kubeconfig"));
    match p.kube_access(&applied.outputs).await.unwrap() {
        KubeAccess::Kubeconfig { path: got, context } => {
            assert_eq!(got, Some(path));
            assert_eq!(context, applied.outputs.get::<String>("context"));
        }
        KubeAccess::Workloads(_) => panic!("an existing cluster is reached by kubeconfig"),
    }
    assert!(p.sweep(&cx).await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_context_and_missing_file_name_what_was_tried() {
    let cx = OpContext::detached("kcfg", "kubeconfig");
    let err = provider(kubeconfig(), Some("no-such-context"))
        .preflight(&cx)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ProviderError::Config { .. }), "{err:?}");
    assert!(
        msg.contains("no-such-context") && msg.contains(&kubeconfig().display().to_string()),
        "{msg}"
    );

    let missing = PathBuf::from("/nonexistent/kat/kubeconfig");
    let err = provider(missing, None).preflight(&cx).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ProviderError::Credentials { .. }), "{err:?}");
    assert!(msg.contains("/nonexistent/kat/kubeconfig"), "{msg}");
}

/// With no path configured, KUBECONFIG is read like kubectl reads it: a list, of which the file
/// that has the context is used. The only test here that touches KUBECONFIG.
#[tokio::test]
async fn kubeconfig_env_list_is_merged_when_no_path_is_configured() {
    // As kubectl merges them: a missing file skipped, the context and cluster in one file, the
    // user it names in another.
    let real = kube::config::Kubeconfig::read_from(kubeconfig()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (contexts, users) = (dir.path().join("contexts"), dir.path().join("users"));
    let without_users = kube::config::Kubeconfig {
        auth_infos: Vec::new(),
        ..real.clone()
    };
    let only_users = kube::config::Kubeconfig {
        auth_infos: real.auth_infos.clone(),
        ..Default::default()
    };
    std::fs::write(&contexts, serde_json::to_string(&without_users).unwrap()).unwrap();
    std::fs::write(&users, serde_json::to_string(&only_users).unwrap()).unwrap();
    let list = std::env::join_paths([
        PathBuf::from("/nonexistent/kat/first"),
        contexts.clone(),
        users,
    ])
    .unwrap();
    std::env::set_var("KUBECONFIG", &list);
    let config = ProviderConfig::default();
    let p = KubeconfigProvider::new(ProviderRequest {
        env: "kcfg".into(),
        config,
        state_dir: std::env::temp_dir(),
        database: DatabaseConfig {
            mode: DatabaseMode::None,
            ..Default::default()
        },
        registry: None,
        tags: Default::default(),
        addons: Vec::new(),
        own_addons: Vec::new(),
        purge: false,
    })
    .unwrap();
    // Messages name the file that defines the current context.
    assert_eq!(p.target().path().unwrap(), contexts);
    let cx = OpContext::detached("kcfg", "kubeconfig");
    p.preflight(&cx)
        .await
        .expect("the merged kubeconfig connects");
    let applied = p
        .component(Role::Kubeconfig)
        .unwrap()
        .apply(&cx)
        .await
        .expect("apply");
    match p.kube_access(&applied.outputs).await.unwrap() {
        KubeAccess::Kubeconfig { path, .. } => {
            assert_eq!(path, None, "the layer merges KUBECONFIG too")
        }
        KubeAccess::Workloads(_) => panic!("an existing cluster is reached by kubeconfig"),
    }
    let wl = kat::kube::KubeWorkloads::connect(None, None, "kcfg", Default::default())
        .await
        .expect("connect through KUBECONFIG");
    assert!(wl.server().starts_with("https://127.0.0.1:"));
}
