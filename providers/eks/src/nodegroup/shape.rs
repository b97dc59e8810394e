//! What EKS fixes when a node group is made (instance type, capacity type, subnets). A change of
//! any of it is made the way eksctl documents: a new group beside the old one, then the old one
//! deleted, which EKS drains first. Each shape has its own group name, so a run killed halfway
//! through a replacement finds both groups again and carries on.

use aws_sdk_eks::types::{CapacityTypes, Nodegroup};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub instance_type: String,
    pub spot: bool,
    /// Sorted. None: not known yet (a plan before the network exists), so not compared.
    pub subnets: Option<Vec<String>>,
}

impl Shape {
    pub fn new(instance_type: String, spot: bool, subnets: Option<Vec<String>>) -> Shape {
        Shape {
            instance_type,
            spot,
            subnets: subnets.map(sorted),
        }
    }

    /// The shape AWS describes.
    pub fn of(ng: &Nodegroup) -> Shape {
        Shape::new(
            ng.instance_types().join(", "),
            ng.capacity_type() == Some(&CapacityTypes::Spot),
            Some(ng.subnets().to_vec()),
        )
    }

    /// Each setting that differs from `want`, as `name old → new`.
    pub fn differences(&self, want: &Shape) -> Vec<String> {
        let mut d = Vec::new();
        if self.instance_type != want.instance_type {
            d.push(format!(
                "instance_type {} → {}",
                self.instance_type, want.instance_type
            ));
        }
        if self.spot != want.spot {
            d.push(format!("spot {} → {}", self.spot, want.spot));
        }
        if let (Some(have), Some(wanted)) = (&self.subnets, &want.subnets) {
            if have != wanted {
                d.push(format!("subnets {} → {}", have.join(","), wanted.join(",")));
            }
        }
        d
    }

    /// The group's name: the first group of an environment keeps the plain `base`; a replacement
    /// is `base-<6 hex digits of its shape>`.
    pub fn replacement_name(&self, base: &str) -> String {
        let key = format!(
            "{}|{}|{}",
            self.instance_type,
            self.spot,
            self.subnets.as_deref().unwrap_or_default().join(",")
        );
        format!("{base}-{:06x}", fnv1a(key.as_bytes()) & 0xff_ffff)
    }
}

/// Whether `name` is one of kat's groups for `base` (the plain name or a replacement's).
pub fn is_kats(base: &str, name: &str) -> bool {
    name == base
        || name
            .strip_prefix(base)
            .and_then(|r| r.strip_prefix('-'))
            .is_some_and(|h| h.len() == 6 && h.chars().all(|c| c.is_ascii_hexdigit()))
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// FNV-1a: a name must come out the same from every kat build, which std's hasher does not
/// promise.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(t: &str, subnets: &[&str]) -> Shape {
        Shape::new(
            t.into(),
            false,
            Some(subnets.iter().map(|s| s.to_string()).collect()),
        )
    }

    #[test]
    fn each_fixed_setting_is_named_and_subnet_order_does_not_matter() {
        let a = shape("t3.medium", &["s-1", "s-2"]);
        assert!(a
            .differences(&shape("t3.medium", &["s-2", "s-1"]))
            .is_empty());
        assert_eq!(
            a.differences(&shape("t3.large", &["s-1", "s-2", "s-3"])),
            vec![
                "instance_type t3.medium → t3.large".to_string(),
                "subnets s-1,s-2 → s-1,s-2,s-3".to_string()
            ]
        );
        // Unknown subnets (a plan before the network) are not a difference.
        let unknown = Shape::new("t3.medium".into(), false, None);
        assert!(a.differences(&unknown).is_empty());
    }

    #[test]
    fn replacement_names_are_stable_and_recognised() {
        let a = shape("t3.large", &["s-1"]);
        let name = a.replacement_name("kat-x-default");
        assert_eq!(
            name,
            shape("t3.large", &["s-1"]).replacement_name("kat-x-default")
        );
        assert_ne!(
            name,
            shape("t3.xlarge", &["s-1"]).replacement_name("kat-x-default")
        );
        assert!(is_kats("kat-x-default", &name));
        assert!(is_kats("kat-x-default", "kat-x-default"));
        assert!(!is_kats("kat-x-default", "kat-x-default-gpu"));
        assert!(!is_kats("kat-x-default", "someone-elses"));
    }
}
