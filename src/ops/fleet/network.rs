//! A fleet's shared network (`fleet.share_network`): the environment `<env>-net`, built up to its
//! network stage before any member and taken down after the last one, whose network every member
//! takes as a network of the user's own (the provider's bring-your-own keys). Members then neither
//! create nor delete a network; tearing the network down while a member still uses it would fail
//! on what the member keeps in it, so kat does not try.

use std::sync::Arc;

use kat_provider::{Outputs, Provider, Role};

use super::members::{self, Member};
use super::record;
use crate::engine::Reporter;
use crate::ops::environment::Environment;
use crate::ops::error::KatError;
use crate::ops::run::RunArgs;
use crate::ops::settings::Settings;

/// The network environment an `up` of this configuration builds first, if it shares one.
pub fn planned(settings: &Settings) -> Option<Member> {
    settings
        .config
        .fleet
        .as_ref()
        .is_some_and(|f| f.share_network)
        .then(|| members::network(settings))
}

/// The network environment `down` and `status` act on: as `fleet.json` records it, else as the
/// configuration describes it.
pub fn known(settings: &Settings) -> Result<Option<Member>, KatError> {
    match record::load(&settings.state_dir).map_err(KatError::Failure)? {
        Some(r) => Ok(r.network.map(|_| members::network(settings))),
        None => Ok(planned(settings)),
    }
}

/// `share_network` switched on or off under members that exist: refused. A member's cluster
/// cannot move to another network (EKS fixes a cluster's subnets at creation), and the member
/// would stop deleting the network it made, or start making one beside the cluster.
pub fn check_switch(settings: &Settings, planned: Option<&Member>) -> Result<(), KatError> {
    let Some(rec) = record::load(&settings.state_dir).map_err(KatError::Failure)? else {
        return Ok(());
    };
    if rec.members.is_empty() {
        return Ok(());
    }
    let flag = settings.env_flag();
    let why = match (planned, &rec.network) {
        (Some(_), None) => {
            "`fleet.share_network` is on, but the fleet's members were made with a network each"
        }
        (None, Some(_)) => {
            "`fleet.share_network` is off, but the fleet's members were made in one shared network"
        }
        _ => return Ok(()),
    };
    Err(KatError::Config(settings.source.error_at(
        "fleet.share_network",
        format!(
            "{why} ({}); a cluster cannot move to another network: set it back, or take the fleet down first (`kat down{flag}`)",
            rec.members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    )))
}

/// The network environment's own run: on `up` only as far as its network stage.
pub fn args_for(args: &RunArgs, up: bool) -> RunArgs {
    let mut a = args.clone();
    a.selection = Default::default();
    if up {
        a.selection.until = Some(Role::Network.as_str().to_string());
    }
    a
}

/// What the network environment's network stage recorded, with the provider that hands it to
/// the members.
pub struct Recorded {
    /// The network environment's name.
    pub owner: String,
    pub provider: Arc<dyn Provider>,
    pub outputs: Outputs,
}

/// `None`: the network stage recorded nothing (never built, or its state is gone).
pub fn recorded(net: &Member, reporter: Arc<dyn Reporter>) -> Result<Option<Recorded>, KatError> {
    let env = Environment::open(net.settings.clone(), None, reporter)?;
    let outputs = env.engine.journal.snapshot().outputs();
    Ok(outputs
        .get(Role::Network.as_str())
        .cloned()
        .map(|outputs| Recorded {
            owner: net.name.clone(),
            provider: env.provider.clone(),
            outputs,
        }))
}

/// Every member made to build in the shared network. A member the provider cannot move into it
/// is taken out of `members` and returned with why, to be reported as failed.
pub fn adopt(net: &Recorded, members: &mut Vec<Member>) -> Vec<(Member, String)> {
    let mut refused = Vec::new();
    for mut m in std::mem::take(members) {
        let config = &mut m.settings.config.provider;
        match net.provider.adopt_network(&net.owner, &net.outputs, config) {
            Ok(()) => members.push(m),
            Err(e) => refused.push((m, e.to_string())),
        }
    }
    refused
}

/// `status` of a fleet that shares a network: members shown as they are built, in the network
/// the network environment recorded (a member the provider cannot move into it keeps its own
/// configuration, and its status says how that differs).
pub fn adopt_for_status(
    net: &Member,
    members: &mut Vec<Member>,
    reporter: Arc<dyn Reporter>,
) -> Result<(), KatError> {
    if let Some(r) = recorded(net, reporter)? {
        for (m, _) in adopt(&r, members) {
            members.push(m);
        }
        members.sort_by_key(|m| m.index);
    }
    Ok(())
}
