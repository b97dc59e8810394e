//! The work behind each command. Commands in `src/cli/commands/` parse arguments and call these.

mod environment;
mod error;
mod fetch;
pub mod fleet;
mod images;
mod init_defaults;
mod kubeconfig_merge;
mod output;
mod plan;
mod providers;
mod reap;
mod report;
mod run;
mod settings;
mod signal;
mod status;

pub use environment::{whoami, Environment};
pub use error::{Exit, KatError};
pub use fetch::fetch_bundle;
pub use images::{images, update_image_pins};
pub use kubeconfig_merge::{merge_into, remove_from, user_kubeconfig};
pub use output::output;
pub use plan::{plan, PlanArgs};
pub use providers::{built_in, create_provider, list_providers};
pub use reap::{expired, reap, Quiet, ReapArgs, Reaped, REAP_SCHEMA_VERSION};
pub use report::{report, ReportFormat};
pub use run::{down, forget, up, RunArgs};
pub use settings::{resolve, Overrides, Settings};
pub use status::{exec_kubeconfig, kubeconfig_path, render_blueprint, status, Document};
