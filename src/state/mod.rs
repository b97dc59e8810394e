//! The per-environment journal (`.kat/<env>/state.json`) and the lock that makes one run at a time.

mod atomic;
mod journal;
mod lock;

pub use atomic::write_atomic;
pub use journal::{Journal, RunRecord, StageRecord, StageStatus, StateFile};
pub use lock::{EnvLock, LockError, LockHolder};
