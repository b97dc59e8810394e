//! `kat status`: the journal, checked live against the provider (read-only), and the outputs.

use std::collections::BTreeMap;
use std::io::Write;

use kat_provider::{OpContext, Verified};
use serde_json::json;

use super::environment::Environment;
use super::error::{Exit, KatError};
use crate::engine::EnvOutputs;
use crate::state::StageStatus;
use crate::ui::format_duration;

/// The shape of `kat status -o json|yaml`. 2: `outputs` typed, the labelled prose in `shown`.
pub const STATUS_SCHEMA_VERSION: u32 = 2;

/// `doc` as one line of JSON or as a YAML document, newline-terminated.
pub fn document(doc: &serde_json::Value, format: Document) -> String {
    match format {
        Document::Yaml => serde_yaml_ng::to_string(doc).expect("plain data serializes"),
        _ => format!("{doc}\n"),
    }
}

/// How `kat status` and `kat output` print: for a person, or as a document for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    Text,
    Json,
    Yaml,
}

pub async fn status(env: &Environment, format: Document) -> Result<Exit, KatError> {
    let snapshot = env.engine.journal.snapshot();
    let order = env.engine.graph.topo_order().unwrap_or_default();
    let upstream = std::sync::Arc::new(snapshot.outputs());
    let mut rows = Vec::new();
    for id in &order {
        let node = env.engine.graph.get(id).expect("ordered ids exist");
        if node.stage.teardown_only() {
            continue;
        }
        let record = snapshot.stages.get(id);
        let recorded = record
            .map(|r| format!("{:?}", r.status).to_lowercase())
            .unwrap_or_else(|| "absent".into());
        let live = match record {
            Some(r) if r.status == StageStatus::Done => {
                let mut cx = OpContext::detached(&env.settings.env, id);
                cx.upstream = upstream.clone();
                match node.stage.verify(&cx, &r.outputs).await {
                    Ok(Verified::Intact) => "ok".to_string(),
                    Ok(Verified::Drifted(why)) => format!("drifted: {why}"),
                    Err(e) => format!("unknown: {e}"),
                }
            }
            Some(r) => r.error.clone().unwrap_or_else(|| "-".into()),
            None => "-".into(),
        };
        let duration = record
            .and_then(|r| r.duration_ms)
            .map(format_duration)
            .unwrap_or_default();
        rows.push((id.clone(), recorded, live, duration));
    }
    let outputs: BTreeMap<String, String> = snapshot
        .stages
        .values()
        .flat_map(|r| r.outputs.shown.clone())
        .collect();
    let last_run = snapshot.runs.last();
    let mut out = std::io::stdout().lock();
    if format != Document::Text {
        let stages: Vec<_> = rows
            .iter()
            .map(|(id, recorded, live, _)| {
                let took_ms = snapshot.stages.get(id).and_then(|r| r.duration_ms);
                json!({"stage": id, "recorded": recorded, "live": live, "duration_ms": took_ms})
            })
            .collect();
        let doc = json!({"schema_version": STATUS_SCHEMA_VERSION,
                         "env": env.settings.env, "provider": env.settings.provider.to_string(),
                         "stages": stages,
                         "outputs": EnvOutputs::from_stages(&snapshot.outputs()),
                         "shown": outputs, "last_run": last_run});
        let _ = write!(out, "{}", document(&doc, format));
        return Ok(Exit::Ok);
    }
    let _ = writeln!(
        out,
        "Environment {} on {} ({})",
        env.settings.env,
        env.settings.provider,
        env.engine.journal.path().display()
    );
    if let Some(run) = last_run {
        let _ = writeln!(
            out,
            "Last run: kat {} started {}, {}",
            run.command,
            run.started,
            run.result.as_deref().unwrap_or("did not finish (killed?)")
        );
    }
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(5).max(5);
    let _ = writeln!(
        out,
        "\n  {:<width$}  {:<11}  {:<8}  LIVE",
        "STAGE", "RECORDED", "TOOK"
    );
    for (id, recorded, live, duration) in &rows {
        let _ = writeln!(out, "  {id:<width$}  {recorded:<11}  {duration:<8}  {live}");
    }
    if !outputs.is_empty() {
        let w = outputs.keys().map(|k| k.len()).max().unwrap_or(0);
        let _ = writeln!(out, "\n  Outputs");
        for (k, v) in &outputs {
            let _ = writeln!(out, "  {k:<w$}  {v}");
        }
    }
    Ok(Exit::Ok)
}

/// The kubeconfig the environment's kubeconfig stage wrote, if it has run.
pub fn kubeconfig_path(env: &Environment) -> Result<(String, Option<String>), KatError> {
    let snapshot = env.engine.journal.snapshot();
    let rec = snapshot
        .stages
        .get("kubeconfig")
        .filter(|r| r.status == StageStatus::Done);
    match rec.and_then(|r| r.outputs.get::<String>("kubeconfig")) {
        // Absolute, so `export KUBECONFIG=$(kat kubeconfig)` survives a `cd`.
        Some(path) => Ok((
            std::path::absolute(&path)
                .map(|p| p.display().to_string())
                .unwrap_or(path),
            rec.and_then(|r| r.outputs.get::<String>("context")),
        )),
        None => Err(KatError::Failure(format!(
            "environment `{}` has no kubeconfig yet; run `kat up` (or `kat up --until kubeconfig`) first",
            env.settings.env
        ))),
    }
}

/// `kat kubeconfig --exec`: the provider's exec-plugin kubeconfig for the environment's cluster.
pub async fn exec_kubeconfig(env: &Environment) -> Result<String, KatError> {
    kubeconfig_path(env)?;
    let snapshot = env.engine.journal.snapshot();
    let recorded = snapshot
        .stages
        .get("kubeconfig")
        .map(|r| r.outputs.clone())
        .unwrap_or_default();
    // A provider without it is a usage error (2), not a failure.
    env.provider
        .exec_kubeconfig(&recorded)
        .await
        .map_err(KatError::from)
}

/// `kat render`: the configured blueprint's manifests for this configuration, with the API versions
/// every supported cluster serves and `<registry>` for images the registry stage would hold.
pub fn render_blueprint(
    o: &super::Overrides,
) -> Result<Vec<crate::blueprint::RenderedFile>, KatError> {
    let mut o = o.clone();
    // Rendering needs no cluster: without a provider, render as for a multi-node cloud cluster.
    if o.provider.is_none() {
        o.provider = Some(kat_provider::ProviderName::Sim);
    }
    let settings = super::resolve(&o)?;
    let Some(cfg) = &settings.config.blueprint else {
        return Err(KatError::Usage(
            "no blueprint chosen: pass --blueprint NAME (see `kat blueprints`) or set `blueprint.name`".into(),
        ));
    };
    let usage = |e: &dyn std::fmt::Display| KatError::Usage(e.to_string());
    let blueprint = crate::blueprint::load(&cfg.name).map_err(|e| usage(&e))?;
    let source = crate::stages::BlueprintSource::new(
        &settings,
        None,
        blueprint,
        std::sync::Arc::new(|| false),
        settings.config.registry.enabled,
    )
    .map_err(|e| usage(&e))?;
    let registry = settings
        .config
        .registry
        .enabled
        .then(|| "<registry>".to_string());
    source
        .render(&settings.env, &Default::default(), registry)
        .map_err(|e| usage(&e))
}
