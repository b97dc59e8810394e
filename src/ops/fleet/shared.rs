//! A fleet's shared environment (`fleet.share_network`, `fleet.share_registry`): `<env>-shared`,
//! built only as far as the shared stages before any member, and taken down after the last one.
//! Every member takes its network as a network of the user's own (the provider's bring-your-own
//! keys) and its registry as a registry of the user's (`registry.url`, mirrored into: a copy
//! already there is found and not sent again). Members then neither create nor delete either;
//! tearing them down while a member still uses them would fail on what the member keeps in the
//! network, or leave its pods without images, so kat does not try.

use std::sync::Arc;

use kat_provider::{Outputs, Provider, Role};

use super::members::{self, Member};
use super::record;
use crate::engine::Reporter;
use crate::ops::environment::Environment;
use crate::ops::error::KatError;
use crate::ops::run::RunArgs;
use crate::ops::settings::Settings;

/// What the configuration shares, as stage names: `network`, `registry`.
pub fn parts(settings: &Settings) -> Vec<String> {
    let Some(f) = settings.config.fleet.as_ref() else {
        return Vec::new();
    };
    [
        (f.share_network, Role::Network),
        (f.share_registry, Role::Registry),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, role)| role.as_str().to_string())
    .collect()
}

/// A fleet's shared environment and what it holds for the members.
#[derive(Clone)]
pub struct Shared {
    pub env: Member,
    /// Stage names: `network`, `registry`.
    pub parts: Vec<String>,
}

impl Shared {
    /// What it holds, for a sentence: `network`, `registry`, `network and registry`.
    pub fn what(&self) -> String {
        self.parts.join(" and ")
    }
}

/// The shared environment an `up` of this configuration builds first, if it shares anything.
pub fn planned(settings: &Settings) -> Option<Shared> {
    let parts = parts(settings);
    (!parts.is_empty()).then(|| Shared {
        env: members::shared(settings, None),
        parts,
    })
}

/// The shared environment `down` and `status` act on: as `fleet.json` records it, else as the
/// configuration describes it.
pub fn known(settings: &Settings) -> Result<Option<Shared>, KatError> {
    match record::load(&settings.state_dir).map_err(KatError::Failure)? {
        Some(r) => Ok(r.shared.map(|name| Shared {
            env: members::shared(settings, Some(&name)),
            parts: r.shares,
        })),
        None => Ok(planned(settings)),
    }
}

