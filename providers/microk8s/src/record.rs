//! What kat found on the machine before it changed anything, and what it changed: the cluster
//! stage's outputs, and the same in `<state dir>/microk8s.json`, written before each change. The
//! file is what makes `down` exact after an `up` that failed halfway (a failed stage records no
//! outputs, and an `enable` that stopped after two of four addons has still enabled two).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kat_provider::{Outputs, ProviderError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Addons enabled before kat's first `up`.
    pub addons_before: BTreeSet<String>,
    /// Addons kat's `up` enabled (also what microk8s enabled along: the registry's storage).
    #[serde(default)]
    pub enabled_by_kat: BTreeSet<String>,
    #[serde(default)]
    pub installed_by_kat: bool,
    #[serde(default)]
    pub held_by_kat: bool,
    /// The user kat added to the `microk8s` group (over SSH); `down` takes it out again.
    #[serde(default)]
    pub group_joined_by_kat: Option<String>,
}

pub fn file(state_dir: &Path) -> PathBuf {
    state_dir.join("microk8s.json")
}

impl Record {
    /// The stage's recorded outputs, else the file.
    pub fn load(outputs: &Outputs, state_dir: &Path) -> Option<Record> {
        if let Some(before) = outputs.get("addons_before") {
            return Some(Record {
                addons_before: before,
                enabled_by_kat: outputs.get("enabled_by_kat").unwrap_or_default(),
                installed_by_kat: outputs.get("installed_by_kat").unwrap_or(false),
                held_by_kat: outputs.get("held_by_kat").unwrap_or(false),
                group_joined_by_kat: outputs.get("group_joined_by_kat").unwrap_or_default(),
            });
        }
        let text = std::fs::read_to_string(file(state_dir)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Written before the change it is about to allow for is made.
    pub fn save(&self, state_dir: &Path) -> Result<(), ProviderError> {
        let path = file(state_dir);
        let text = serde_json::to_vec_pretty(self).expect("a record serializes");
        std::fs::create_dir_all(state_dir)
            .and_then(|_| kat_provider::fsutil::write_private(&path, &text))
            .map_err(|e| ProviderError::Other(format!("cannot write {}: {e}", path.display())))
    }

    /// After `down` gave everything back.
    pub fn forget(state_dir: &Path) {
        let _ = std::fs::remove_file(file(state_dir));
    }

    pub fn write(&self, o: &mut Outputs) {
        o.set("addons_before", &self.addons_before)
            .set("enabled_by_kat", &self.enabled_by_kat)
            .set("installed_by_kat", self.installed_by_kat)
            .set("held_by_kat", self.held_by_kat)
            .set("group_joined_by_kat", &self.group_joined_by_kat);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_stands_in_for_missing_outputs() {
        let dir = std::env::temp_dir().join(format!("kat-mk8s-record-{}", std::process::id()));
        let r = Record {
            addons_before: ["dns".to_string()].into(),
            enabled_by_kat: ["registry".to_string()].into(),
            installed_by_kat: false,
            held_by_kat: true,
            group_joined_by_kat: Some("ubuntu".into()),
        };
        r.save(&dir).unwrap();
        assert_eq!(Record::load(&Outputs::new(), &dir), Some(r.clone()));
        let mut o = Outputs::new();
        let mut newer = r.clone();
        newer.held_by_kat = false;
        newer.write(&mut o);
        assert_eq!(Record::load(&o, &dir), Some(newer));
        Record::forget(&dir);
        assert_eq!(Record::load(&Outputs::new(), &dir), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
