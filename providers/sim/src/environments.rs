//! Where `environments` finds the simulated cloud's environments: every world file beside this
//! environment's (one per environment, as a real account holds many), read as they are on disk.

use std::path::PathBuf;

use kat_provider::ProviderError;

use crate::world::World;

pub enum Worlds {
    /// `.kat/.sim-cloud/`: one `<env>.json` per environment.
    Dir(PathBuf),
    /// `provider.sim.world`: one file, named in kat.yaml.
    File(PathBuf),
}

pub fn load_worlds(worlds: &Worlds) -> Result<Vec<World>, ProviderError> {
    let read = |p: &std::path::Path| {
        World::load(p).map_err(|e| {
            ProviderError::Other(format!(
                "cannot read the simulated cloud {}: {e}",
                p.display()
            ))
        })
    };
    match worlds {
        Worlds::File(file) => Ok(vec![read(file)?]),
        Worlds::Dir(dir) => {
            let entries = match std::fs::read_dir(dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => {
                    return Err(ProviderError::Other(format!(
                        "cannot list the simulated cloud in {}: {e}",
                        dir.display()
                    )))
                }
            };
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            files.sort();
            files.iter().map(|p| read(p)).collect()
        }
    }
}
