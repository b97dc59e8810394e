//! The names kat gives Azure resources. Most derive from the environment; the three that must be
//! globally unique (registry, key vault, PostgreSQL server) carry a random suffix, and are found
//! again by their `kat:environment` tag, never by guessing the suffix.

use rand::Rng;

pub const ENV_TAG: &str = "kat:environment";

pub struct Names {
    pub env: String,
    /// The resource group kat builds in.
    pub group: String,
    /// Whether kat created that group (and `down` deletes it) or it was given and is kept.
    pub own_group: bool,
}

impl Names {
    pub fn new(env: &str, existing_group: Option<&str>) -> Names {
        Names {
            env: env.to_string(),
            group: existing_group
                .map(str::to_string)
                .unwrap_or_else(|| format!("kat-{env}")),
            own_group: existing_group.is_none(),
        }
    }

    pub fn cluster(&self) -> String {
        format!("kat-{}", self.env)
    }

    /// AKS puts the node VMs, disks and load balancer in this group; kat names it so teardown and
    /// the sweep know it without asking the cluster.
    pub fn nodes_group(&self) -> String {
        format!("kat-{}-nodes", self.env)
    }

    pub fn vnet(&self) -> String {
        format!("kat-{}", self.env)
    }

    pub fn dns_zone(&self) -> String {
        format!("kat-{}.private.postgres.database.azure.com", self.env)
    }

    /// Only letters and digits, lower case (ACR's rule), from the environment name.
    fn compact(&self, max: usize) -> String {
        self.env
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .take(max)
            .collect()
    }

    /// ACR: 5 to 50 letters and digits.
    pub fn registry(&self, suffix: &str) -> String {
        format!("kat{}{suffix}", self.compact(50 - 3 - suffix.len()))
    }

    /// Key Vault: 3 to 24 letters, digits and hyphens, starting with a letter.
    pub fn vault(&self, suffix: &str) -> String {
        let room = 24 - 4 - 1 - suffix.len();
        format!("kat-{}-{suffix}", self.compact(room))
    }

    /// PostgreSQL flexible server: 3 to 63 lower-case letters, digits and hyphens.
    pub fn database_server(&self, suffix: &str) -> String {
        let env: String = self.env.to_ascii_lowercase().chars().take(50).collect();
        format!("kat-{env}-{suffix}")
    }
}

/// Six random lower-case letters and digits.
pub fn suffix() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// The last segment of a resource id.
pub fn last(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_fit_azure_rules() {
        let n = Names::new("a-very-long-environment-name-for-testing", None);
        let s = suffix();
        let acr = n.registry(&s);
        assert!(
            acr.len() <= 50 && acr.chars().all(|c| c.is_ascii_alphanumeric()),
            "{acr}"
        );
        let kv = n.vault(&s);
        assert!(kv.len() <= 24 && kv.starts_with("kat-"), "{kv}");
        assert!(n.database_server(&s).len() <= 63);
        assert_eq!(Names::new("x", Some("mine")).group, "mine");
        assert!(!Names::new("x", Some("mine")).own_group);
    }
}
