//! Where `microk8s` keeps its cluster. On Linux (and on any `host`, reached over SSH) it is the
//! snap on that machine; on macOS and Windows the `microk8s` command is canonical's installer,
//! which runs the snap in a multipass VM it creates (`microk8s install`) and forwards every other
//! command into it. kat drives both through the same CLI; only installing, the refresh hold and
//! removing differ.

use crate::error::Microk8sError;

/// Overrides the platform kat was built for: `linux`, `macos` or `windows`. Tests on Linux use
/// it to take the VM path; a user has no reason to.
pub const PLATFORM_ENV: &str = "KAT_MICROK8S_PLATFORM";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// The `microk8s` snap on the machine the commands run on.
    Snap,
    /// canonical's installer: a multipass VM named `microk8s-vm`.
    Vm,
}

impl Platform {
    /// A remote host is a Linux machine with snapd; this machine is what it runs, or what
    /// [`PLATFORM_ENV`] says.
    pub fn detect(remote: bool) -> Result<Platform, Microk8sError> {
        if remote {
            return Ok(Platform::Snap);
        }
        match std::env::var(PLATFORM_ENV) {
            Ok(os) if !os.is_empty() => Self::for_os(&os).ok_or(Microk8sError::BadPlatform { os }),
            _ => Ok(Self::for_os(std::env::consts::OS).unwrap_or(Platform::Vm)),
        }
    }

    fn for_os(os: &str) -> Option<Platform> {
        match os {
            "linux" => Some(Platform::Snap),
            "macos" | "windows" => Some(Platform::Vm),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_is_the_snap_and_macos_and_windows_the_vm() {
        assert_eq!(Platform::for_os("linux"), Some(Platform::Snap));
        assert_eq!(Platform::for_os("macos"), Some(Platform::Vm));
        assert_eq!(Platform::for_os("windows"), Some(Platform::Vm));
        assert_eq!(Platform::for_os("plan9"), None);
        assert_eq!(Platform::detect(true).unwrap(), Platform::Snap);
    }
}
