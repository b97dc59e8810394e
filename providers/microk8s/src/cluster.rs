//! The `cluster` stage: microk8s installed on the pinned channel (or an error with the install
//! command), its refreshes held for the environment's life, ready, and every addon the
//! environment needs enabled in one `microk8s enable`. What was there before kat is recorded, so
//! `down` gives back exactly that: it disables only what kat enabled, releases only a hold kat
//! set, and removes microk8s only when kat installed it and `--purge` asks.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::contract::CLUSTER_VERSION;
use kat_provider::{
    Applied, Change, ChangeAction, Component, OpContext, Outputs, ProviderError, Verified,
};
use serde_json::{json, Value};

use crate::addons;
use crate::cli::Microk8s;
use crate::error::Microk8sError;
use crate::provider::Shared;
use crate::record::Record;
use crate::status::SnapInfo;

pub struct Cluster {
    pub s: Arc<Shared>,
}

impl Cluster {
    fn m(&self) -> &Microk8s {
        &self.s.cli
    }

    fn needed(&self) -> Vec<String> {
        addons::needed(&self.s.req.addons, &self.s.req.own_addons)
    }

    fn state_dir(&self) -> &Path {
        &self.s.req.state_dir
    }

    fn channel(&self) -> &str {
        &self.s.req.config.microk8s.channel
    }

    /// Installed and on the pinned channel.
    async fn installed(&self) -> Result<Option<SnapInfo>, ProviderError> {
        let info = self.m().installed().await?;
        if let Some(i) = &info {
            self.check_channel(i)?;
        }
        Ok(info)
    }

    fn check_channel(&self, info: &SnapInfo) -> Result<(), ProviderError> {
        if info.tracking != self.channel() {
            return Err(Microk8sError::ChannelMismatch {
                place: self.m().place(),
                tracking: info.tracking.clone(),
                pinned: self.channel().to_string(),
                refresh: self.m().refresh_hint(self.channel()),
            }
            .into());
        }
        Ok(())
    }

    /// A user outside the `microk8s` group is added to it when kat may (see
    /// `Shared::may_join_group`), recorded first so `down` takes it out again.
    async fn join_group_if_needed(
        &self,
        cx: &OpContext,
        record: &mut Record,
        changes: &mut Vec<Change>,
    ) -> Result<(), ProviderError> {
        let user = match self.m().status().await {
            Err(Microk8sError::NoPermission { user, .. }) if self.s.may_join_group() => user,
            // Anything else is for the wait that follows to report.
            _ => return Ok(()),
        };
        cx.step(format!(
            "adding {user} to the microk8s group on {} (`usermod -a -G microk8s {user}`, `chown -R {user} ~/.kube`)",
            self.m().place()
        ));
        record.group_joined_by_kat = Some(user.clone());
        record.save(self.state_dir())?;
        self.m().join_group(cx, &user).await?;
        // A new SSH session: the membership applies from here on.
        if let Err(e @ Microk8sError::NoPermission { .. }) = self.m().status().await {
            return Err(e.into());
        }
        changes.push(
            Change::new(ChangeAction::Update, "group/microk8s")
                .with_detail(format!("{user} added (`kat down` removes it)")),
        );
        Ok(())
    }

    /// What installing means here, for plans and steps.
    fn install_detail(&self) -> String {
        let cfg = &self.s.req.config.microk8s;
        if self.m().is_vm() {
            format!(
                "`microk8s install`: a multipass VM with {} cores, {} GB memory, {} GB disk, channel {}, refreshes held",
                cfg.vm.cpus,
                cfg.vm.memory_gb,
                cfg.vm.disk_gb,
                self.channel()
            )
        } else {
            format!("channel {}, refreshes held", self.channel())
        }
    }

    /// `--purge`'s command, and what it leaves.
    fn remove_command(&self) -> &'static str {
        if self.m().is_vm() {
            "microk8s uninstall"
        } else {
            "snap remove microk8s --purge"
        }
    }

    fn remove_consequence(&self) -> &'static str {
        if self.m().is_vm() {
            "it deletes the multipass VM and the cluster's data with it"
        } else {
            "no snapshot of its data is kept"
        }
    }

    fn not_installed(&self) -> ProviderError {
        Microk8sError::NotInstalled {
            place: self.m().place(),
            install: self.m().install_hint(),
        }
        .into()
    }
}

#[async_trait]
impl Component for Cluster {
    fn desired(&self) -> Value {
        json!({
            "host": self.s.req.config.microk8s.host,
            "channel": self.channel(),
            "addons": self.needed(),
            "install": self.s.req.config.microk8s.install,
        })
    }

