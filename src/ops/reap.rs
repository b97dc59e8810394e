//! `kat reap`: environments found by their tags alone (no journal: the CI runner that made one is
//! long gone), listed with age, owner and expiry; the expired ones torn down by the same
//! stateless `down` and sweep a person would run.

use std::time::{Duration, SystemTime};

use kat_provider::{OpContext, TaggedEnvironment};
use serde::Serialize;

use super::environment::Environment;
use super::error::{Exit, KatError};
use super::run::{down, RunArgs};
use super::settings::{resolve, Overrides};
use crate::engine::Reporter;
use crate::ui::format_duration;

#[derive(Debug, Clone, Default)]
pub struct ReapArgs {
    /// Also reap environments created longer ago than this, expiry or not.
    pub older_than: Option<Duration>,
    pub dry_run: bool,
    /// Ask before tearing anything down (a person at a terminal without `--yes`).
    pub confirm: bool,
    /// `-o json`: one document on stdout instead of the table and the teardowns' output.
    pub json: bool,
}

/// Why an environment goes, or `None` when it stays.
pub fn expired(
    e: &TaggedEnvironment,
    now: SystemTime,
    older_than: Option<Duration>,
) -> Option<String> {
    let at = |t: &Option<String>| {
        t.as_deref()
            .and_then(|s| humantime::parse_rfc3339_weak(s).ok())
    };
    if let Some(exp) = at(&e.expires_at) {
        if exp <= now {
            return Some(format!("expired {} ago", format_duration(age_ms(exp, now))));
        }
    }
    match (older_than, at(&e.created_at)) {
        (Some(limit), Some(created)) if now.duration_since(created).unwrap_or_default() > limit => {
            Some(format!("older than {}", humantime::format_duration(limit)))
        }
        _ => None,
    }
}

fn age_ms(from: SystemTime, now: SystemTime) -> u64 {
    now.duration_since(from).unwrap_or_default().as_millis() as u64
}

/// The shape of `kat reap -o json`'s document; raised when a field changes meaning or goes.
pub const REAP_SCHEMA_VERSION: u32 = 1;

/// One environment of the listing and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct Reaped {
    #[serde(flatten)]
    pub found: TaggedEnvironment,
    /// Seconds since `kat:created-at`, when it is known.
    pub age_seconds: Option<u64>,
    /// Why it goes (`expired 2h ago`, `older than 6h`), `None` when it stays.
    pub reason: Option<String>,
    /// `kept`, `would-reap` (a dry run), `reaped`, `failed`, `not-confirmed`, or `held` (a
    /// fleet's shared environment that members still use: it goes with a later reap, after them).
    pub outcome: &'static str,
    /// For `held`: the environments still using it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held_for: Vec<String>,
    /// What stopped its teardown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A reporter that shows nothing: with `-o json` the document says how each teardown ended, and
/// their event streams would break it.
pub struct Quiet;

impl Reporter for Quiet {
    fn emit(&self, _event: crate::engine::Event) {}
}

pub async fn reap(
    overrides: &Overrides,
    args: &ReapArgs,
    reporter: impl Fn() -> std::sync::Arc<dyn Reporter>,
) -> Result<Exit, KatError> {
    let settings = resolve(overrides)?;
    let provider_name = settings.provider;
    // The provider as any environment would make it: only its account, region and credentials
    // matter for a listing by tags.
    let lister = Environment::open(settings, None, reporter())?;
    let cx = OpContext::detached(&lister.settings.env, "reap");
    lister.provider.preflight_down(&cx).await?;
    let found = lister.provider.environments(&cx).await?;
    drop(lister);
    let now = SystemTime::now();
    let mut rows: Vec<Reaped> = found
        .into_iter()
        .map(|e| {
            let created = e
                .created_at
                .as_deref()
                .and_then(|s| humantime::parse_rfc3339_weak(s).ok());
            let reason = expired(&e, now, args.older_than);
            let outcome = match (&reason, args.dry_run) {
                (None, _) => "kept",
                (Some(_), true) => "would-reap",
                (Some(_), false) => "reaped",
            };
            Reaped {
                age_seconds: created.map(|c| age_ms(c, now) / 1000),
                found: e,
                reason,
                outcome,
                held_for: Vec::new(),
                error: None,
            }
        })
        .collect();
    hold_shared(&mut rows, &["kept"]);
    if !args.json {
        print_table(&rows, args.dry_run, provider_name);
    }
    let doomed: Vec<String> = rows
        .iter()
        .filter(|r| r.outcome == "reaped")
        .map(|r| r.found.env.clone())
        .collect();
    let mut exit = Exit::Ok;
    if !doomed.is_empty() && args.confirm && !confirmed(&doomed) {
        eprintln!("nothing was changed");
        for r in rows.iter_mut().filter(|r| r.outcome == "reaped") {
            r.outcome = "not-confirmed";
        }
        exit = Exit::Usage;
    } else {
        // Members before what they share: a VPC cannot go while a cluster is in it.
        for sharing in [false, true] {
            if sharing {
                hold_shared(&mut rows, &["kept", "failed"]);
            }
            for r in rows
                .iter_mut()
                .filter(|r| r.outcome == "reaped" && is_shared(r) == sharing)
            {
                if let Some(error) = tear_down(overrides, &r.found.env, &reporter).await {
                    r.outcome = "failed";
                    r.error = Some(error);
                }
            }
        }
        for r in rows.iter().filter(|r| r.outcome == "held") {
            eprintln!(
                "note: {} stays: {} still use(s) what it holds for the fleet; a later `kat reap` removes it after them",
                r.found.env,
                r.held_for.join(", ")
            );
        }
        let failed: Vec<String> = rows
            .iter()
            .filter(|r| r.outcome == "failed")
            .map(|r| format!("{} ({})", r.found.env, r.error.as_deref().unwrap_or("")))
            .collect();
        if !failed.is_empty() {
            eprintln!(
                "error: could not remove {}; `kat down --env NAME --provider {provider_name}` says what is left",
                failed.join("; ")
            );
            exit = Exit::Failed;
        } else if !args.json {
            let gone: Vec<&str> = rows
                .iter()
                .filter(|r| r.outcome == "reaped")
                .map(|r| r.found.env.as_str())
                .collect();
            if !gone.is_empty() {
                println!("reaped {}", gone.join(", "));
            }
        }
    }
    if args.json {
        let doc = serde_json::json!({
            "schema_version": REAP_SCHEMA_VERSION,
            "provider": provider_name.as_str(),
            "dry_run": args.dry_run,
            "environments": rows,
            "failed": rows.iter().filter(|r| r.outcome == "failed").map(|r| &r.found.env).collect::<Vec<_>>(),
        });
        println!("{doc}");
    }
    Ok(exit)
}

