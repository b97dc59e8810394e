//! Behaviour of the builtin blueprints and the renderer.

mod database;
mod errors;
mod exposure;
mod support;
mod workloads;
