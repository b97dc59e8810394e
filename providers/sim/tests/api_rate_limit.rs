//! A fleet's worth of environments in one process against a simulated account with a low API
//! rate limit: kat's process-wide limiter keeps every call under it, so the account throttles
//! none of them. Run in tokio's paused time: the limiter and the account share one clock, so the
//! outcome does not depend on how busy the machine is.

use std::collections::BTreeMap;
use std::path::Path;

use kat_provider::config::SimConfig;
use kat_provider::ratelimit::Limiter;
use kat_provider::{DatabaseConfig, OpContext, Provider, ProviderConfig, ProviderRequest, Role};
use kat_provider_sim::SimProvider;

const ENVIRONMENTS: usize = 20;

fn provider(dir: &Path, profile: &Path, env: &str) -> SimProvider {
    let config = ProviderConfig {
        sim: SimConfig {
            profile: Some(profile.to_path_buf()),
            scale: 0.01,
            ..SimConfig::default()
        },
        ..ProviderConfig::default()
    };
    let tags: BTreeMap<String, String> = [
        ("kat:environment".to_string(), env.to_string()),
        ("kat:managed".to_string(), "true".to_string()),
    ]
    .into();
    SimProvider::new(ProviderRequest {
        env: env.to_string(),
        config,
        state_dir: dir.join(env),
        database: DatabaseConfig::default(),
        registry: None,
        tags,
        addons: Vec::new(),
        own_addons: Vec::new(),
        purge: false,
    })
    .expect("a valid sim provider")
}

#[tokio::test(start_paused = true)]
async fn a_fleet_under_the_limiter_is_never_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let builtin = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/real-world.yaml"),
    )
    .unwrap();
    let profile = dir.path().join("limited.yaml");
    // Five mutating calls a simulated second: twenty environments asking at once would be
    // four times over it.
    std::fs::write(
        &profile,
        format!("{builtin}\napi_rate_limit: {{read: 10, mutate: 5}}\n"),
    )
    .unwrap();
    let mut tasks = Vec::new();
    for i in 1..=ENVIRONMENTS {
        let p = provider(dir.path(), &profile, &format!("fleet-{i:02}"));
        for role in [Role::Network, Role::Identity] {
            let component = p.component(role).expect("the sim builds every cloud role");
            let env = format!("fleet-{i:02}");
            tasks.push(tokio::spawn(async move {
                let cx = OpContext::detached(&env, role.as_str());
                let applied = component.apply(&cx).await?;
                // A second pass reads everything again and changes nothing.
                let again = component.apply(&cx).await?;
                Ok::<_, kat_provider::ProviderError>((applied.changes.len(), again.changes.len()))
            }));
        }
    }
    let mut created = 0;
    for t in tasks {
        let (made, again) = t.await.unwrap().expect("every call is answered");
        assert_eq!(again, 0);
        created += made;
    }
    // Per environment: a VPC, four subnets, a gateway, a NAT gateway, two route tables, two roles.
    assert_eq!(created, ENVIRONMENTS * 11);
    assert_eq!(
        kat_provider_sim::throttles(),
        0,
        "the account throttled calls the limiter let through"
    );
    let stats = Limiter::global().stats();
    eprintln!(
        "MEASURE {ENVIRONMENTS} environments: {} calls through the limiter, {} held back ({:?} in all), {} throttled",
        stats.calls,
        stats.waited,
        stats.wait_total,
        kat_provider_sim::throttles()
    );
    assert!(
        stats.waited > 0,
        "the limiter never held a call back, so the test did not reach the limit: {stats:?}"
    );
}
