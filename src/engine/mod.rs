//! The stage graph engine: stages with explicit dependencies, run concurrently as their
//! dependencies finish, journaled, resumable, interruptible.

mod digest;
mod event;
mod graph;
mod outputs;
mod runner;
mod select;
mod stage;

pub use digest::digest;
pub use event::{
    events_schema, now, Event, EventLine, FleetMemberResult, FleetSummaryLine, Reporter,
    StageResultKind, StageSummary, EVENTS_SCHEMA_VERSION,
};
pub use graph::{GraphError, Node, StageGraph};
pub use outputs::{leaves, lookup, EnvOutputs};
pub use runner::{Engine, RunOptions, RunReport, StageOutcome};
pub use select::{Direction, Selection};
pub use stage::{ComponentStage, Stage};
