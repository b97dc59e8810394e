//! From one configuration to the fleet's members: `fleet.count` (or `--count`) copies, or one
//! member per `provider.microk8s.hosts` entry. Each member is an ordinary environment's settings.

use kat_provider::ProviderName;

use crate::config::{ConfigError, FleetShape};
use crate::ops::settings::Settings;

/// The most members a fleet has: names keep two digits (`demo-01` … `demo-99`).
pub const MAX_MEMBERS: usize = 99;

/// One environment of the fleet.
#[derive(Debug, Clone)]
pub struct Member {
    /// 1-based position.
    pub index: usize,
    /// `<env>-NN`.
    pub name: String,
    /// The microk8s host this member is built on, for a hosts fleet.
    pub host: Option<String>,
    pub settings: Settings,
}

impl Member {
    /// `07` for the seventh member: the handout's directory and `--member 07`.
    pub fn number(&self) -> String {
        number(self.index)
    }
}

pub fn number(index: usize) -> String {
    format!("{index:02}")
}

pub fn member_name(env: &str, index: usize) -> String {
    format!("{env}-{}", number(index))
}

/// The fleet's members, or `None` when the configuration is one environment (no `fleet`, or the
/// `namespaces` shape, whose attendees live inside one environment's own run).
pub fn expand(settings: &Settings, count: Option<u8>) -> Result<Option<Vec<Member>>, ConfigError> {
    let source = &settings.source;
    let cfg = &settings.config;
    let hosts = &cfg.provider.microk8s.hosts;
    let fleet = cfg.fleet.as_ref();
    if fleet.is_some_and(|f| f.share_network) {
        check_shared_network(settings)?;
    }
    if fleet.is_some_and(|f| f.share_registry) {
        check_shared_registry(settings)?;
    }
    if !hosts.is_empty() {
        let key = "provider.microk8s.hosts";
        if settings.provider != ProviderName::Microk8s {
            return Err(source.error_at(
                key,
                format!(
                    "lists hosts for the microk8s provider, but the provider is {}; set `provider.name: microk8s` or remove `hosts`",
                    settings.provider
                ),
            ));
        }
        if cfg.provider.microk8s.host.is_some() {
            return Err(source.error_at(
                key,
                "`host` and `hosts` are both set; keep `hosts` for a workshop (one environment per host) or `host` for one environment",
            ));
        }
        if fleet.is_some_and(|f| f.shape == FleetShape::Namespaces) {
            return Err(source.error_at(
                "fleet.shape",
                "`namespaces` puts every attendee in one cluster, but `provider.microk8s.hosts` makes one cluster per host; choose one",
            ));
        }
        let given = count.or(fleet.map(|f| f.count));
        if let Some(n) = given.filter(|n| *n as usize != hosts.len()) {
            let (count_key, line) = if count.is_some() {
                ("--count".to_string(), String::new())
            } else {
                ("fleet.count".to_string(), line_of(settings, "fleet.count"))
            };
            return Err(source.error_at(
                key,
                format!(
                    "names {} hosts{}, but {count_key}{line} asks for {n} members; the hosts are the members, so remove {count_key} or make it {}",
                    hosts.len(),
                    line_of(settings, key),
                    hosts.len()
                ),
            ));
        }
        check_size(settings, hosts.len(), key)?;
        let members = hosts
            .iter()
            .enumerate()
            .map(|(i, host)| member(settings, i + 1, Some(host.clone())))
            .collect();
        return Ok(Some(members));
    }
    if fleet.is_some_and(|f| f.shape == FleetShape::Namespaces) {
        return Ok(None);
    }
    let Some(n) = count.or(fleet.map(|f| f.count)) else {
        return Ok(None);
    };
    let key = if count.is_some() {
        "--count"
    } else {
        "fleet.count"
    };
    check_size(settings, n as usize, key)?;
    Ok(Some(
        (1..=n as usize)
            .map(|i| member(settings, i, None))
            .collect(),
    ))
}

