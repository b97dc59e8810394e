//! What a run tells the outside world. The same events feed the progress view, the plain log and
//! the JSON stream (`--output json`, one object per line; `kat schema --events` prints its JSON
//! Schema).

use std::collections::BTreeMap;
use std::time::SystemTime;

use kat_provider::Change;
use schemars::JsonSchema;
use serde::Serialize;

use super::outputs::EnvOutputs;

/// The version of the event stream's shape, carried by every event (`schema_version`). Raised
/// whenever a field changes meaning or type, so a consumer can refuse what it does not know.
/// 2: `changes` is a list in `stage_finished` and `summary` alike, with a `changed` count;
/// `summary.outputs` is typed, the labelled prose moved to `summary.shown`.
pub const EVENTS_SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StageResultKind {
    /// Applied or destroyed with at least one change.
    Changed,
    /// Verified or converged with nothing to do.
    Unchanged,
    Failed,
    /// Not started: a dependency failed or was not done.
    Blocked,
    /// Started and stopped at a safe point by Ctrl-C; the next run resumes it.
    Interrupted,
    /// Not started because the run was interrupted first.
    NotStarted,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StageSummary {
    pub stage: String,
    pub result: StageResultKind,
    pub duration_ms: u64,
    /// How many changes were made (`changes.len()`).
    pub changed: usize,
    /// The mutations made, as in `stage_finished`.
    pub changes: Vec<Change>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        ts: String,
        command: String,
        env: String,
        provider: String,
        stages: Vec<String>,
    },
    StageStarted {
        ts: String,
        stage: String,
        /// `apply`, `verify` or `destroy`.
        action: String,
        /// How long an `apply` takes when it has everything to create, when the provider knows
        /// (an EKS control plane: about 15 minutes); for progress bars, not a limit.
        #[serde(skip_serializing_if = "Option::is_none")]
        expected_ms: Option<u64>,
    },
    StageProgress {
        ts: String,
        stage: String,
        message: String,
    },
    StageFinished {
        ts: String,
        stage: String,
        result: StageResultKind,
        duration_ms: u64,
        /// How many changes were made (`changes.len()`).
        changed: usize,
        changes: Vec<Change>,
    },
    StageFailed {
        ts: String,
        stage: String,
        error: String,
        duration_ms: u64,
    },
    StageSkipped {
        ts: String,
        stage: String,
        result: StageResultKind,
        reason: String,
    },
    Warning {
        ts: String,
        message: String,
    },
    Summary {
        ts: String,
        command: String,
        env: String,
        /// `ok`, `no-changes`, `failed` or `interrupted`.
        result: String,
        duration_ms: u64,
        stages: Vec<StageSummary>,
        /// The environment's outputs, typed (empty after `down`).
        outputs: Box<EnvOutputs>,
        /// What the summary table shows a person, label → text.
        shown: BTreeMap<String, String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        leftovers: Vec<String>,
        next: String,
    },
}

pub fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// One line of `--output json`: an event and the version of the stream's shape.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EventLine {
    #[schemars(schema_with = "schema_version")]
    pub schema_version: u32,
    /// The fleet member (`demo-07`) the event is about; absent outside a fleet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    #[serde(flatten)]
    pub event: Event,
}

impl EventLine {
    pub fn new(event: Event) -> Self {
        EventLine {
            schema_version: EVENTS_SCHEMA_VERSION,
            member: None,
            event,
        }
    }
}

fn schema_version(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "integer", "const": EVENTS_SCHEMA_VERSION})
}

/// The last line of a fleet's `--output json`, after every member's own events (each of which
/// carries `member`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FleetSummaryLine {
    #[schemars(schema_with = "schema_version")]
    pub schema_version: u32,
    /// Always `fleet_summary`.
    #[schemars(schema_with = "fleet_summary_tag")]
    pub event: &'static str,
    pub ts: String,
    /// `up` or `down`.
    pub command: String,
    /// The fleet's environment name (its members are `<env>-NN`).
    pub env: String,
    /// `ok` when every member succeeded, else `failed`.
    pub result: String,
    pub duration_ms: u64,
    pub members: Vec<FleetMemberResult>,
    /// The environment holding what the members share (`fleet.share_network`,
    /// `fleet.share_registry`), `<env>-shared`, and how its part went (built before any member
    /// on `up`, removed after the last on `down`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<FleetMemberResult>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FleetMemberResult {
    pub member: String,
    /// `ok` or `failed`.
    pub result: String,
    /// The first line of why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl FleetSummaryLine {
    pub const EVENT: &'static str = "fleet_summary";
}

fn fleet_summary_tag(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "const": FleetSummaryLine::EVENT})
}

/// Any line of the stream: a member's or a single environment's event, or a fleet's summary.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // only its schema is used
enum StreamLine {
    Event(EventLine),
    FleetSummary(FleetSummaryLine),
}

/// The JSON Schema of one line of `--output json`, with the stream's version.
pub fn events_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(StreamLine)).expect("serializes");
    schema["title"] = format!("kat events, version {EVENTS_SCHEMA_VERSION}").into();
    schema["version"] = EVENTS_SCHEMA_VERSION.into();
    schema
}

pub trait Reporter: Send + Sync {
    fn emit(&self, event: Event);
}
