//! Behaviour of the builtin blueprints and the renderer.

mod contract;
mod database;
mod embedded;
mod errors;
mod exposure;
mod support;
mod workloads;