/// `fleet.share_network` where it can be done; refused before anything is touched where it
/// cannot, rather than each member making its own network after all.
fn check_shared_network(settings: &Settings) -> Result<(), ConfigError> {
    let able = crate::ops::providers::with_shared_network();
    let why = if let Some(why) = unshareable(settings, "network", &able) {
        why
    } else if let Some(vpc) = &settings.config.provider.eks.vpc_id {
        format!(
            "every member already builds in your VPC `{vpc}` (`provider.eks.vpc_id`{}); remove `share_network`, or remove `vpc_id` for a VPC kat makes for the fleet",
            line_of(settings, "provider.eks.vpc_id")
        )
    } else {
        return Ok(());
    };
    Err(settings.source.error_at("fleet.share_network", why))
}

/// `fleet.share_registry` where it can be done: a registry kat makes, on a provider whose members
/// can push to and pull from another environment's (one account's ECR).
fn check_shared_registry(settings: &Settings) -> Result<(), ConfigError> {
    let cfg = &settings.config;
    let able = crate::ops::providers::with_shared_registry();
    let why = if let Some(why) = unshareable(settings, "registry", &able) {
        why
    } else if !cfg.registry.enabled {
        format!(
            "there is no registry to share: `registry.enabled` is false{}; remove `share_registry`, or enable the registry",
            line_of(settings, "registry.enabled")
        )
    } else if let Some(url) = &cfg.registry.url {
        format!(
            "every member already uses your registry `{url}` (`registry.url`{}); remove `share_registry`",
            line_of(settings, "registry.url")
        )
    } else {
        return Ok(());
    };
    Err(settings.source.error_at("fleet.share_registry", why))
}

