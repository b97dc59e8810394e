//! `kat plan` and `--dry-run`: each stage in the order it would run, with what it would change.
//! Observes, never mutates.

use std::io::Write;

use kat_provider::ChangeAction;
use serde_json::json;

use super::environment::Environment;
use super::error::{Exit, KatError};
use crate::engine::{Direction, Selection};

#[derive(Debug, Clone, Default)]
pub struct PlanArgs {
    pub selection: Selection,
    /// Plan `down` instead of `up`.
    pub destroy: bool,
    pub json: bool,
}

pub async fn plan(env: &Environment, args: &PlanArgs) -> Result<Exit, KatError> {
    print_plan(env, args).await
}

pub(super) async fn print_plan(env: &Environment, args: &PlanArgs) -> Result<Exit, KatError> {
    let dir = if args.destroy {
        Direction::Down
    } else {
        Direction::Up
    };
    let selected = args
        .selection
        .resolve(&env.engine.graph, dir)
        .map_err(KatError::Usage)?;
    let planned = env.engine.plan(&selected, dir).await;
    let graph = &env.engine.graph;
    let mut out = std::io::stdout().lock();
    if args.json {
        let stages: Vec<_> = planned
            .iter()
            .map(|(id, r)| {
                let node = graph.get(id).expect("planned ids exist");
                match r {
                    Ok(changes) => json!({"stage": id, "deps": node.deps, "changes": changes}),
                    Err(e) => json!({"stage": id, "deps": node.deps, "error": e}),
                }
            })
            .collect();
        let doc = json!({"schema_version": crate::engine::EVENTS_SCHEMA_VERSION,
                         "event": "plan", "env": env.settings.env, "provider": env.settings.provider.to_string(),
                         "direction": if args.destroy { "down" } else { "up" }, "stages": stages});
        let _ = writeln!(out, "{doc}");
        return Ok(if planned.iter().any(|(_, r)| r.is_err()) {
            Exit::Failed
        } else {
            Exit::Ok
        });
    }
    let _ = writeln!(
        out,
        "Plan for `kat {}` of environment {} on {}:\n",
        if args.destroy { "down" } else { "up" },
        env.settings.env,
        env.settings.provider
    );
    let (mut create, mut update, mut delete, mut failed) = (0, 0, 0, 0);
    for (id, result) in &planned {
        let node = graph.get(id).expect("planned ids exist");
        let after = if node.deps.is_empty() {
            String::from("first")
        } else {
            format!("after {}", node.deps.join(", "))
        };
        let _ = writeln!(
            out,
            "  {id}  ({after})  {}",
            node.title.split_once(": ").map(|x| x.1).unwrap_or("")
        );
        match result {
            Ok(changes) if changes.is_empty() => {
                let _ = writeln!(out, "      = no changes");
            }
            Ok(changes) => {
                for c in changes {
                    let sign = match c.action {
                        ChangeAction::Create => {
                            create += 1;
                            "+"
                        }
                        ChangeAction::Update => {
                            update += 1;
                            "~"
                        }
                        ChangeAction::Delete => {
                            delete += 1;
                            "-"
                        }
                    };
                    let detail = c
                        .detail
                        .as_ref()
                        .map(|d| format!("  ({d})"))
                        .unwrap_or_default();
                    let _ = writeln!(out, "      {sign} {} {}{detail}", c.action, c.resource);
                }
            }
            Err(e) => {
                failed += 1;
                let _ = writeln!(out, "      ! cannot plan: {e}");
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{create} to create, {update} to update, {delete} to delete in {} stage(s){}.",
        planned.len(),
        if failed > 0 {
            format!("; {failed} could not be planned")
        } else {
            String::new()
        }
    );
    Ok(if failed > 0 { Exit::Failed } else { Exit::Ok })
}
