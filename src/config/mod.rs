//! kat.yaml: the typed model, loading with precise error locations, and the JSON Schema.

mod duration;
mod error;
mod fleet;
mod images;
mod load;
mod locate;
mod model;
mod shorthand;

pub use error::{ConfigError, Located};
pub use fleet::{FleetConfig, FleetQuota, FleetShape};
pub use images::{BuildResources, ImagesConfig};
pub use load::{load_file, parse_str, ConfigSource};
pub use locate::locate;
pub use model::*;

/// A complete, commented kat.yaml (written by `kat init`).
pub const EXAMPLE: &str = include_str!("kat.example.yaml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_parses_and_sets_what_it_says() {
        let cfg = parse_str(&ConfigSource {
            path: Some("kat.yaml".into()),
            text: EXAMPLE.into(),
        })
        .unwrap();
        assert_eq!(cfg.environment.as_deref(), Some("demo"));
        assert_eq!(cfg.provider.name, Some(ProviderName::Sim));
        assert_eq!(cfg.database.mode, DatabaseMode::Managed);
        assert!(cfg.addons.cert_manager.enabled && !cfg.addons.monitoring.enabled);
        assert_eq!(
            cfg.timeouts.for_stage("cluster"),
            std::time::Duration::from_secs(40 * 60)
        );
    }
}