/// Why `fleet.share_<part>` cannot be: a provider not among `able`, or the `namespaces` shape,
/// whose one cluster has one of each already.
fn unshareable(settings: &Settings, part: &str, able: &[ProviderName]) -> Option<String> {
    if !able.contains(&settings.provider) {
        return Some(format!(
            "the {} provider cannot give a fleet's members one {part}: each makes its own. Providers that can: {}; remove `share_{part}` (or set it to false) to go on",
            settings.provider,
            able.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    let namespaces = settings
        .config
        .fleet
        .as_ref()
        .is_some_and(|f| f.shape == FleetShape::Namespaces);
    namespaces.then(|| {
        format!(
            "the `namespaces` shape is one cluster with one {part} already; remove `share_{part}`"
        )
    })
}

fn check_size(settings: &Settings, n: usize, key: &str) -> Result<(), ConfigError> {
    if (1..=MAX_MEMBERS).contains(&n) {
        return Ok(());
    }
    let message = format!("a fleet has 1 to {MAX_MEMBERS} members; {n} is outside that");
    Err(if key.starts_with("--") {
        ConfigError::setting(key, message)
    } else {
        settings.source.error_at(key, message)
    })
}

/// ` (line N)` of a key in kat.yaml, when the file has it.
fn line_of(settings: &Settings, key: &str) -> String {
    let segments: Vec<&str> = key.split('.').collect();
    match crate::config::locate(&settings.source.text, &segments) {
        Some((line, _)) if settings.source.path.is_some() => format!(" (line {line})"),
        _ => String::new(),
    }
}

/// The member's own settings: the environment renamed, its own state directory, and no fleet
/// of its own (a member is one environment).
fn member(settings: &Settings, index: usize, host: Option<String>) -> Member {
    let name = member_name(&settings.env, index);
    let mut s = settings.clone();
    let base = settings
        .state_dir
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    s.state_dir = base.join(&name);
    s.env = name.clone();
    s.config.environment = Some(name.clone());
    s.config.fleet = None;
    s.build_turns = Some(settings.state_dir.join("builds.lock"));
    if let Some(h) = &host {
        s.config.provider.microk8s.host = Some(h.clone());
        s.config.provider.microk8s.hosts.clear();
    }
    Member {
        index,
        name,
        host,
        settings: s,
    }
}

/// The environment that holds what a fleet's members share (`fleet.share_network`,
/// `fleet.share_registry`): `<env>-shared` (or `name`, as `fleet.json` recorded it), an ordinary
/// environment of its own (journal, lock, tags) built only as far as the shared stages, before
/// any member, and taken down after the last one.
pub fn shared(settings: &Settings, name: Option<&str>) -> Member {
    let mut m = member(settings, 0, None);
    let name = name.map_or_else(|| shared_name(&settings.env), str::to_string);
    m.settings.state_dir = m.settings.state_dir.with_file_name(&name);
    m.settings.env = name.clone();
    m.settings.config.environment = Some(name.clone());
    // The blueprint names the registry's repositories and the images to mirror; without a
    // shared registry nothing of the application belongs here.
    if !settings
        .config
        .fleet
        .as_ref()
        .is_some_and(|f| f.share_registry)
    {
        m.settings.config.blueprint = None;
    }
    m.name = name;
    m
}

pub fn shared_name(env: &str) -> String {
    format!("{env}-{SHARED_SUFFIX}")
}

/// What a fleet's shared environment's name ends with, after `-`.
pub const SHARED_SUFFIX: &str = "shared";

/// Whether `member` is named as one of the members of the fleet whose shared environment is
/// `shared` (`ws-07` of `ws-shared`): what `kat reap`, which knows names and tags but no
/// `fleet.json`, holds a shared environment back for.
pub fn uses_shared(member: &str, shared: &str) -> bool {
    let Some(fleet) = shared
        .strip_suffix(SHARED_SUFFIX)
        .and_then(|f| f.strip_suffix('-'))
    else {
        return false;
    };
    member
        .strip_prefix(fleet)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|n| n.len() >= 2 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Settings for the members recorded in `fleet.json` (a `down` or `status` that must not depend on
/// kat.yaml still describing the fleet).
pub fn recorded(settings: &Settings, names: &[(String, Option<String>)]) -> Vec<Member> {
    names
        .iter()
        .enumerate()
        .map(|(i, (name, host))| {
            let index = name
                .rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(i + 1);
            let mut m = member(settings, index, host.clone());
            m.name = name.clone();
            m.settings.env = name.clone();
            m.settings.config.environment = Some(name.clone());
            m.settings.state_dir = m.settings.state_dir.with_file_name(name);
            m
        })
        .collect()
}

/// `--member 07` or `--member demo-07`: the member it names.
pub fn select<'a>(members: &'a [Member], env: &str, wanted: &str) -> Result<&'a Member, String> {
    let full = if wanted.starts_with(&format!("{env}-")) {
        wanted.to_string()
    } else {
        match wanted.parse::<usize>() {
            Ok(n) => member_name(env, n),
            Err(_) => wanted.to_string(),
        }
    };
    members.iter().find(|m| m.name == full).ok_or_else(|| {
        format!(
            "--member {wanted}: the fleet `{env}` has no member `{full}`; its members are {}",
            members
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{resolve, Overrides};

    fn settings(yaml: &str) -> Result<Settings, ConfigError> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("kat.yaml");
        std::fs::write(&p, yaml).unwrap();
        resolve(&Overrides {
            config: Some(p),
            ..Default::default()
        })
    }

    #[test]
    fn microk8s_hosts_make_one_member_per_host() {
        let s = settings("environment: ws\nprovider:\n  name: microk8s\n  microk8s:\n    hosts: [kat@a, kat@b]\n").unwrap();
        let m = expand(&s, None).unwrap().unwrap();
        let got: Vec<(String, Option<String>)> = m
            .iter()
            .map(|m| {
                (
                    m.name.clone(),
                    m.settings.config.provider.microk8s.host.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("ws-01".to_string(), Some("kat@a".to_string())),
                ("ws-02".to_string(), Some("kat@b".to_string()))
            ]
        );
        assert!(m
            .iter()
            .all(|m| m.settings.config.provider.microk8s.hosts.is_empty()
                && m.settings.config.fleet.is_none()
                && m.settings.state_dir.ends_with(&m.name)));
    }

    #[test]
    fn hosts_and_a_different_count_name_both_keys() {
        let s = settings("environment: ws\nprovider:\n  name: microk8s\n  microk8s:\n    hosts: [kat@a, kat@b]\nfleet:\n  count: 3\n").unwrap();
        let e = expand(&s, None).unwrap_err().to_string();
        let full = format!("{e:?} {e}");
        assert!(
            full.contains("fleet.count") && full.contains("line 7"),
            "{full}"
        );
        assert!(full.contains("hosts"), "{full}");
    }

    /// Why `expand` refused the configuration, with the key and line its error carries.
    fn refused(yaml: &str) -> String {
        let e = expand(&settings(yaml).unwrap(), None).unwrap_err();
        format!("{e:?} {e}")
    }

    #[test]
    fn a_shared_network_is_taken_where_the_members_can_share_one() {
        let eks =
            "environment: ws\nprovider:\n  name: eks\nfleet:\n  count: 2\n  share_network: true\n";
        let s = settings(eks).unwrap();
        assert_eq!(expand(&s, None).unwrap().unwrap().len(), 2);
        let net = shared(&s, None);
        assert_eq!(net.name, "ws-shared");
        assert!(net.settings.state_dir.ends_with("ws-shared"));
        assert!(net.settings.config.blueprint.is_none());
        assert_eq!(shared(&s, Some("ws-net")).name, "ws-net", "as recorded");

        let own_vpc = eks.replace("  name: eks\n", "  name: eks\n  eks:\n    vpc_id: vpc-1\n");
        let e = refused(&own_vpc);
        assert!(
            e.contains("fleet.share_network") && e.contains("vpc-1") && e.contains("line 5"),
            "{e}"
        );
        let e = refused(&format!("{eks}  shape: namespaces\n"));
        assert!(e.contains("one cluster with one network"), "{e}");
        let e = refused(&eks.replace("name: eks", "name: aks"));
        assert!(
            e.contains("the aks provider") && e.contains("Providers that can: eks"),
            "{e}"
        );
    }

    #[test]
    fn a_shared_registry_is_taken_where_the_members_can_share_one() {
        let eks = "environment: ws\nprovider:\n  name: eks\nblueprint:\n  name: nanomon\nfleet:\n  count: 2\n  share_registry: true\n";
        let s = settings(eks).unwrap();
        assert_eq!(expand(&s, None).unwrap().unwrap().len(), 2);
        // The shared environment keeps the blueprint: it names the repositories and images.
        assert!(shared(&s, None).settings.config.blueprint.is_some());

        let e = refused(&format!("{eks}registry:\n  enabled: false\n"));
        assert!(
            e.contains("fleet.share_registry")
                && e.contains("no registry to share")
                && e.contains("line 10"),
            "{e}"
        );
        let e = refused(&format!("{eks}registry:\n  url: r.example/team\n"));
        assert!(e.contains("your registry `r.example/team`"), "{e}");
        let e = refused(&format!("{eks}  shape: namespaces\n"));
        assert!(e.contains("one cluster with one registry"), "{e}");
        let e = refused(&eks.replace("name: eks", "name: microk8s"));
        assert!(
            e.contains("the microk8s provider") && e.contains("Providers that can: eks"),
            "{e}"
        );
    }

    #[test]
    fn the_namespaces_shape_is_one_environment_and_count_names_members() {
        let s = settings(
            "environment: ws\nprovider:\n  name: sim\nfleet:\n  count: 4\n  shape: namespaces\n",
        )
        .unwrap();
        assert!(expand(&s, None).unwrap().is_none());
        let s = settings("environment: ws\nprovider:\n  name: sim\nfleet:\n  count: 4\n").unwrap();
        let m = expand(&s, None).unwrap().unwrap();
        assert_eq!(m.last().unwrap().name, "ws-04");
        assert_eq!(expand(&s, Some(12)).unwrap().unwrap().len(), 12);
        assert_eq!(select(&m, "ws", "03").unwrap().name, "ws-03");
        assert_eq!(select(&m, "ws", "ws-02").unwrap().name, "ws-02");
        assert!(select(&m, "ws", "09").is_err());
    }

    #[test]
    fn a_shared_environment_is_used_by_its_fleets_numbered_members_only() {
        assert!(uses_shared("ws-07", "ws-shared"));
        assert!(uses_shared("ws-120", "ws-shared"));
        assert!(!uses_shared("ws-7", "ws-shared"));
        assert!(!uses_shared("wsx-07", "ws-shared"));
        assert!(!uses_shared("ws-shared", "ws-shared"));
        assert!(!uses_shared("ws-07", "ws"));
        assert!(!uses_shared("ws-07", "wsshared"));
        assert!(!uses_shared("ws-ab", "ws-shared"));
    }
}
