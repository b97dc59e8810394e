//! Reading what microk8s and snap print. `microk8s status --format yaml` is read line by line,
//! not as YAML: its addon descriptions are printed unquoted and may hold `: `.

use std::collections::BTreeSet;

/// `microk8s status --format yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub running: bool,
    /// Enabled addons by name (`dns`, not `core/dns`).
    pub enabled: BTreeSet<String>,
    /// Every addon the installed microk8s offers.
    pub available: BTreeSet<String>,
}

pub fn parse_status(text: &str) -> Status {
    let mut status = Status::default();
    let mut section = "";
    let mut name: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') && line.trim_end().ends_with(':') {
            section = line.trim_end().trim_end_matches(':');
            continue;
        }
        let item = line.trim();
        let item = item.strip_prefix("- ").unwrap_or(item);
        let Some((key, value)) = item.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match (section, key) {
            ("microk8s", "running") => status.running = value.eq_ignore_ascii_case("true"),
            ("addons", "name") => {
                status.available.insert(value.to_string());
                name = Some(value.to_string());
            }
            ("addons", "status") if value == "enabled" => {
                if let Some(n) = name.take() {
                    status.enabled.insert(n);
                }
            }
            _ => {}
        }
    }
    status
}

/// microk8s's own words for "this user may not use me".
pub fn is_permission_denied(text: &str) -> bool {
    text.contains("Insufficient permissions to access MicroK8s")
}

/// The user microk8s names in its permission message, if it does.
pub fn user_in_permission_message(text: &str) -> Option<String> {
    let rest = text.split("add the user ").nth(1)?;
    rest.split_whitespace().next().map(str::to_string)
}

/// The snap says "microk8s is not running", the VM installer "MicroK8s is not running".
pub fn is_not_running(text: &str) -> bool {
    text.to_ascii_lowercase()
        .contains("microk8s is not running")
}

/// `microk8s version`: "MicroK8s v1.32.3 revision 7964" gives `v1.32.3`.
pub fn parse_version(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("MicroK8s ")?;
        let v = rest.split_whitespace().next()?;
        v.starts_with('v').then(|| v.to_string())
    })
}

/// Another snap change or addon operation holds microk8s; asking again later succeeds.
pub fn is_busy(text: &str) -> bool {
    text.contains("change in progress")
        || text.contains(".microk8s-addon-lock")
        || text.contains("another addon operation is in progress")
}

/// `snap list microk8s`: what is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapInfo {
    pub version: String,
    /// The channel it follows (`1.32/stable`).
    pub tracking: String,
    /// Refreshes are held (`snap refresh --hold`): the Notes column says `held`.
    pub held: bool,
}

pub fn parse_snap_list(text: &str) -> Option<SnapInfo> {
    text.lines().find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.first() != Some(&"microk8s") || cols.len() < 4 {
            return None;
        }
        Some(SnapInfo {
            version: cols[1].to_string(),
            tracking: cols[3].to_string(),
            held: cols
                .get(5)
                .is_some_and(|notes| notes.split(',').any(|n| n == "held")),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "microk8s:
  running: True
high-availability:
  enabled: False
addons:
  - name: dns
    repository: core
    description: CoreDNS
    version: 1.10.1
    status: enabled
  - name: registry
    repository: core
    description: Private image registry exposed on localhost:32000
    version: 2.8.1
    status: disabled
  - name: odd
    repository: community
    description: A description: with a colon
    version: 
    status: enabled
";

    #[test]
    fn status_yaml_gives_running_and_the_enabled_addons() {
        let s = parse_status(STATUS);
        assert!(s.running);
        assert_eq!(
            s.enabled.iter().map(String::as_str).collect::<Vec<_>>(),
            ["dns", "odd"]
        );
        assert_eq!(s.available.len(), 3);
        let stopped = parse_status(
            "microk8s:\n  running: False\nhigh-availability:\n  enabled: False\n  message: microk8s is not running. Use microk8s inspect for a deeper inspection.\n",
        );
        assert!(!stopped.running && stopped.enabled.is_empty());
    }

    #[test]
    fn snap_list_gives_channel_and_hold() {
        let text = "Name      Version  Rev   Tracking     Publisher   Notes\nmicrok8s  v1.32.3  7964  1.32/stable  canonical✓  classic,held\n";
        let info = parse_snap_list(text).unwrap();
        assert_eq!(info.tracking, "1.32/stable");
        assert!(info.held);
        let unheld = "Name      Version  Rev   Tracking     Publisher   Notes\nmicrok8s  v1.32.3  7964  1.32/stable  canonical✓  classic\n";
        assert!(!parse_snap_list(unheld).unwrap().held);
        assert_eq!(parse_snap_list("error: no matching snaps installed"), None);
    }

    #[test]
    fn version_line_gives_the_version() {
        assert_eq!(
            parse_version("MicroK8s v1.32.3 revision 7964\n").as_deref(),
            Some("v1.32.3")
        );
        assert_eq!(parse_version(""), None);
        assert!(is_not_running(
            "MicroK8s is not running. Please run `microk8s start`."
        ));
    }

    #[test]
    fn permission_message_names_the_user() {
        let text = "Insufficient permissions to access MicroK8s.\nYou can either try again with sudo or add the user ubuntu to the 'microk8s' group:\n";
        assert!(is_permission_denied(text));
        assert_eq!(user_in_permission_message(text).as_deref(), Some("ubuntu"));
    }
}
