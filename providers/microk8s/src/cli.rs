//! The `microk8s` and `snap` commands kat runs, typed: each reads or changes one thing and turns
//! microk8s's own messages (permissions, not running, busy) into errors that say what to do.
//! Mutating commands check the run's deadline and Ctrl-C first, and are logged at debug level.

use std::sync::Arc;
use std::time::Duration;

use kat_provider::{Microk8sConfig, Microk8sVm, OpContext, ProviderError};

use crate::error::Microk8sError;
use crate::platform::Platform;
use crate::runner::{command_line, shell_quote, Output, Runner};
use crate::status::{self, SnapInfo, Status};

pub const SNAP: &str = "microk8s";
/// The multipass instance canonical's installer (`microk8s install`) creates.
pub const VM_NAME: &str = "microk8s-vm";

#[derive(Clone)]
pub struct Microk8s {
    runner: Arc<dyn Runner>,
    prefix: Vec<String>,
    snap_prefix: Vec<String>,
    timeout: Duration,
    ready_timeout: Duration,
    /// The pinned channel, for the install command in messages.
    channel: String,
    /// macOS/Windows: the VM `microk8s install` creates; `None` for the snap.
    vm: Option<Microk8sVm>,
}

impl Microk8s {
    pub fn new(runner: Arc<dyn Runner>, cfg: &Microk8sConfig, platform: Platform) -> Self {
        let snap_prefix = cfg.snap_prefix.clone().unwrap_or_else(|| {
            if runner.is_root() {
                Vec::new()
            } else {
                vec!["sudo".into(), "-n".into()]
            }
        });
        Microk8s {
            runner,
            prefix: cfg.command_prefix.clone(),
            snap_prefix,
            timeout: Duration::from_secs(cfg.command_timeout),
            ready_timeout: Duration::from_secs(cfg.ready_timeout),
            channel: cfg.channel.clone(),
            vm: (platform == Platform::Vm).then(|| cfg.vm.clone()),
        }
    }

    /// microk8s runs in the installer's multipass VM (macOS, Windows).
    pub fn is_vm(&self) -> bool {
        self.vm.is_some()
    }

    /// What a user runs to move microk8s here to `channel`, as messages show it.
    pub fn refresh_hint(&self, channel: &str) -> String {
        let inner = format!("sudo snap refresh {SNAP} --channel={channel}");
        match &self.vm {
            Some(_) => format!("multipass exec {VM_NAME} -- {inner}"),
            None => inner,
        }
    }

    /// What a user runs to install microk8s here, on the pinned channel, as messages show it.
    pub fn install_hint(&self) -> String {
        match &self.vm {
            None => format!("`{}`", install_command(&self.channel)),
            Some(vm) => format!(
                "`{}` (the `microk8s` installer comes from `brew install ubuntu/microk8s/microk8s` on macOS, from microk8s.io on Windows)",
                vm_install_args(vm, &self.channel).join(" ")
            ),
        }
    }

    pub fn place(&self) -> String {
        self.runner.place()
    }

    pub fn runner(&self) -> &Arc<dyn Runner> {
        &self.runner
    }

