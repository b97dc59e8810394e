//! Public and private subnets, one of each per availability zone, carved as /20s (or the VPC's
//! prefix + 4) from the VPC range, tagged so that Kubernetes puts internet-facing load balancers in
//! the public ones and internal ones in the private ones.

use std::net::Ipv4Addr;

use aws_sdk_ec2::types::ResourceType;
use kat_provider::ProviderError;

use crate::clients::Aws;
use crate::error::pe;
use crate::shared::Shared;
use crate::tags;
use kat_provider::converge::Pass;

#[derive(Debug, Clone)]
pub struct Want {
    pub name: String,
    pub public: bool,
    pub az: String,
    pub cidr: String,
}

/// The subnets for these zones: public ones take blocks 0.., private ones blocks 4.. (room for a
/// fourth zone without renumbering).
pub fn plan(s: &Shared, azs: &[String]) -> Result<Vec<Want>, ProviderError> {
    let cidr = &s.req.config.eks.vpc_cidr;
    let bad = || {
        ProviderError::config(
            "provider.eks.vpc_cidr",
            format!(
                "`{cidr}` is not an IPv4 range with a prefix from /16 to /24, such as 10.42.0.0/16"
            ),
        )
    };
    let (ip, prefix) = cidr.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let prefix: u32 = prefix.parse().map_err(|_| bad())?;
    if !(16..=24).contains(&prefix) {
        return Err(bad());
    }
    let sub = prefix + 4;
    let base = u32::from(ip) & (u32::MAX << (32 - prefix));
    let block = |i: u32| format!("{}/{sub}", Ipv4Addr::from(base + (i << (32 - sub))));
    let mut out = Vec::new();
    for (i, az) in azs.iter().enumerate() {
        let suffix = az.chars().last().unwrap_or('x');
        for public in [true, false] {
            let tier = if public { "public" } else { "private" };
            out.push(Want {
                name: s.names.of(&format!("{tier}-{suffix}")),
                public,
                az: az.clone(),
                cidr: block(i as u32 + if public { 0 } else { 4 }),
            });
        }
    }
    Ok(out)
}

fn role_tags(s: &Shared, w: &Want) -> Vec<(String, String)> {
    let role = if w.public {
        "kubernetes.io/role/elb"
    } else {
        "kubernetes.io/role/internal-elb"
    };
    vec![
        (role.to_string(), "1".to_string()),
        (s.names.cluster_tag(), "shared".to_string()),
    ]
}

/// Ensures each subnet; returns (public ids, private ids) of those that exist.
pub async fn ensure(
    aws: &Aws,
    s: &Shared,
    pass: &mut Pass<'_>,
    vpc: Option<&str>,
    wants: &[Want],
) -> Result<(Vec<String>, Vec<String>), ProviderError> {
    let (mut public, mut private) = (Vec::new(), Vec::new());
    for w in wants {
        let resource = format!("subnet/{}", w.name);
        let extra = role_tags(s, w);
        let found = match vpc {
            None => None,
            Some(vpc) => {
                let mut filters = tags::ec2_filters(&s.names.env, &w.name);
                filters.push(tags::filter("vpc-id", vpc));
                let out = aws
                    .ec2
                    .describe_subnets()
                    .set_filters(Some(filters))
                    .send()
                    .await
                    .map_err(|e| pe("DescribeSubnets", &resource, e))?;
                out.subnets().first().cloned()
            }
        };
        let id = match found {
            Some(sn) => {
                let id = sn.subnet_id().unwrap_or_default().to_string();
                let missing: Vec<_> = extra
                    .iter()
                    .filter(|(k, v)| {
                        !sn.tags()
                            .iter()
                            .any(|t| t.key() == Some(k) && t.value() == Some(v))
                    })
                    .cloned()
                    .collect();
                if !missing.is_empty() && pass.update(&resource, "Kubernetes tags")? {
                    aws.ec2
                        .create_tags()
                        .resources(&id)
                        .set_tags(Some(
                            missing
                                .into_iter()
                                .map(|(k, v)| {
                                    aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()
                                })
                                .collect(),
                        ))
                        .send()
                        .await
                        .map_err(|e| pe("CreateTags", &resource, e))?;
                }
                Some(id)
            }
            None => {
                if !pass.create(&resource)? {
                    None
                } else {
                    let vpc = vpc.unwrap_or_default();
                    let out = aws
                        .ec2
                        .create_subnet()
                        .vpc_id(vpc)
                        .cidr_block(&w.cidr)
                        .availability_zone(&w.az)
                        .tag_specifications(tags::ec2_spec(
                            ResourceType::Subnet,
                            &s.req.tags,
                            &w.name,
                            &extra,
                        ))
                        .send()
                        .await
                        .map_err(|e| pe("CreateSubnet", &resource, e))?;
                    out.subnet().and_then(|x| x.subnet_id()).map(str::to_string)
                }
            }
        };
        if let Some(id) = id {
            if w.public {
                public.push(id);
            } else {
                private.push(id);
            }
        }
    }
    Ok((public, private))
}

#[cfg(test)]
mod tests {
    use kat_provider::{DatabaseConfig, ProviderConfig, ProviderRequest};

    use crate::names::Names;
    use crate::shared::Shared;

    fn shared(cidr: &str) -> Shared {
        let mut config = ProviderConfig::default();
        config.eks.vpc_cidr = cidr.into();
        Shared::new(
            ProviderRequest {
                env: "t".into(),
                config,
                state_dir: "/tmp".into(),
                database: DatabaseConfig::default(),
                registry: None,
                tags: Default::default(),
                addons: Vec::new(),
                own_addons: Vec::new(),
                purge: false,
            },
            Names::new("t"),
        )
    }

    #[test]
    fn subnets_are_carved_per_zone_and_tier() {
        let zones = ["us-east-1a", "us-east-1b", "us-east-1c"].map(String::from);
        let w = super::plan(&shared("10.42.0.0/16"), &zones).unwrap();
        let got: Vec<(String, String)> =
            w.iter().map(|w| (w.name.clone(), w.cidr.clone())).collect();
        assert_eq!(got[0], ("kat-t-public-a".into(), "10.42.0.0/20".into()));
        assert_eq!(got[1], ("kat-t-private-a".into(), "10.42.64.0/20".into()));
        assert_eq!(got[4], ("kat-t-public-c".into(), "10.42.32.0/20".into()));
        assert_eq!(got[5], ("kat-t-private-c".into(), "10.42.96.0/20".into()));
        let small = super::plan(&shared("192.168.10.0/24"), &zones).unwrap();
        assert_eq!(small[1].cidr, "192.168.10.64/28");
    }

    #[test]
    fn a_bad_range_is_a_config_error_naming_the_key() {
        let zones = ["a".to_string()];
        for bad in ["10.0.0.0", "10.0.0.0/8", "10.0.0.0/28", "x/16"] {
            let e = super::plan(&shared(bad), &zones).unwrap_err();
            assert!(
                matches!(e, kat_provider::ProviderError::Config { ref key, .. } if key == "provider.eks.vpc_cidr"),
                "{bad}"
            );
        }
    }
}
