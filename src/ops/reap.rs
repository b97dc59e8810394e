//! `kat reap`: environments found by their tags alone (no journal: the CI runner that made one is
//! long gone), listed with age, owner and expiry; the expired ones torn down by the same
//! stateless `down` and sweep a person would run.

use std::time::{Duration, SystemTime};

use kat_provider::{OpContext, TaggedEnvironment};

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
    println!(
        "{:<24} {:>9} {:<32} {:<22} ACTION",
        "ENVIRONMENT", "AGE", "OWNER", "EXPIRES"
    );
    let mut doomed = Vec::new();
    for e in &found {
        let created = e
            .created_at
            .as_deref()
            .and_then(|s| humantime::parse_rfc3339_weak(s).ok());
        let age = created
            .map(|c| format_duration(age_ms(c, now)))
            .unwrap_or_else(|| "?".into());
        let why = expired(e, now, args.older_than);
        let action = match (&why, args.dry_run) {
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
        if why.is_some() {
            doomed.push(e.env.clone());
        }
    }
    if found.is_empty() {
        println!("(no environment tagged by kat on {provider_name})");
    }
    if args.dry_run || doomed.is_empty() {
        return Ok(Exit::Ok);
    }
    if args.confirm && !confirmed(&doomed) {
        eprintln!("nothing was changed");
        return Ok(Exit::Usage);
    }
    let mut failed = Vec::new();
    for name in &doomed {
        let mut o = overrides.clone();
        o.env = Some(name.clone());
        let result = async {
            let settings = resolve(&o)?;
            let env = Environment::open(settings, Some("down"), reporter())?;
            down(&env, &RunArgs::default()).await
        }
        .await;
        match result {
            Ok(Exit::Ok) => {}
            Ok(other) => failed.push(format!(
                "{name} (`kat down` ended with exit {})",
                other.code()
            )),
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    if failed.is_empty() {
        println!("reaped {}", doomed.join(", "));
        Ok(Exit::Ok)
    } else {
        eprintln!(
            "error: could not remove {}; `kat down --env NAME --provider {provider_name}` says what is left",
            failed.join("; ")
        );
        Ok(Exit::Failed)
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
