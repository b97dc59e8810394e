//! kat: build a complete, reproducible Kubernetes environment in one command, and tear it down.
//!
//! The binary (`src/main.rs`) is a thin command layer; the work lives here so that tests and
//! benchmarks drive the same code.

pub mod addons;
pub mod blueprint;
pub mod cli;
pub mod config;
pub mod engine;
pub mod handout;
pub mod images;
pub mod kube;
pub mod ops;
pub mod password;
pub mod report;
pub mod stages;
pub mod state;
pub mod ui;
