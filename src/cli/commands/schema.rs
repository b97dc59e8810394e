use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::args::{Cli, GlobalArgs};
use crate::config::KatConfig;
use crate::ops::{Exit, KatError};

pub fn run(events: bool) -> Result<Exit, KatError> {
    let schema = if events {
        crate::engine::events_schema()
    } else {
        serde_json::to_value(schemars::schema_for!(KatConfig)).expect("schema serializes")
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&schema).expect("schema serializes")
    );
    Ok(Exit::Ok)
}

pub fn completions(shell: Shell) -> Result<Exit, KatError> {
    clap_complete::generate(shell, &mut Cli::command(), "kat", &mut std::io::stdout());
    Ok(Exit::Ok)
}

/// Writes the example configuration, with the provider and environment from the flags. An
/// existing file is kept (and said so), so `kat init && kat up` can be run again.
pub fn init(g: &GlobalArgs, force: bool) -> Result<Exit, KatError> {
    let path = g.config.clone().unwrap_or_else(|| "kat.yaml".into());
    if path.exists() && !force {
        println!(
            "{} exists; kept it as it is (`kat init --force` writes a fresh one)",
            path.display()
        );
        return Ok(Exit::Ok);
    }
    let mut text = crate::config::EXAMPLE.to_string();
    if let Some(p) = g.provider {
        text = text.replacen("  name: sim\n", &format!("  name: {p}\n"), 1);
        if p == kat_provider::ProviderName::Kubeconfig {
            text = for_an_existing_cluster(&text);
        }
    }
    if let Some(e) = &g.env {
        text = text.replacen("environment: demo\n", &format!("environment: {e}\n"), 1);
    }
    std::fs::write(&path, text)
        .map_err(|e| KatError::Failure(format!("cannot write {}: {e}", path.display())))?;
    println!("wrote {}; next: kat plan", path.display());
    Ok(Exit::Ok)
}

/// The example for a cluster kat does not make: no managed database, registry or autoscaler
/// (the cluster's owner runs those), no budget for a cluster stage. The kubeconfig keys stay
/// commented: the default (KUBECONFIG, else ~/.kube/config) is what kubectl uses.
fn for_an_existing_cluster(example: &str) -> String {
    example
        .replacen(
            "  mode: managed       # none | in-cluster | managed (RDS on eks, PostgreSQL flexible server on aks)",
            "  mode: in-cluster    # none | in-cluster (managed needs a provider that makes the cluster)",
            1,
        )
        .replacen("  enabled: true       # ECR / ACR", "  enabled: false      # ECR / ACR", 1)
        .replacen(
            "  cluster-autoscaler: {enabled: true}",
            "  cluster-autoscaler: {enabled: false}   # the cluster's owner scales its nodes",
            1,
        )
        .replacen("  stages:\n    cluster: 40m\n", "", 1)
}
