//! The per-environment journal (`.kat/<env>/state.json`), the lock that makes one run at a time,
//! and the turns a fleet's members take at work they share.

mod atomic;
mod journal;
mod lock;
mod turn;

pub use atomic::write_atomic;
pub use journal::{Journal, RunRecord, StageRecord, StageStatus, StateFile};
pub use lock::{EnvLock, LockError, LockHolder};
pub use turn::{Turn, TurnError};
