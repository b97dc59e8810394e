//! Commands on another machine through the system `ssh` (so the user's agent, ~/.ssh/config,
//! jump hosts and known_hosts work as in their terminal). BatchMode: never a password or
//! passphrase prompt that would hang a run; a host seen for the first time is recorded, a changed
//! host key refused.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use tokio::process::Command;

use crate::error::Microk8sError;
use crate::runner::{command_line, shell_quote, Output, Runner};

/// What ssh exits with when it (not the remote command) failed.
const SSH_FAILED: i32 = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// As written in kat.yaml: `user@address` or `address`.
    pub host: String,
    pub user: Option<String>,
    pub address: String,
    pub port: Option<u16>,
    pub key: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
}

impl SshTarget {
    /// Parses `provider.microk8s.host`.
    pub fn parse(
        host: &str,
        port: Option<u16>,
        key: Option<PathBuf>,
        known_hosts: Option<PathBuf>,
    ) -> Result<SshTarget, Microk8sError> {
        let bad = || Microk8sError::BadHost { host: host.into() };
        let (user, address) = match host.split_once('@') {
            Some((u, a)) => (Some(u.to_string()), a.to_string()),
            None => (None, host.to_string()),
        };
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-:[]".contains(c))
        };
        if !plain(&address)
            || user.as_deref().is_some_and(|u| !plain(u))
            || address.starts_with('-')
        {
            return Err(bad());
        }
        Ok(SshTarget {
            host: host.into(),
            user,
            address: address.trim_start_matches('[').trim_end_matches(']').into(),
            port,
            key,
            known_hosts,
        })
    }
}

pub struct SshRunner {
    target: SshTarget,
}

impl SshRunner {
    pub fn new(target: SshTarget) -> Self {
        SshRunner { target }
    }

    /// Fails early, with the key named, when the key file cannot be read: ssh would only say
    /// "Permission denied (publickey)".
    pub fn check_key(&self) -> Result<(), Microk8sError> {
        if let Some(key) = &self.target.key {
            std::fs::File::open(key).map_err(|e| Microk8sError::KeyUnreadable {
                path: key.display().to_string(),
                host: self.target.host.clone(),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }

    fn ssh_args(&self) -> Vec<String> {
        let t = &self.target;
        let mut a: Vec<String> = [
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=15",
            "-o",
            "ServerAliveInterval=15",
            "-o",
            "ServerAliveCountMax=3",
            "-o",
            "StrictHostKeyChecking=accept-new",
        ]
        .map(String::from)
        .to_vec();
        if let Some(k) = &t.known_hosts {
            a.extend(["-o".into(), format!("UserKnownHostsFile={}", k.display())]);
        }
        if let Some(k) = &t.key {
            // Only this key: an agent offering many keys first can exhaust MaxAuthTries.
            a.extend([
                "-i".into(),
                k.display().to_string(),
                "-o".into(),
                "IdentitiesOnly=yes".into(),
            ]);
        }
        if let Some(p) = t.port {
            a.extend(["-p".into(), p.to_string()]);
        }
        a.push(t.host.clone());
        a.push("--".into());
        a
    }
}

/// The remote command line: /snap/bin appended to PATH, as non-login shells may lack it.
fn remote_command(argv: &[String]) -> String {
    let quoted: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
    format!(
        "PATH=\"$PATH:/snap/bin\"; export PATH; {}",
        quoted.join(" ")
    )
}

/// ssh's own failure, told apart from the remote command's: authentication (exit 2, the key),
/// anything else (exit 2, the host).
fn ssh_failure(host: &str, out: &Output) -> Microk8sError {
    let line = out
        .stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("ssh failed without a message")
        .to_string();
    if out.stderr.contains("Permission denied") || out.stderr.contains("Too many authentication") {
        Microk8sError::SshAuth {
            host: host.into(),
            message: line,
        }
    } else if out.stderr.contains("Host key verification failed")
        || out
            .stderr
            .contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
    {
        Microk8sError::SshUnreachable {
            host: host.into(),
            message: format!(
                "{line} (its host key is not the one known_hosts records: if the machine was rebuilt, `ssh-keygen -R` the old key)"
            ),
        }
    } else {
        Microk8sError::SshUnreachable {
            host: host.into(),
            message: line,
        }
    }
}

#[async_trait]
impl Runner for SshRunner {
    fn place(&self) -> String {
        self.target.host.clone()
    }

    fn user(&self) -> String {
        self.target
            .user
            .clone()
            .unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "$USER".into()))
    }

    fn is_root(&self) -> bool {
        self.user() == "root"
    }

    fn address(&self) -> Option<String> {
        Some(self.target.address.clone())
    }

    async fn run(&self, argv: &[String], timeout: Duration) -> Result<Output, Microk8sError> {
        let mut cmd = Command::new("ssh");
        cmd.args(self.ssh_args())
            .arg(remote_command(argv))
            .stdin(std::process::Stdio::null())
            // Killing ssh ends the session; sshd then hangs up the remote command.
            .kill_on_drop(true);
        let out = match tokio::time::timeout(timeout, cmd.output()).await {
            Err(_) => {
                return Err(Microk8sError::Timeout {
                    command: command_line(argv),
                    place: self.place(),
                    after: timeout,
                })
            }
            Ok(Err(e)) => {
                return Err(Microk8sError::Spawn {
                    command: "ssh".into(),
                    place: "this machine".into(),
                    message: format!("{e} (kat reaches provider.microk8s.host with the system `ssh`: install openssh-client)"),
                })
            }
            Ok(Ok(out)) => Output {
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            },
        };
        if out.code == Some(SSH_FAILED) {
            return Err(ssh_failure(&self.target.host, &out));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_with_and_without_a_user_and_junk_is_refused() {
        let t = SshTarget::parse("ubuntu@10.0.0.5", Some(2222), None, None).unwrap();
        assert_eq!(t.user.as_deref(), Some("ubuntu"));
        assert_eq!(t.address, "10.0.0.5");
        assert_eq!(
            SshTarget::parse("ws1.example.com", None, None, None)
                .unwrap()
                .user,
            None
        );
        for bad in ["", "a b", "-oProxyCommand=x", "u@", "u@h;rm"] {
            assert!(SshTarget::parse(bad, None, None, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn ssh_failures_are_told_apart() {
        let out = |stderr: &str| Output {
            code: Some(255),
            stdout: String::new(),
            stderr: stderr.into(),
        };
        let auth = ssh_failure("u@h", &out("u@h: Permission denied (publickey).\n"));
        assert!(matches!(auth, Microk8sError::SshAuth { .. }));
        let refused = ssh_failure(
            "u@h",
            &out("ssh: connect to host h port 22: Connection refused\n"),
        );
        assert!(
            refused.to_string().contains("Connection refused")
                && refused.to_string().contains("provider.microk8s.host"),
            "{refused}"
        );
    }

    #[test]
    fn the_remote_command_is_quoted_and_finds_snap_binaries() {
        let c = remote_command(&["microk8s".into(), "enable".into(), "a b".into()]);
        assert!(c.ends_with("microk8s enable 'a b'"), "{c}");
        assert!(c.contains("/snap/bin"));
    }
}