/// Sharing switched on or off under members that exist: refused. A member's cluster cannot move
/// to another network (EKS fixes a cluster's subnets at creation), and its pods run images from
/// the registry they were made with; the member would also stop deleting what it made, or start
/// making one of its own beside the shared one.
pub fn check_switch(settings: &Settings) -> Result<(), KatError> {
    let Some(rec) = record::load(&settings.state_dir).map_err(KatError::Failure)? else {
        return Ok(());
    };
    if rec.members.is_empty() {
        return Ok(());
    }
    let now = parts(settings);
    let before = &rec.shares;
    let flag = settings.env_flag();
    for part in [Role::Network.as_str(), Role::Registry.as_str()] {
        let key = format!("fleet.share_{part}");
        let (on, was) = (
            now.iter().any(|p| p == part),
            before.iter().any(|p| p == part),
        );
        let why = match (on, was) {
            (true, false) => {
                format!("`{key}` is on, but the fleet's members were made with a {part} each")
            }
            (false, true) => {
                format!("`{key}` is off, but the fleet's members were made with one shared {part}")
            }
            _ => continue,
        };
        return Err(KatError::Config(settings.source.error_at(
            &key,
            format!(
                "{why} ({}); a member cannot move to another {part}: set it back, or take the fleet down first (`kat down{flag}`)",
                rec.members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )));
    }
    Ok(())
}

/// The stages the shared environment's `up` runs, of those its graph has: the shared `parts`,
/// and with the registry the images stage that fills it (absent when the blueprint runs no
/// published image).
pub fn stages(shared: &Shared, graph: &[String]) -> Vec<String> {
    let mut wanted = shared.parts.clone();
    if wanted.iter().any(|p| p == Role::Registry.as_str()) {
        wanted.push(crate::stages::IMAGES_STAGE.to_string());
    }
    wanted.retain(|s| graph.contains(s));
    wanted
}

/// The shared environment's own run: on `up` only its shared stages (chosen once its graph is
/// known, by [`stages`]); on `down` all of it.
pub fn args_for(args: &RunArgs) -> RunArgs {
    let mut a = args.clone();
    a.selection = Default::default();
    a
}

/// What the shared environment recorded, with the provider that hands its network to the members.
pub struct Recorded {
    /// The shared environment's name.
    pub owner: String,
    pub provider: Arc<dyn Provider>,
    /// The network stage's outputs, when the network is shared and was made.
    pub network: Option<Outputs>,
    /// Where the registry stage put the repositories (`<registry>/kat-<env>-shared`), when the
    /// registry is shared and was made.
    pub registry: Option<String>,
}

impl Recorded {
    /// Whether every shared part is recorded (not so before the first `up`, or in a dry run).
    pub fn complete(&self, shared: &Shared) -> bool {
        shared.parts.iter().all(|p| {
            (p != Role::Network.as_str() || self.network.is_some())
                && (p != Role::Registry.as_str() || self.registry.is_some())
        })
    }
}

/// What the shared environment's stages recorded of the parts it shares.
pub fn recorded(shared: &Shared, reporter: Arc<dyn Reporter>) -> Result<Recorded, KatError> {
    let env = Environment::open(shared.env.settings.clone(), None, reporter)?;
    let outputs = env.engine.journal.snapshot().outputs();
    let wanted = |role: Role| shared.parts.iter().any(|p| p == role.as_str());
    Ok(Recorded {
        owner: shared.env.name.clone(),
        provider: env.provider.clone(),
        network: outputs
            .get(Role::Network.as_str())
            .filter(|_| wanted(Role::Network))
            .cloned(),
        registry: outputs
            .get(Role::Registry.as_str())
            .filter(|_| wanted(Role::Registry))
            .and_then(|o| o.get::<String>("prefix")),
    })
}

/// Every member made to build in the shared network and to run its images from the shared
/// registry. A member the provider cannot move into the network is taken out of `members` and
/// returned with why, to be reported as failed.
pub fn adopt(shared: &Recorded, members: &mut Vec<Member>) -> Vec<(Member, String)> {
    let mut refused = Vec::new();
    for mut m in std::mem::take(members) {
        if let Some(prefix) = &shared.registry {
            let cfg = &mut m.settings.config;
            // A registry of the user's, mirrored into: the member makes none and deletes none.
            cfg.registry.enabled = false;
            cfg.registry.url = Some(prefix.clone());
            cfg.registry.mirror = Some(true);
            // Built where the member would have built into a registry of its own.
            cfg.images
                .build
                .get_or_insert(shared.provider.capabilities().registry_push);
        }
        if let Some(outputs) = &shared.network {
            let config = &mut m.settings.config.provider;
            if let Err(e) = shared
                .provider
                .adopt_network(&shared.owner, outputs, config)
            {
                refused.push((m, e.to_string()));
                continue;
            }
        }
        members.push(m);
    }
    refused
}

/// `status` of a fleet that shares: members shown as they are built, with what the shared
/// environment recorded (a member the provider cannot move into the network keeps its own
/// configuration, and its status says how that differs).
pub fn adopt_for_status(
    shared: &Shared,
    members: &mut Vec<Member>,
    reporter: Arc<dyn Reporter>,
) -> Result<(), KatError> {
    let r = recorded(shared, reporter)?;
    for (m, _) in adopt(&r, members) {
        members.push(m);
    }
    members.sort_by_key(|m| m.index);
    Ok(())
}
