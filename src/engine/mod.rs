//! The stage graph engine: stages with explicit dependencies, run concurrently as their
//! dependencies finish, journaled, resumable, interruptible.

mod digest;
mod event;
mod graph;
mod runner;
mod select;
mod stage;

pub use digest::digest;
pub use event::{now, Event, Reporter, StageResultKind, StageSummary};
pub use graph::{GraphError, Node, StageGraph};
pub use runner::{Engine, RunOptions, RunReport, StageOutcome};
pub use select::{Direction, Selection};
pub use stage::{ComponentStage, Stage};