    async fn plan(&self, _cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        let mut changes = Vec::new();
        let Some(info) = self.installed().await? else {
            if !self.s.req.config.microk8s.install {
                return Err(self.not_installed());
            }
            changes.push(
                Change::new(ChangeAction::Create, "snap/microk8s")
                    .with_detail(self.install_detail()),
            );
            changes.extend(
                self.needed()
                    .into_iter()
                    .map(|a| Change::new(ChangeAction::Create, format!("microk8s-addon/{a}"))),
            );
            return Ok(changes);
        };
        if !info.held {
            changes.push(
                Change::new(ChangeAction::Update, "snap/microk8s").with_detail("hold refreshes"),
            );
        }
        let status = match self.m().status().await {
            Err(Microk8sError::NoPermission { user, .. }) if self.s.may_join_group() => {
                changes.push(
                    Change::new(ChangeAction::Update, "group/microk8s")
                        .with_detail(format!("add {user} (`usermod -a -G microk8s {user}`)")),
                );
                Default::default()
            }
            other => other?,
        };
        changes.extend(
            self.needed()
                .into_iter()
                .filter(|a| !status.enabled.contains(a))
                .map(|a| Change::new(ChangeAction::Create, format!("microk8s-addon/{a}"))),
        );
        Ok(changes)
    }

    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        let mut changes = Vec::new();
        let known = Record::load(&cx.previous, self.state_dir());
        let first = known.is_none();
        let mut record = known.unwrap_or_default();
        cx.step(format!("checking microk8s on {}", self.m().place()));
        let info = match self.installed().await? {
            Some(info) => info,
            None if self.s.req.config.microk8s.install => {
                cx.step(format!(
                    "installing microk8s on {} ({})",
                    self.m().place(),
                    self.install_detail()
                ));
                record.installed_by_kat = true;
                record.save(self.state_dir())?;
                self.m().install(cx, self.channel()).await?;
                changes.push(
                    Change::new(ChangeAction::Create, "snap/microk8s")
                        .with_detail(self.install_detail()),
                );
                self.m()
                    .installed()
                    .await?
                    .ok_or_else(|| ProviderError::Other(format!("installing microk8s on {} finished but microk8s there does not answer as installed", self.m().place())))?
            }
            None => return Err(self.not_installed()),
        };
        if !info.held {
            cx.step("holding microk8s's snap refreshes for the environment's life");
            record.held_by_kat = true;
            record.save(self.state_dir())?;
            self.m().hold(cx).await?;
            changes.push(
                Change::new(ChangeAction::Update, "snap/microk8s")
                    .with_detail("refreshes held (`kat down` releases the hold)"),
            );
        }
        self.join_group_if_needed(cx, &mut record, &mut changes)
            .await?;
        cx.step("waiting for microk8s to be ready");
        let before = self.m().wait_ready(cx).await?;
        if first {
            record.addons_before = before.enabled.clone();
            record.save(self.state_dir())?;
        }
        let missing: Vec<String> = self
            .needed()
            .into_iter()
            .filter(|a| !before.enabled.contains(a))
            .collect();
        let mut status = before.clone();
        if !missing.is_empty() {
            let unknown: Vec<&String> = missing
                .iter()
                .filter(|a| !before.available.is_empty() && !before.available.contains(*a))
                .collect();
            if !unknown.is_empty() {
                return Err(ProviderError::Unsupported {
                    provider: "microk8s".into(),
                    what: format!(
                        "microk8s {} on {} offers no addon {} (channel {}: choose a channel that has it with provider.microk8s.channel)",
                        info.version,
                        self.m().place(),
                        unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                        self.channel()
                    ),
                });
            }
            // Recorded first: an enable that fails halfway has still enabled some.
            record.enabled_by_kat.extend(missing.iter().cloned());
            record.save(self.state_dir())?;
            cx.step(format!("microk8s enable {}", missing.join(" ")));
            self.m().enable(cx, &missing).await?;
            status = self.m().status().await?;
            let still: Vec<&String> = missing
                .iter()
                .filter(|a| !status.enabled.contains(*a))
                .collect();
            if !still.is_empty() {
                return Err(ProviderError::Other(format!(
                    "`microk8s enable` finished but `microk8s status` on {} does not show {} enabled",
                    self.m().place(),
                    still.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
            // What microk8s enabled along (the registry's storage) counts as kat's too.
            for a in status.enabled.difference(&before.enabled) {
                record.enabled_by_kat.insert(a.clone());
            }
            record.save(self.state_dir())?;
            for a in status.enabled.difference(&before.enabled) {
                changes.push(Change::new(
                    ChangeAction::Create,
                    format!("microk8s-addon/{a}"),
                ));
            }
        }
        let mut outputs = Outputs::new();
        record.write(&mut outputs);
        outputs
            .put(&CLUSTER_VERSION, &info.version)
            .set("channel", &info.tracking)
            .set("addons", &status.enabled);
        let held = if self.m().is_vm() {
            "refreshes held, in the installer's multipass VM"
        } else {
            "refreshes held"
        };
        outputs.show(
            "microk8s",
            format!(
                "{} ({}, {held}) on {}",
                info.version,
                info.tracking,
                self.m().place()
            ),
        );
        Ok(Applied { changes, outputs })
    }

    async fn verify(
        &self,
        _cx: &OpContext,
        _recorded: &Outputs,
    ) -> Result<Verified, ProviderError> {
        let Some(info) = self.m().installed().await? else {
            return Ok(Verified::Drifted(format!(
                "microk8s is no longer installed on {}",
                self.m().place()
            )));
        };
        if info.tracking != self.channel() {
            return Ok(Verified::Drifted(format!(
                "microk8s tracks {}, not {}",
                info.tracking,
                self.channel()
            )));
        }
        if !info.held {
            return Ok(Verified::Drifted(
                "microk8s's refreshes are no longer held".into(),
            ));
        }
        let status = match self.m().status().await {
            Ok(s) => s,
            Err(Microk8sError::NotRunning { place }) => {
                return Ok(Verified::Drifted(format!(
                    "microk8s on {place} is not running"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let missing: Vec<String> = self
            .needed()
            .into_iter()
            .filter(|a| !status.enabled.contains(a))
            .collect();
        if !missing.is_empty() {
            return Ok(Verified::Drifted(format!(
                "microk8s addons no longer enabled: {}",
                missing.join(", ")
            )));
        }
        Ok(Verified::Intact)
    }

    async fn plan_destroy(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        let Some(record) = Record::load(&cx.previous, self.state_dir()) else {
            return Ok(Vec::new());
        };
        if self.m().installed().await?.is_none() {
            return Ok(Vec::new());
        }
        let mut changes: Vec<Change> = record
            .enabled_by_kat
            .iter()
            .map(|a| Change::new(ChangeAction::Delete, format!("microk8s-addon/{a}")))
            .collect();
        if record.held_by_kat {
            changes.push(
                Change::new(ChangeAction::Update, "snap/microk8s")
                    .with_detail("release the refresh hold"),
            );
        }
        if let Some(user) = &record.group_joined_by_kat {
            changes.push(
                Change::new(ChangeAction::Update, "group/microk8s")
                    .with_detail(format!("remove {user}")),
            );
        }
        if self.s.req.purge && record.installed_by_kat {
            changes.push(
                Change::new(ChangeAction::Delete, "snap/microk8s")
                    .with_detail(self.remove_command()),
            );
        }
        Ok(changes)
    }

    async fn destroy(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        let Some(record) = Record::load(&cx.previous, self.state_dir()) else {
            cx.warn(format!(
                "no record of which microk8s addons kat enabled on {}; they are left as they are",
                self.m().place()
            ));
            return Ok(Applied::default());
        };
        let Some(info) = self.m().installed().await? else {
            cx.step(format!("microk8s is not installed on {}", self.m().place()));
            Record::forget(self.state_dir());
            return Ok(Applied::default());
        };
        let mut changes = Vec::new();
        if !record.enabled_by_kat.is_empty() {
            let status = self.m().status().await?;
            let still: BTreeSet<String> = record
                .enabled_by_kat
                .intersection(&status.enabled)
                .cloned()
                .collect();
            if !still.is_empty() {
                let args = addons::disable_args(&still);
                cx.step(format!("microk8s disable {}", args.join(" ")));
                self.m().disable(cx, &args).await?;
                changes.extend(
                    still
                        .iter()
                        .map(|a| Change::new(ChangeAction::Delete, format!("microk8s-addon/{a}"))),
                );
            }
        }
        if record.held_by_kat && info.held {
            cx.step("releasing the snap refresh hold kat set");
            self.m().unhold(cx).await?;
            changes.push(
                Change::new(ChangeAction::Update, "snap/microk8s")
                    .with_detail("refresh hold released"),
            );
        }
        if let Some(user) = &record.group_joined_by_kat {
            cx.step(format!(
                "removing {user} from the microk8s group on {} (kat added it)",
                self.m().place()
            ));
            self.m().leave_group(cx, user).await?;
            changes.push(
                Change::new(ChangeAction::Update, "group/microk8s")
                    .with_detail(format!("{user} removed")),
            );
        }
        if self.s.req.purge {
            if record.installed_by_kat {
                cx.warn(format!(
                    "--purge: removing microk8s from {} (kat installed it): `{}`, {}",
                    self.m().place(),
                    self.remove_command(),
                    self.remove_consequence()
                ));
                self.m().remove(cx).await?;
                changes.push(
                    Change::new(ChangeAction::Delete, "snap/microk8s")
                        .with_detail("removed with --purge"),
                );
            } else {
                cx.warn(format!(
                    "--purge: microk8s on {} was installed before kat, so it stays",
                    self.m().place()
                ));
            }
        }
        Record::forget(self.state_dir());
        Ok(Applied {
            changes,
            outputs: Outputs::new(),
        })
    }
}
