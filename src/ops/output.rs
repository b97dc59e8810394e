//! `kat output [NAME]`: the environment's recorded outputs for scripts, as `terraform output -raw`
//! gives them: read from the journal only, so it is instant and needs no cloud credentials.

use std::io::Write;

use serde_json::Value;

use super::error::{Exit, KatError};
use super::settings::Settings;
use super::status::{document, Document};
use crate::engine::{leaves, lookup, EnvOutputs};
use crate::state::Journal;

pub fn output(settings: &Settings, name: Option<&str>, format: Document) -> Result<Exit, KatError> {
    let journal = Journal::open(&settings.state_dir, &settings.env)
        .map_err(|e| KatError::Failure(e.to_string()))?;
    if !journal.exists() {
        return Err(KatError::Failure(format!(
            "environment `{}` has no outputs: nothing is recorded at {}; run `kat up` first",
            settings.env,
            journal.path().display()
        )));
    }
    let all = EnvOutputs::from_stages(&journal.snapshot().outputs()).to_value();
    let mut out = std::io::stdout().lock();
    let Some(name) = name else {
        let text = match format {
            Document::Text => leaves(&all)
                .iter()
                .map(|(k, v)| format!("{k} = {}\n", raw(v)))
                .collect(),
            _ => document(&all, format),
        };
        let _ = out.write_all(text.as_bytes());
        return Ok(Exit::Ok);
    };
    let Some(value) = lookup(&all, name) else {
        let known: Vec<String> = leaves(&all).into_keys().collect();
        let known = if known.is_empty() {
            "it has none yet (run `kat up`)".to_string()
        } else {
            format!("it has {}", known.join(", "))
        };
        return Err(KatError::Usage(format!(
            "environment `{}` has no output `{name}`; {known}",
            settings.env
        )));
    };
    let text = match format {
        // Raw, for `$(kat output kubeconfig.path)`: a string without quotes, a section as JSON.
        Document::Text => format!("{}\n", raw(&value)),
        _ => document(&value, format),
    };
    let _ = out.write_all(text.as_bytes());
    Ok(Exit::Ok)
}

fn raw(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
