//! Checks rendered manifests against each component's contract (see `contract_spec.rs`).
//!
//! The testbed's kubelet makes every pod Ready whatever its environment says, so this is where a
//! template that would crash-loop on a real cluster is caught: a variable the app requires not
//! set, a probe on a path or port the app does not serve, a Service aimed elsewhere, a database
//! client started before its database.

use kat_provider::{DatabaseMode, Manifest};
use serde_json::Value;

use super::contract_spec::{Contract, SchemaBy, Waiter};
use super::error::BlueprintError;
use super::spec::{BlueprintInfo, ComponentInfo};

/// Every component's problems, the first component with any reported (all of its problems at once).
pub fn check_contracts(
    info: &BlueprintInfo,
    manifests: &[Manifest],
    database_mode: DatabaseMode,
) -> Result<(), BlueprintError> {
    for component in &info.components {
        let Some(contract) = &component.contract else {
            continue;
        };
        let problems = problems(info, component, contract, manifests, database_mode);
        if !problems.is_empty() {
            return Err(BlueprintError::Contract {
                blueprint: info.name.clone(),
                component: component.name.clone(),
                problems,
            });
        }
    }
    Ok(())
}

fn problems(
    info: &BlueprintInfo,
    component: &ComponentInfo,
    contract: &Contract,
    manifests: &[Manifest],
    database_mode: DatabaseMode,
) -> Vec<String> {
    let ns = info.namespace_of(component);
    let name = &component.name;
    let objects: Vec<&Value> = manifests.iter().map(|m| &m.object).collect();
    let Some(workload) = objects.iter().copied().find(|o| {
        ["Deployment", "StatefulSet"].contains(&o["kind"].as_str().unwrap_or(""))
            && o["metadata"]["name"] == name.as_str()
            && o["metadata"]["namespace"] == ns.as_str()
    }) else {
        return vec![format!(
            "no Deployment or StatefulSet `{name}` in namespace `{ns}` was rendered"
        )];
    };
    let pod = &workload["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().cloned().unwrap_or_default();
    let Some(container) = containers
        .iter()
        .find(|c| c["name"] == name.as_str())
        .or_else(|| containers.first())
    else {
        return vec![format!("its {} has no containers", workload["kind"])];
    };
    let kind = workload["kind"].as_str().unwrap_or("workload");
    let cname = container["name"].as_str().unwrap_or("");
    let at = format!("container `{cname}` of {kind} {ns}/{name}");
    let mut out = Vec::new();

    for (var, spec) in contract.env.iter().filter(|(_, v)| v.required) {
        if !sets_env(container, var) {
            out.push(format!(
                "{at} does not set `{var}`, which the app requires ({}: {})",
                spec.from, spec.what
            ));
        }
    }

    if let Some(port) = component.port {
        let declared = container["ports"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["containerPort"] == port));
        if !declared {
            out.push(format!(
                "{at} declares no containerPort {port}, the port the app listens on"
            ));
        }
    }

    if let Some(health) = &contract.health {
        let port = health.port.or(component.port).unwrap_or(0);
        for (probe, path) in [
            ("readinessProbe", health.path.as_str()),
            ("livenessProbe", health.liveness_path()),
        ] {
            let get = &container[probe]["httpGet"];
            let probed_port = resolve_port(container, &get["port"]);
            if get["path"].as_str() != Some(path) || probed_port != Some(port) {
                out.push(format!(
                    "{at}: {probe} must be an HTTP GET of {path} on port {port} ({}); it is {}",
                    health.from,
                    describe_probe(&container[probe])
                ));
            }
        }
    }

    let labels = &workload["spec"]["template"]["metadata"]["labels"];
    let targets: Vec<u16> = component
        .port
        .into_iter()
        .chain(contract.health.as_ref().and_then(|h| h.port))
        .collect();
    for service in objects.iter().filter(|o| {
        o["kind"] == "Service"
            && o["metadata"]["namespace"] == ns.as_str()
            && selects(&o["spec"]["selector"], labels)
    }) {
        for p in service["spec"]["ports"].as_array().into_iter().flatten() {
            let target = if p["targetPort"].is_null() {
                &p["port"]
            } else {
                &p["targetPort"]
            };
            match resolve_port(container, target) {
                Some(t) if targets.contains(&t) => {}
                _ => out.push(format!(
                    "Service {ns}/{} port {} targets {target}, not a port the app listens on ({})",
                    service["metadata"]["name"].as_str().unwrap_or(""),
                    p["port"],
                    targets
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
    }

    let is_client = info
        .database
        .as_ref()
        .is_some_and(|d| d.clients.contains(name));
    if let (true, Some(db)) = (
        is_client && database_mode != DatabaseMode::None,
        &contract.database,
    ) {
        let inits = pod["initContainers"].as_array().map_or(0, Vec::len);
        if db.wait == Waiter::InitContainer && inits == 0 {
            out.push(format!(
                "{kind} {ns}/{name} has no init container waiting for the database ({})",
                db.from
            ));
        }
        match db.schema {
            SchemaBy::InitContainer if inits == 0 => out.push(format!(
                "{kind} {ns}/{name} has no init container creating the schema ({})",
                db.from
            )),
            SchemaBy::Job
                if !objects
                    .iter()
                    .any(|o| o["kind"] == "Job" && o["metadata"]["namespace"] == ns.as_str()) =>
            {
                out.push(format!(
                    "no Job in namespace `{ns}` creates the schema {name} needs ({})",
                    db.from
                ))
            }
            _ => {}
        }
    }

    for write in &contract.writes {
        if !writable(container, &write.path) {
            out.push(format!(
                "{at} cannot write {} ({}): mount a volume there or leave the root filesystem writable",
                write.path, write.from
            ));
        }
    }
    out
}

fn sets_env(container: &Value, var: &str) -> bool {
    container["env"].as_array().is_some_and(|env| {
        env.iter()
            .any(|e| e["name"] == var && (e["value"].is_string() || e["valueFrom"].is_object()))
    })
}

/// A probe or Service port as a number: numbers as they are, names through the container's ports.
fn resolve_port(container: &Value, port: &Value) -> Option<u16> {
    if let Some(n) = port.as_u64() {
        return u16::try_from(n).ok();
    }
    let name = port.as_str()?;
    if let Ok(n) = name.parse::<u16>() {
        return Some(n);
    }
    container["ports"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|n| u16::try_from(n).ok())
}

fn describe_probe(probe: &Value) -> String {
    if probe.is_null() {
        "missing".to_string()
    } else if !probe["httpGet"].is_null() {
        format!(
            "GET {} on port {}",
            probe["httpGet"]["path"].as_str().unwrap_or("/"),
            probe["httpGet"]["port"]
        )
    } else if !probe["tcpSocket"].is_null() {
        format!("a TCP check of port {}", probe["tcpSocket"]["port"])
    } else {
        "a command".to_string()
    }
}

fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

fn writable(container: &Value, path: &str) -> bool {
    let mounted = container["volumeMounts"].as_array().is_some_and(|ms| {
        ms.iter().any(|m| {
            let mount = m["mountPath"].as_str().unwrap_or("").trim_end_matches('/');
            m["readOnly"] != true
                && !mount.is_empty()
                && (path == mount || path.starts_with(&format!("{mount}/")))
        })
    });
    mounted || container["securityContext"]["readOnlyRootFilesystem"] != true
}
