//! What goes wrong with microk8s and how the user fixes it. Every variant that the user must fix
//! names the kat.yaml key (or the command to run) and maps to exit code 2.

use std::time::Duration;

use kat_provider::ProviderError;

#[derive(Debug, thiserror::Error)]
pub enum Microk8sError {
    #[error("microk8s is not installed on {place}; install it with {install}, or set provider.microk8s.install: true and kat installs it (and `kat down --purge` may remove it again)")]
    NotInstalled { place: String, install: String },

    #[error("multipass is not available on {place} (`{command}`: {message}); the installer's VM is reached through it to hold its microk8s snap's refreshes: reinstall microk8s's installer, which brings multipass")]
    NoMultipass {
        place: String,
        command: String,
        message: String,
    },

    #[error("snap is not available on {place} (`{command}`: {message}); microk8s needs snapd: install it (`sudo apt-get install snapd` on Debian/Ubuntu) or use a machine that has it")]
    NoSnap {
        place: String,
        command: String,
        message: String,
    },

    #[error("user {user} on {place} may not use microk8s (\"Insufficient permissions to access MicroK8s\"): add it to the group with `sudo usermod -a -G microk8s {user}` and `sudo chown -R {user} ~/.kube`, then log in again (or `newgrp microk8s`); or set provider.microk8s.join_group: true and kat does both over SSH; or set provider.microk8s.command_prefix: [sudo] (CI: [sg, microk8s, -c])")]
    NoPermission { user: String, place: String },

    #[error("{env}={os}: kat knows linux (the microk8s snap), macos and windows (microk8s's multipass VM)", env = crate::platform::PLATFORM_ENV)]
    BadPlatform { os: String },

    #[error(
        "microk8s on {place} is not running; start it with `microk8s start` and run kat again"
    )]
    NotRunning { place: String },

    #[error("microk8s on {place} tracks channel {tracking}, kat.yaml pins {pinned}; set provider.microk8s.channel: {tracking}, or move it yourself with `{refresh}` (an upgrade of the running cluster)")]
    ChannelMismatch {
        place: String,
        tracking: String,
        pinned: String,
        refresh: String,
    },

    #[error("cannot reach {host} over SSH: {message}; check provider.microk8s.host (and provider.microk8s.port) and that sshd runs there")]
    SshUnreachable { host: String, message: String },

    #[error("{host} refused the SSH login: {message}")]
    SshAuth { host: String, message: String },

    #[error("provider.microk8s.key: {path} cannot be read ({message}); name the private key file of a key {host} accepts, or leave the key out to use your ssh agent")]
    KeyUnreadable {
        path: String,
        host: String,
        message: String,
    },

    #[error("provider.microk8s.host: `{host}` is not `user@address` or `address`")]
    BadHost { host: String },

    #[error("`{command}` on {place} needs a password for sudo; allow it without one for snap, run `{command}` yourself, or set provider.microk8s.snap_prefix")]
    SudoPassword { command: String, place: String },

    #[error("`{command}` on {place} did not finish within {}; microk8s may be stuck: `microk8s inspect` says why", humantime_secs(*after))]
    Timeout {
        command: String,
        place: String,
        after: Duration,
    },

    #[error("`{command}` on {place} failed (exit {status}): {message}")]
    Failed {
        command: String,
        place: String,
        status: String,
        message: String,
        /// Another snap or addon operation holds microk8s: worth asking again.
        busy: bool,
    },

    #[error("cannot start `{command}` on {place}: {message}")]
    Spawn {
        command: String,
        place: String,
        message: String,
    },

    #[error("{what}: {message}")]
    Unexpected { what: String, message: String },
}

fn humantime_secs(d: Duration) -> String {
    format!("{} s", d.as_secs())
}

impl From<Microk8sError> for ProviderError {
    fn from(e: Microk8sError) -> Self {
        let message = e.to_string();
        match e {
            Microk8sError::NotInstalled { .. }
            | Microk8sError::NoPermission { .. }
            | Microk8sError::ChannelMismatch { .. } => {
                ProviderError::config("provider.microk8s", message)
            }
            Microk8sError::NoSnap { .. }
            | Microk8sError::NoMultipass { .. }
            | Microk8sError::SudoPassword { .. }
            | Microk8sError::BadPlatform { .. } => {
                ProviderError::config("provider.microk8s", message)
            }
            Microk8sError::SshUnreachable { .. } | Microk8sError::BadHost { .. } => {
                ProviderError::config("provider.microk8s.host", message)
            }
            Microk8sError::KeyUnreadable { .. } => {
                ProviderError::config("provider.microk8s.key", message)
            }
            Microk8sError::SshAuth { .. } => ProviderError::Credentials {
                message,
                tried: "ssh in BatchMode with provider.microk8s.key, else your ssh agent and ~/.ssh defaults".into(),
                hint: "set provider.microk8s.key to a private key the host accepts (its public half in the user's ~/.ssh/authorized_keys there), or add it to your agent (`ssh-add`)".into(),
            },
            Microk8sError::Failed {
                busy,
                command,
                place,
                status,
                message,
            } => ProviderError::Api {
                operation: "running".into(),
                resource: format!("`{command}` on {place}"),
                message: format!("exit {status}: {message}"),
                retryable: busy,
            },
            Microk8sError::Timeout { after, .. } => ProviderError::Timeout {
                what: message,
                after,
            },
            _ => ProviderError::Other(message),
        }
    }
}