/// Whether the row is named as a fleet's shared environment (`<fleet>-shared`): those go last.
fn is_shared(r: &Reaped) -> bool {
    r.found
        .env
        .strip_suffix(crate::ops::fleet::SHARED_SUFFIX)
        .is_some_and(|f| f.ends_with('-'))
}

/// A fleet's shared environment that would go while a member of its fleet stays (in `staying`
/// outcomes) is held back instead: its VPC cannot be deleted under a cluster, and the member's
/// pods would lose their images' registry. The member's own expiry takes both, members first.
fn hold_shared(rows: &mut [Reaped], staying: &[&str]) {
    let users: Vec<Vec<String>> = rows
        .iter()
        .map(|net| {
            rows.iter()
                .filter(|m| staying.contains(&m.outcome))
                .filter(|m| crate::ops::fleet::uses_shared(&m.found.env, &net.found.env))
                .map(|m| m.found.env.clone())
                .collect()
        })
        .collect();
    for (r, users) in rows.iter_mut().zip(users) {
        if !users.is_empty() && matches!(r.outcome, "reaped" | "would-reap") {
            r.outcome = "held";
            r.held_for = users;
        }
    }
}

fn print_table(rows: &[Reaped], dry_run: bool, provider: kat_provider::ProviderName) {
    println!(
        "{:<24} {:>9} {:<32} {:<22} ACTION",
        "ENVIRONMENT", "AGE", "OWNER", "EXPIRES"
    );
    for r in rows {
        let e = &r.found;
        let age = r
            .age_seconds
            .map(|s| format_duration(s * 1000))
            .unwrap_or_else(|| "?".into());
        let action = match (&r.reason, dry_run) {
            (Some(why), _) if r.outcome == "held" => format!(
                "keep for now ({why}; {} still use it)",
                r.held_for.join(", ")
            ),
            (Some(why), true) => format!("would reap ({why})"),
            (Some(why), false) => format!("reap ({why})"),
            (None, _) => "keep".to_string(),
        };
        println!(
            "{:<24} {:>9} {:<32} {:<22} {action}",
            e.env,
            age,
            e.owner.as_deref().unwrap_or("-"),
            e.expires_at.as_deref().unwrap_or("never"),
        );
    }
    if rows.is_empty() {
        println!("(no environment tagged by kat on {provider})");
    }
}

/// The stateless `down` of one environment; what stopped it, if anything did.
async fn tear_down(
    overrides: &Overrides,
    name: &str,
    reporter: &impl Fn() -> std::sync::Arc<dyn Reporter>,
) -> Option<String> {
    let mut o = overrides.clone();
    o.env = Some(name.to_string());
    let result = async {
        let settings = resolve(&o)?;
        let env = Environment::open(settings, Some("down"), reporter())?;
        down(&env, &RunArgs::default()).await
    }
    .await;
    match result {
        Ok(Exit::Ok) => None,
        Ok(other) => Some(format!("`kat down` ended with exit {}", other.code())),
        Err(e) => Some(e.to_string()),
    }
}

fn confirmed(doomed: &[String]) -> bool {
    use std::io::{BufRead, Write};
    eprint!(
        "Destroy {} environment(s) ({}) and everything in them? [y/N] ",
        doomed.len(),
        doomed.join(", ")
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(env: &str, outcome: &'static str) -> Reaped {
        Reaped {
            found: TaggedEnvironment {
                env: env.into(),
                created_at: None,
                expires_at: None,
                owner: None,
                resources: 1,
            },
            age_seconds: None,
            reason: Some("expired 1m ago".into()),
            outcome,
            held_for: Vec::new(),
            error: None,
        }
    }

    #[test]
    fn a_fleets_shared_environment_is_held_while_a_member_stays_and_goes_with_them() {
        let mut rows = vec![
            row("ws-shared", "reaped"),
            row("ws-01", "reaped"),
            row("ws-02", "kept"),
            row("other-shared", "reaped"),
            row("wsx-01", "kept"),
        ];
        hold_shared(&mut rows, &["kept"]);
        let outcome: Vec<&str> = rows.iter().map(|r| r.outcome).collect();
        assert_eq!(outcome, ["held", "reaped", "kept", "reaped", "kept"]);
        assert_eq!(rows[0].held_for, ["ws-02"]);

        // When every member goes, so does the network; a member whose teardown failed holds it.
        let mut rows = vec![row("ws-shared", "reaped"), row("ws-01", "failed")];
        hold_shared(&mut rows, &["kept"]);
        assert_eq!(rows[0].outcome, "reaped");
        hold_shared(&mut rows, &["kept", "failed"]);
        assert_eq!(rows[0].outcome, "held");
        assert!(is_shared(&rows[0]) && !is_shared(&rows[1]));
    }
}
