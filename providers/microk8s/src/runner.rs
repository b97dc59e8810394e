//! Where microk8s commands run: this machine (a child process) or a host over SSH (ssh.rs). Both
//! give the same [`Output`], with a bounded time per command: `microk8s` can hang (a stuck
//! snapd, a cluster that never becomes ready), and a hung command must not hold `up` forever.

use std::time::Duration;

use async_trait::async_trait;
use tokio::process::Command;

use crate::error::Microk8sError;

/// What a finished command said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// stdout and stderr together (microk8s prints its errors on either).
    pub fn text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
            .trim()
            .to_string()
    }

    /// The last non-empty line, for one-line errors.
    pub fn last_line(&self) -> String {
        let text = self.text();
        text.lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("(no output)")
            .to_string()
    }

    /// The exit code as messages show it.
    pub fn status(&self) -> String {
        self.code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "by signal".into())
    }
}

#[async_trait]
pub trait Runner: Send + Sync {
    /// Where commands run, for messages: "this machine" or "ubuntu@10.0.0.5".
    fn place(&self) -> String;
    /// The login user there.
    fn user(&self) -> String;
    /// Commands run as root there (no sudo needed for snap).
    fn is_root(&self) -> bool;
    /// The address the cluster's API is reached at from here, when not this machine.
    fn address(&self) -> Option<String>;
    /// Runs `argv` and waits at most `timeout`. A program that does not exist answers exit 127,
    /// as a shell does, on both transports.
    async fn run(&self, argv: &[String], timeout: Duration) -> Result<Output, Microk8sError>;
}

/// Commands on this machine.
pub struct LocalRunner;

#[async_trait]
impl Runner for LocalRunner {
    fn place(&self) -> String {
        "this machine".into()
    }

    fn user(&self) -> String {
        std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "$USER".into())
    }

    fn is_root(&self) -> bool {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() == 0 }
    }

    fn address(&self) -> Option<String> {
        None
    }

    async fn run(&self, argv: &[String], timeout: Duration) -> Result<Output, Microk8sError> {
        let (program, args) = argv.split_first().expect("a command has a program");
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        match tokio::time::timeout(timeout, cmd.output()).await {
            Err(_) => Err(Microk8sError::Timeout {
                command: command_line(argv),
                place: self.place(),
                after: timeout,
            }),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(Output {
                code: Some(127),
                stdout: String::new(),
                stderr: format!("{program}: command not found"),
            }),
            Ok(Err(e)) => Err(Microk8sError::Spawn {
                command: command_line(argv),
                place: self.place(),
                message: e.to_string(),
            }),
            Ok(Ok(out)) => Ok(Output {
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }),
        }
    }
}

/// A command as a user would type it (for messages).
pub fn command_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One argument for a POSIX shell: as is when it is plain, else single-quoted.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r#"'\''"#))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_only_when_a_shell_would_split_them() {
        assert_eq!(
            shell_quote("--channel=1.32/stable"),
            "--channel=1.32/stable"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r#"'it'\''s'"#);
        assert_eq!(shell_quote(""), "''");
    }

    #[tokio::test]
    async fn a_missing_program_answers_127_and_a_slow_one_times_out() {
        let out = LocalRunner
            .run(&["kat-no-such-program".into()], Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(out.code, Some(127));
        let err = LocalRunner
            .run(&["sleep".into(), "5".into()], Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(matches!(err, Microk8sError::Timeout { .. }), "{err}");
    }
}
