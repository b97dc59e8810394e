//! kat's Azure provider. One component per role of the graph, one file per kind of Azure
//! resource: find it by name and tags, diff, converge; `down` finds everything again by the
//! `kat:environment` tag, so it needs no local state. ARM is reached through kat's own small
//! client (src/arm.rs); only the credentials come from the Azure SDK (azure_identity).

mod acr_auth;
mod arm;
mod cluster;
mod credential;
mod database;
mod environments;
mod error;
mod http;
mod kubeconfig;
mod names;
mod network;
mod nodes;
mod preflight;
mod provider;
mod registry;
mod shared;
mod sweep;
mod vault;

pub use provider::AksProvider;
