//! kat.yaml: the typed model, loading with precise error locations, and the JSON Schema.

mod duration;
mod error;
mod load;
mod locate;
mod model;

pub use error::ConfigError;
pub use load::{load_file, parse_str, ConfigSource};
pub use locate::locate;
pub use model::*;
