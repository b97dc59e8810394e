//! The network role: a dedicated VPC over 2–3 zones (or the user's own VPC, which kat neither
//! creates nor deletes).

mod destroy;
mod gateways;
mod routes;
pub mod security;
mod subnets;
mod vpc;

use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::{Outputs, ProviderError};
use serde_json::{json, Value};

use crate::error::pe;
use crate::shared::Shared;
use kat_provider::converge::{Converge, Pass};

pub use vpc::find_all as find_vpcs;

pub struct Network {
    pub s: Arc<Shared>,
}

impl Network {
    async fn zones(&self) -> Result<Vec<String>, ProviderError> {
        let aws = self.s.aws().await;
        let out = aws
            .ec2
            .describe_availability_zones()
            .filters(crate::tags::filter("state", "available"))
            .send()
            .await
            .map_err(|e| pe("DescribeAvailabilityZones", &aws.region, e))?;
        let mut zones: Vec<String> = out
            .availability_zones()
            .iter()
            .filter_map(|z| z.zone_name().map(str::to_string))
            .collect();
        zones.sort();
        let n = self.s.req.config.eks.az_count as usize;
        if zones.len() < n {
            return Err(ProviderError::config(
                "provider.eks.az_count",
                format!(
                    "region {} has {} available zones; use at most that many",
                    aws.region,
                    zones.len()
                ),
            ));
        }
        zones.truncate(n);
        Ok(zones)
    }

    async fn build(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        let s = &self.s;
        let eks = &s.req.config.eks;
        let mut o = Outputs::new();
        if let Some(vpc) = &eks.vpc_id {
            // Bring-your-own: check it exists, create nothing.
            let aws = s.aws().await;
            aws.ec2
                .describe_vpcs()
                .vpc_ids(vpc)
                .send()
                .await
                .map_err(|e| pe("DescribeVpcs", &format!("vpc/{vpc}"), e))?;
            o.set("vpc_id", vpc)
                .set("public_subnet_ids", &eks.public_subnet_ids)
                .set("private_subnet_ids", &eks.private_subnet_ids)
                .set("byo", true);
            let whose = match &eks.vpc_of {
                Some(env) => format!("the fleet's shared network; `kat down` of the fleet removes it with environment {env}"),
                None => "yours; kat leaves it in place".to_string(),
            };
            o.show("VPC", format!("{vpc} ({whose})"));
            return Ok(o);
        }
        let aws = s.aws().await;
        let azs = self.zones().await?;
        let vpc = vpc::ensure(&aws, s, pass).await?;
        let wants = subnets::plan(s, &azs)?;
        let (public, private) = subnets::ensure(&aws, s, pass, vpc.as_deref(), &wants).await?;
        let igw = gateways::ensure_igw(&aws, s, pass, vpc.as_deref()).await?;
        let suffix = |az: &String| az.chars().last().unwrap_or('x');
        let nat_count = if eks.nat_per_az { azs.len() } else { 1 };
        let nat_subnets: Vec<(Option<String>, char)> = azs
            .iter()
            .take(nat_count)
            .enumerate()
            .map(|(i, az)| (public.get(i).cloned(), suffix(az)))
            .collect();
        let nats = gateways::ensure_nats(&aws, s, pass, &nat_subnets).await?;
        let mut tables = vec![routes::Want {
            name: s.names.of("public"),
            target: routes::Target::Igw(igw),
            subnets: (0..azs.len()).map(|i| public.get(i).cloned()).collect(),
        }];
        for (i, az) in azs.iter().enumerate().take(nat_count) {
            // With one NAT, one private table serves every zone.
            let served: Vec<Option<String>> = if nat_count == 1 {
                (0..azs.len()).map(|j| private.get(j).cloned()).collect()
            } else {
                vec![private.get(i).cloned()]
            };
            tables.push(routes::Want {
                name: if nat_count == 1 {
                    s.names.of("private")
                } else {
                    s.names.of(&format!("private-{}", suffix(az)))
                },
                target: routes::Target::Nat(nats.get(i).cloned().flatten()),
                subnets: served,
            });
        }
        for t in &tables {
            routes::ensure(&aws, s, pass, vpc.as_deref(), t).await?;
        }
        let cluster_sg = security::ensure(
            &aws,
            s,
            pass,
            vpc.as_deref(),
            &s.names.cluster_sg(),
            "kat: additional control-plane group, admitted by the database",
        )
        .await?;
        o.set("vpc_id", vpc.clone().unwrap_or_default())
            .set("public_subnet_ids", &public)
            .set("private_subnet_ids", &private)
            .set("cluster_security_group_id", cluster_sg.unwrap_or_default())
            .set("zones", &azs)
            .set("byo", false);
        o.show(
            "VPC",
            format!(
                "{} ({}, {} zones, {} NAT)",
                vpc.unwrap_or_default(),
                eks.vpc_cidr,
                azs.len(),
                nat_count
            ),
        );
        Ok(o)
    }
}

/// A fleet member's configuration made to build in the VPC another environment's network stage
/// recorded (`fleet.share_network`), through the bring-your-own keys: the member creates no
/// network and its `down` deletes none; the VPC's own environment does.
pub fn adopt(
    owner: &str,
    network: &Outputs,
    eks: &mut kat_provider::EksConfig,
) -> Result<(), ProviderError> {
    let vpc: Option<String> = network.get("vpc_id");
    let public: Vec<String> = network.get("public_subnet_ids").unwrap_or_default();
    let private: Vec<String> = network.get("private_subnet_ids").unwrap_or_default();
    match vpc.filter(|v| !v.is_empty()) {
        Some(vpc) if !public.is_empty() && private.len() >= 2 => {
            eks.vpc_id = Some(vpc);
            eks.public_subnet_ids = public;
            eks.private_subnet_ids = private;
            eks.vpc_of = Some(owner.to_string());
            Ok(())
        }
        _ => Err(ProviderError::config(
            "fleet.share_network",
            "the shared network recorded no VPC with its subnets (its network stage has not finished); run `kat up` again to make it",
        )),
    }
}

#[async_trait]
impl Converge for Network {
    fn nominal(&self) -> Option<std::time::Duration> {
        // Seconds for each VPC resource, then the NAT gateway: 1 to 2 minutes.
        Some(std::time::Duration::from_secs(2 * 60))
    }

    fn desired(&self) -> Value {
        let e = &self.s.req.config.eks;
        json!({"cidr": e.vpc_cidr, "az_count": e.az_count, "nat_per_az": e.nat_per_az,
               "vpc_id": e.vpc_id, "public": e.public_subnet_ids, "private": e.private_subnet_ids,
               "tags": self.s.req.tags})
    }

    async fn converge(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        self.build(pass).await
    }

    async fn teardown(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        destroy::run(&self.s, pass).await
    }
}
