//! The `microk8s` and `snap` commands kat runs, typed: each reads or changes one thing and turns
//! microk8s's own messages (permissions, not running, busy) into errors that say what to do.
//! Mutating commands check the run's deadline and Ctrl-C first, and are logged at debug level.

use std::sync::Arc;
use std::time::Duration;

use kat_provider::{Microk8sConfig, OpContext, ProviderError};

use crate::error::Microk8sError;
use crate::runner::{command_line, shell_quote, Output, Runner};
use crate::status::{self, SnapInfo, Status};

pub const SNAP: &str = "microk8s";

#[derive(Clone)]
pub struct Microk8s {
    runner: Arc<dyn Runner>,
    prefix: Vec<String>,
    snap_prefix: Vec<String>,
    timeout: Duration,
    ready_timeout: Duration,
    /// The pinned channel, for the install command in messages.
    channel: String,
}

impl Microk8s {
    pub fn new(runner: Arc<dyn Runner>, cfg: &Microk8sConfig) -> Self {
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
                install: install_command(&self.channel),
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
        let prefix: &[String] = if mutating { &self.snap_prefix } else { &[] };
        let argv = Self::with_prefix(prefix, &command);
        tracing::debug!(place = %self.place(), command = %command_line(&argv), "snap");
        let out = self.runner.run(&argv, self.timeout).await?;
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

    /// `snap list microk8s`; `None` when it is not installed.
    pub async fn installed(&self) -> Result<Option<SnapInfo>, Microk8sError> {
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

    pub async fn install(&self, cx: &OpContext, channel: &str) -> Result<(), ProviderError> {
        cx.check("installing microk8s")?;
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
    pub async fn remove(&self, cx: &OpContext) -> Result<(), ProviderError> {
        cx.check("removing microk8s")?;
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