    /// `prefix + command`; a prefix ending in `-c` (`sg microk8s -c`) takes the command as one
    /// shell-quoted argument.
    fn with_prefix(prefix: &[String], command: &[&str]) -> Vec<String> {
        let command: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        match prefix.last().map(String::as_str) {
            Some("-c") => {
                let mut argv = prefix.to_vec();
                argv.push(
                    command
                        .iter()
                        .map(|a| shell_quote(a))
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                argv
            }
            _ => prefix.iter().cloned().chain(command).collect(),
        }
    }

    async fn microk8s(&self, args: &[&str], timeout: Duration) -> Result<Output, Microk8sError> {
        let mut command = vec!["microk8s"];
        command.extend_from_slice(args);
        let argv = Self::with_prefix(&self.prefix, &command);
        tracing::debug!(place = %self.place(), command = %command_line(&argv), "microk8s");
        let out = self.runner.run(&argv, timeout).await?;
        self.common_failures(&argv, &out)?;
        Ok(out)
    }

    /// What any microk8s command may answer instead of doing its job.
    fn common_failures(&self, argv: &[String], out: &Output) -> Result<(), Microk8sError> {
        let text = out.text();
        if out.code == Some(127) {
            return Err(Microk8sError::NotInstalled {
                place: self.place(),
                install: self.install_hint(),
            });
        }
        if status::is_permission_denied(&text) {
            return Err(Microk8sError::NoPermission {
                user: status::user_in_permission_message(&text)
                    .unwrap_or_else(|| self.runner.user()),
                place: self.place(),
            });
        }
        if is_sudo_password(&text) {
            return Err(Microk8sError::SudoPassword {
                command: command_line(argv),
                place: self.place(),
            });
        }
        Ok(())
    }

    fn failed(&self, argv: &[String], out: &Output) -> Microk8sError {
        Microk8sError::Failed {
            command: command_line(argv),
            place: self.place(),
            status: out.status(),
            message: out.last_line(),
            busy: status::is_busy(&out.text()),
        }
    }

    async fn snap(&self, args: &[&str], mutating: bool) -> Result<Output, Microk8sError> {
        let mut command = vec!["snap"];
        command.extend_from_slice(args);
        let argv = if self.vm.is_some() {
            // The installer's VM: its snap through multipass, as its default user (who has
            // passwordless sudo there).
            let mut inside = vec!["multipass", "exec", VM_NAME, "--"];
            if mutating {
                inside.push("sudo");
            }
            inside.extend(&command);
            inside.iter().map(|s| s.to_string()).collect()
        } else {
            let prefix: &[String] = if mutating { &self.snap_prefix } else { &[] };
            Self::with_prefix(prefix, &command)
        };
        tracing::debug!(place = %self.place(), command = %command_line(&argv), "snap");
        let out = self.runner.run(&argv, self.timeout).await?;
        if out.code == Some(127) && self.vm.is_some() {
            return Err(Microk8sError::NoMultipass {
                place: self.place(),
                command: command_line(&argv),
                message: out.last_line(),
            });
        }
        if out.code == Some(127) {
            return Err(Microk8sError::NoSnap {
                place: self.place(),
                command: command_line(&argv),
                message: out.last_line(),
            });
        }
        if is_sudo_password(&out.text()) {
            return Err(Microk8sError::SudoPassword {
                command: command_line(&command.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
                place: self.place(),
            });
        }
        if !out.ok() {
            return Err(self.failed(&argv, &out));
        }
        Ok(out)
    }

    /// A system command with the snap prefix (sudo unless root there): `usermod`, `chown`.
    async fn privileged(&self, command: &[&str]) -> Result<Output, Microk8sError> {
        let argv = Self::with_prefix(&self.snap_prefix, command);
        tracing::debug!(place = %self.place(), command = %command_line(&argv), "system");
        let out = self.runner.run(&argv, self.timeout).await?;
        if is_sudo_password(&out.text()) {
            let plain: Vec<String> = command.iter().map(|s| s.to_string()).collect();
            return Err(Microk8sError::SudoPassword {
                command: command_line(&plain),
                place: self.place(),
            });
        }
        if !out.ok() {
            return Err(self.failed(&argv, &out));
        }
        Ok(out)
    }

    /// Adds the login user to the `microk8s` group, and gives it back `~/.kube` (which `sudo
    /// microk8s` runs leave owned by root), as microk8s's install guide does. Only a new login
    /// session has the group: over SSH every command is one, so the next command has it.
    pub async fn join_group(&self, cx: &OpContext, user: &str) -> Result<(), ProviderError> {
        cx.check("adding the user to the microk8s group")?;
        self.privileged(&["usermod", "-a", "-G", "microk8s", user])
            .await?;
        let home = self
            .runner
            .run(&["printenv".into(), "HOME".into()], self.timeout)
            .await?;
        let home = home.stdout.trim();
        if home.is_empty() {
            return Ok(());
        }
        let kube = format!("{home}/.kube");
        let exists = self
            .runner
            .run(&["test".into(), "-d".into(), kube.clone()], self.timeout)
            .await?;
        if exists.ok() {
            self.privileged(&["chown", "-R", user, &kube]).await?;
        }
        Ok(())
    }

    /// Takes `user` out of the `microk8s` group again.
    pub async fn leave_group(&self, cx: &OpContext, user: &str) -> Result<(), ProviderError> {
        cx.check("removing the user from the microk8s group")?;
        self.privileged(&["gpasswd", "-d", user, "microk8s"])
            .await?;
        Ok(())
    }

    /// `snap list microk8s` (the VM: `microk8s version`); `None` when it is not installed.
    pub async fn installed(&self) -> Result<Option<SnapInfo>, Microk8sError> {
        if self.vm.is_some() {
            return self.vm_installed().await;
        }
        match self.snap(&["list", SNAP], false).await {
            Ok(out) => Ok(status::parse_snap_list(&out.stdout)),
            Err(Microk8sError::Failed { message, .. })
                if message.contains("no matching snaps installed") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The installer answers every command but `install` with nothing (exit 0) while there is
    /// no VM, and with "not running" while the VM is stopped. The snap inside the VM (its
    /// channel, its hold) is read through multipass, as on any machine.
    async fn vm_installed(&self) -> Result<Option<SnapInfo>, Microk8sError> {
        let out = self.microk8s(&["version"], self.timeout).await?;
        if status::parse_version(&out.stdout).is_some() {
            let list = self.snap(&["list", SNAP], false).await?;
            return Ok(status::parse_snap_list(&list.stdout));
        }
        if status::is_not_running(&out.text()) {
            return Err(Microk8sError::NotRunning {
                place: self.place(),
            });
        }
        Ok(None)
    }

    pub async fn install(&self, cx: &OpContext, channel: &str) -> Result<(), ProviderError> {
        cx.check("installing microk8s")?;
        if let Some(vm) = &self.vm {
            let argv = vm_install_args(vm, channel);
            let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
            let out = self.microk8s(&args, self.timeout).await?;
            if !out.ok() {
                return Err(self.failed(&argv, &out).into());
            }
            return Ok(());
        }
        let channel = format!("--channel={channel}");
        self.snap(&["install", SNAP, "--classic", &channel], true)
            .await?;
        Ok(())
    }

    pub async fn hold(&self, cx: &OpContext) -> Result<(), ProviderError> {
        cx.check("holding microk8s's refreshes")?;
        self.snap(&["refresh", "--hold", SNAP], true).await?;
        Ok(())
    }

    pub async fn unhold(&self, cx: &OpContext) -> Result<(), ProviderError> {
        cx.check("releasing microk8s's refresh hold")?;
        self.snap(&["refresh", "--unhold", SNAP], true).await?;
        Ok(())
    }

    /// `--purge`: no snapshot of the cluster's data (gigabytes) is kept.
    /// The VM: `microk8s uninstall`, which deletes the VM and everything in it.
    pub async fn remove(&self, cx: &OpContext) -> Result<(), ProviderError> {
        cx.check("removing microk8s")?;
        if self.vm.is_some() {
            let out = self.microk8s(&["uninstall"], self.timeout).await?;
            if !out.ok() {
                return Err(self
                    .failed(&["microk8s".into(), "uninstall".into()], &out)
                    .into());
            }
            return Ok(());
        }
        self.snap(&["remove", SNAP, "--purge"], true).await?;
        Ok(())
    }

    /// `microk8s status --format yaml`, without waiting.
    pub async fn status(&self) -> Result<Status, Microk8sError> {
        let args = ["status", "--format", "yaml"];
        let out = self.microk8s(&args, self.timeout).await?;
        self.read_status(&args, out)
    }

    /// `microk8s status --wait-ready --timeout N --format yaml`. microk8s's own timeout bounds
    /// the wait; kat's (a minute longer) bounds a status that hangs regardless.
    pub async fn wait_ready(&self, cx: &OpContext) -> Result<Status, ProviderError> {
        cx.check("waiting for microk8s to be ready")?;
        let secs = self.ready_timeout.as_secs().max(1).to_string();
        let args = [
            "status",
            "--wait-ready",
            "--timeout",
            &secs,
            "--format",
            "yaml",
        ];
        let out = self
            .microk8s(&args, self.ready_timeout + Duration::from_secs(60))
            .await?;
        let status = self.read_status(&args, out)?;
        if !status.running {
            return Err(ProviderError::Timeout {
                what: format!(
                    "microk8s on {} to be ready (`microk8s inspect` there says why)",
                    self.place()
                ),
                after: self.ready_timeout,
            });
        }
        Ok(status)
    }

    fn read_status(&self, args: &[&str], out: Output) -> Result<Status, Microk8sError> {
        let text = out.text();
        // `exit_if_stopped`: a stopped microk8s says so and exits 0.
        if status::is_not_running(&text) && !text.contains("running: ") {
            return Err(Microk8sError::NotRunning {
                place: self.place(),
            });
        }
        let status = status::parse_status(&out.stdout);
        if !out.ok() && status.running {
            let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            return Err(self.failed(&argv, &out));
        }
        Ok(status)
    }

    /// One `microk8s enable a b c` for every addon (parallel enables collide on microk8s's
    /// addon lock and snapd's changes). Busy answers are asked again, with backoff, within the
    /// stage's budget.
    pub async fn enable(&self, cx: &OpContext, addons: &[String]) -> Result<(), ProviderError> {
        self.xable(cx, "enable", addons).await
    }

    /// One `microk8s disable a b c`.
    pub async fn disable(&self, cx: &OpContext, addons: &[String]) -> Result<(), ProviderError> {
        self.xable(cx, "disable", addons).await
    }

    async fn xable(
        &self,
        cx: &OpContext,
        action: &str,
        addons: &[String],
    ) -> Result<(), ProviderError> {
        let mut args = vec![action];
        args.extend(addons.iter().map(String::as_str));
        let mut delay = Duration::from_secs(2);
        for attempt in 1.. {
            cx.check(&format!("microk8s {action}"))?;
            let out = self.microk8s(&args, self.timeout).await?;
            if out.ok() {
                return Ok(());
            }
            if !status::is_busy(&out.text()) {
                return Err(Microk8sError::Failed {
                    command: format!("microk8s {}", args.join(" ")),
                    place: self.place(),
                    status: out.status(),
                    message: out.last_line(),
                    busy: false,
                }
                .into());
            }
            cx.step(format!(
                "microk8s is busy with another operation ({}); `microk8s {action}` again in {} s (attempt {attempt})",
                out.last_line(),
                delay.as_secs()
            ));
            cx.sleep(delay, &format!("microk8s {action} {}", addons.join(" ")))
                .await?;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
        unreachable!("the loop returns")
    }

    /// `microk8s config`: an admin kubeconfig for the cluster.
    pub async fn config(&self) -> Result<String, Microk8sError> {
        let out = self.microk8s(&["config"], self.timeout).await?;
        if !out.ok() {
            return Err(self.failed(&["microk8s".into(), "config".into()], &out));
        }
        Ok(out.stdout)
    }

    /// `microk8s kubectl get ... -o json`; `None` when the object does not exist.
    pub async fn kubectl_get(&self, args: &[&str]) -> Result<Option<String>, Microk8sError> {
        let mut all = vec!["kubectl", "get"];
        all.extend_from_slice(args);
        all.extend(["-o", "json"]);
        let out = self.microk8s(&all, self.timeout).await?;
        if out.ok() {
            return Ok(Some(out.stdout));
        }
        if out.text().contains("NotFound") || out.text().contains("not found") {
            return Ok(None);
        }
        let argv: Vec<String> = std::iter::once("microk8s")
            .chain(all.iter().copied())
            .map(String::from)
            .collect();
        Err(self.failed(&argv, &out))
    }
}

/// `microk8s install` with the VM's size; `--assume-yes` lets the installer set up multipass
/// when it is missing (kat was asked to install, and there is no terminal to answer it).
pub fn vm_install_args(vm: &Microk8sVm, channel: &str) -> Vec<String> {
    [
        "microk8s".to_string(),
        "install".into(),
        "--cpu".into(),
        vm.cpus.to_string(),
        "--mem".into(),
        vm.memory_gb.to_string(),
        "--disk".into(),
        vm.disk_gb.to_string(),
        "--channel".into(),
        channel.into(),
        "--assume-yes".into(),
    ]
    .to_vec()
}

/// What a user runs to install microk8s on the pinned channel.
pub fn install_command(channel: &str) -> String {
    format!("sudo snap install {SNAP} --classic --channel={channel}")
}

fn is_sudo_password(text: &str) -> bool {
    text.contains("sudo: a password is required") || text.contains("sudo: a terminal is required")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ending_in_dash_c_takes_the_command_as_one_argument() {
        let sg: Vec<String> = ["sg", "microk8s", "-c"].map(String::from).to_vec();
        assert_eq!(
            Microk8s::with_prefix(&sg, &["microk8s", "status", "--format", "yaml"]),
            ["sg", "microk8s", "-c", "microk8s status --format yaml"]
        );
        let sudo = vec!["sudo".to_string()];
        assert_eq!(
            Microk8s::with_prefix(&sudo, &["microk8s", "config"]),
            ["sudo", "microk8s", "config"]
        );
    }
}
