//! `sim`: a provider whose cloud lives in a file. Every operation takes the latency its profile
//! gives (times a scale), resources keep "creating" while kat is not running (their ready time is
//! wall-clock), and faults can be injected: a failing operation, the N-th mutating call, a random
//! error rate, an operation that never finishes. Tests and benchmarks drive the real engine with it.

mod account;
mod cloud;
mod components;
mod environments;
mod faults;
mod profile;
mod provider;
mod workloads;
mod world;

pub use account::throttles;
pub use profile::{ApiRateLimit, Profile, ProfileError, API_RATE_LIMIT_KEY};
pub use provider::SimProvider;
pub use world::{CallRecord, World, WorldResource};
