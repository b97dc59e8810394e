//! RDS PostgreSQL beside the cluster: a DB subnet group on the private subnets, a security group
//! admitting 5432 only from the cluster's security group, an encrypted, never public instance
//! whose master password AWS generates and keeps in Secrets Manager (`ManageMasterUserPassword`):
//! kat never sees, prints or stores it, and hands on only a reference to the secret.
//!
//! The database runs beside the cluster (it needs the network only), so whichever of the two
//! finishes second adds the 5432 rule: the cluster stage after ACTIVE, or this one if the cluster
//! is already ACTIVE once its security group exists.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, UserIdGroupPair};
use aws_sdk_rds::types::DbInstance;
use kat_provider::contract::{
    DATABASE_HOST, DATABASE_NAME, DATABASE_PORT, DATABASE_SECRET, DATABASE_USER,
};
use kat_provider::wait::{poll_until, Backoff};
use kat_provider::{Outputs, ProviderError, SecretRef};
use serde_json::{json, Value};

use crate::clients::Aws;
use crate::error::{api, is_not_found, pe};
use crate::shared::Shared;
use crate::tags;
use kat_provider::converge::retrying;
use kat_provider::converge::{Converge, Pass};

const PORT: i32 = 5432;
const DB_BACKOFF: Backoff = Backoff {
    first: Duration::from_secs(2),
    max: Duration::from_secs(30),
    factor: 1.5,
};

async fn describe(aws: &Aws, id: &str) -> Result<Option<DbInstance>, ProviderError> {
    match aws
        .rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances().first().cloned()),
        Err(e) if is_not_found(crate::error::code(&e).as_deref()) => Ok(None),
        Err(e) => Err(pe("DescribeDBInstances", &format!("db-instance/{id}"), e)),
    }
}

/// kat's database security group, by name and environment tag (no VPC id needed).
async fn db_group(
    aws: &Aws,
    s: &Shared,
) -> Result<Option<aws_sdk_ec2::types::SecurityGroup>, ProviderError> {
    let name = s.names.db_sg();
    let out = aws
        .ec2
        .describe_security_groups()
        .filters(tags::filter("group-name", &name))
        .filters(tags::filter(
            &format!("tag:{}", tags::ENV_TAG),
            &s.names.env,
        ))
        .send()
        .await
        .map_err(|e| {
            pe(
                "DescribeSecurityGroups",
                &format!("security-group/{name}"),
                e,
            )
        })?;
    Ok(out.security_groups().first().cloned())
}

/// Lets `source` (the cluster's security group) reach 5432, if the database group exists.
pub async fn admit(
    aws: &Aws,
    s: &Shared,
    pass: &mut Pass<'_>,
    source: &str,
) -> Result<(), ProviderError> {
    let Some(group) = db_group(aws, s).await? else {
        return Ok(());
    };
    let id = group.group_id().unwrap_or_default();
    let present = group.ip_permissions().iter().any(|p| {
        p.from_port() == Some(PORT)
            && p.user_id_group_pairs()
                .iter()
                .any(|g| g.group_id() == Some(source))
    });
    if !present
        && pass.update(
            format!("security-group/{}", s.names.db_sg()),
            format!("admit {source} on {PORT}"),
        )?
    {
        let r = aws
            .ec2
            .authorize_security_group_ingress()
            .group_id(id)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(PORT)
                    .to_port(PORT)
                    .user_id_group_pairs(UserIdGroupPair::builder().group_id(source).build())
                    .build(),
            )
            .send()
            .await;
        match r {
            Ok(_) => {}
            // The other stage added it a moment ago.
            Err(e) if crate::error::code(&e).as_deref() == Some("InvalidPermission.Duplicate") => {}
            Err(e) => return Err(pe("AuthorizeSecurityGroupIngress", id, e)),
        }
    }
    Ok(())
}

pub struct Database {
    pub s: Arc<Shared>,
}

impl Database {
    async fn build(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        let aws = self.s.aws().await;
        let s = &self.s;
        let db = &s.req.database;
        let id = s.names.cluster();
        let cx = pass.cx;
        let net = (|| -> Result<(String, Vec<String>), ProviderError> {
            Ok((
                cx.input("network", "vpc_id")?,
                cx.input("network", "private_subnet_ids")?,
            ))
        })();
        let (vpc, subnets) = match net {
            Ok(n) => n,
            Err(_) if pass.dry => (String::new(), Vec::new()),
            Err(e) => return Err(e),
        };
        let vpc = Some(vpc).filter(|v| !v.is_empty());
        // Subnet group.
        let group_res = format!("db-subnet-group/{id}");
        let group_subnets: Option<Vec<String>> = match aws
            .rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(&id)
            .send()
            .await
        {
            Ok(out) => Some(
                out.db_subnet_groups()
                    .iter()
                    .flat_map(|g| g.subnets())
                    .filter_map(|s| s.subnet_identifier().map(str::to_string))
                    .collect(),
            ),
            Err(e) if is_not_found(crate::error::code(&e).as_deref()) => None,
            Err(e) => return Err(pe("DescribeDBSubnetGroups", &group_res, e)),
        };
        let have_group = group_subnets.is_some();
        // A zone added to the network (`az_count` raised): RDS changes a subnet group in place.
        if let Some(have) = group_subnets.filter(|h| !subnets.is_empty() && !same_set(h, &subnets))
        {
            if pass.update(
                &group_res,
                format!("subnets {} → {}", have.join(","), subnets.join(",")),
            )? {
                aws.rds
                    .modify_db_subnet_group()
                    .db_subnet_group_name(&id)
                    .set_subnet_ids(Some(subnets.clone()))
                    .send()
                    .await
                    .map_err(|e| pe("ModifyDBSubnetGroup", &group_res, e))?;
            }
        }
        if !have_group && pass.create(&group_res)? {
            aws.rds
                .create_db_subnet_group()
                .db_subnet_group_name(&id)
                .db_subnet_group_description(format!(
                    "kat environment {}: private subnets",
                    s.names.env
                ))
                .set_subnet_ids(Some(subnets))
                .set_tags(Some(tags::rds(&s.req.tags)))
                .send()
                .await
                .map_err(|e| pe("CreateDBSubnetGroup", &group_res, e))?;
        }
        let sg = crate::network::security::ensure(
            &aws,
            s,
            pass,
            vpc.as_deref(),
            &s.names.db_sg(),
            "kat: PostgreSQL, admits the cluster's security group on 5432",
        )
        .await?;
        if let Some(c) = crate::cluster::describe(&aws, &s.names.cluster()).await? {
            if c.status() == Some(&aws_sdk_eks::types::ClusterStatus::Active) {
                let source = crate::cluster::security_group(&c);
                if !source.is_empty() {
                    admit(&aws, s, pass, &source).await?;
                }
            }
        }
        let res = format!("db-instance/{id}");
        let mut inst = describe(&aws, &id).await?;
        match &inst {
            None => {
                if pass.create(&res)? {
                    aws.rds
                        .create_db_instance()
                        .db_instance_identifier(&id)
                        .engine("postgres")
                        .engine_version(&db.engine_version)
                        .db_instance_class(&db.instance_class)
                        .allocated_storage(db.storage_gb as i32)
                        .db_name("app")
                        .master_username("kat")
                        .manage_master_user_password(true)
                        .db_subnet_group_name(&id)
                        .set_vpc_security_group_ids(sg.map(|g| vec![g]))
                        .publicly_accessible(false)
                        .storage_encrypted(true)
                        .deletion_protection(db.deletion_protection)
                        .set_tags(Some(tags::rds(&s.req.tags)))
                        .send()
                        .await
                        .map_err(|e| pe("CreateDBInstance", &res, e))?;
                }
            }
            Some(i) => {
                if i.deletion_protection() != Some(db.deletion_protection)
                    && pass.update(
                        &res,
                        format!("deletion protection {}", db.deletion_protection),
                    )?
                {
                    aws.rds
                        .modify_db_instance()
                        .db_instance_identifier(&id)
                        .deletion_protection(db.deletion_protection)
                        .apply_immediately(true)
                        .send()
                        .await
                        .map_err(|e| pe("ModifyDBInstance", &res, e))?;
                }
            }
        }
        if !pass.dry {
            inst = Some(
                poll_until(
                    pass.cx,
                    &format!("database {id} to become available"),
                    DB_BACKOFF,
                    || async {
                        match describe(&aws, &id).await? {
                            Some(i) if i.db_instance_status() == Some("available") => Ok(Some(i)),
                            Some(i) => {
                                pass.cx.step(format!(
                                    "waiting for database {id}: {}",
                                    i.db_instance_status().unwrap_or("?")
                                ));
                                Ok(None)
                            }
                            None => Err(ProviderError::Other(format!(
                            "database {id} disappeared while kat waited for it; run `kat up` again"
                        ))),
                        }
                    },
                )
                .await?,
            );
        }
        let mut o = Outputs::new();
        if let Some(i) = inst {
            let host = i
                .endpoint()
                .and_then(|e| e.address())
                .unwrap_or_default()
                .to_string();
            let port = i.endpoint().and_then(|e| e.port()).unwrap_or(PORT);
            let secret = SecretRef {
                store: "aws-secretsmanager".into(),
                name: i
                    .master_user_secret()
                    .and_then(|m| m.secret_arn())
                    .unwrap_or_default()
                    .to_string(),
                key: Some("password".into()),
            };
            o.put(&DATABASE_HOST, &host)
                .put(&DATABASE_PORT, u16::try_from(port).unwrap_or(5432))
                .put(&DATABASE_USER, "kat")
                .put(&DATABASE_NAME, "app")
                .put(&DATABASE_SECRET, secret.clone());
            o.show(
                "Database",
                format!(
                    "postgresql://{host}:{port}/app (password in Secrets Manager {})",
                    secret.name
                ),
            );
        }
        Ok(o)
    }

    async fn delete(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        let aws = self.s.aws().await;
        let s = &self.s;
        let db = &s.req.database;
        let id = s.names.cluster();
        let res = format!("db-instance/{id}");
        if let Some(i) = describe(&aws, &id).await? {
            if i.deletion_protection() == Some(true) {
                // Only `up` with the database on turns the protection off.
                let on = if db.mode == kat_provider::DatabaseMode::Managed {
                    ""
                } else {
                    "`mode: managed` and "
                };
                return Err(ProviderError::config(
                    "database.deletion_protection",
                    format!("{res} has deletion protection; set {on}`deletion_protection: false`, run `kat up`, then `kat down`"),
                ));
            }
            if i.db_instance_status() != Some("deleting") && pass.delete(&res)? {
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default();
                retrying(pass.cx, &format!("delete {res}"), || async {
                    aws.rds
                        .delete_db_instance()
                        .db_instance_identifier(&id)
                        .skip_final_snapshot(!db.final_snapshot)
                        .set_final_db_snapshot_identifier(
                            db.final_snapshot.then(|| format!("{id}-final-{secs}")),
                        )
                        .delete_automated_backups(true)
                        .send()
                        .await
                        .map_err(|e| api("DeleteDBInstance", &res, e))
                })
                .await?;
            }
            if !pass.dry {
                poll_until(
                    pass.cx,
                    &format!("database {id} to be deleted"),
                    DB_BACKOFF,
                    || async { Ok(describe(&aws, &id).await?.is_none().then_some(())) },
                )
                .await?;
            }
        }
        let group_res = format!("db-subnet-group/{id}");
        let have_group = match aws
            .rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(&id)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) if is_not_found(crate::error::code(&e).as_deref()) => false,
            Err(e) => return Err(pe("DescribeDBSubnetGroups", &group_res, e)),
        };
        if have_group && pass.delete(&group_res)? {
            retrying(pass.cx, &format!("delete {group_res}"), || async {
                aws.rds
                    .delete_db_subnet_group()
                    .db_subnet_group_name(&id)
                    .send()
                    .await
                    .map_err(|e| api("DeleteDBSubnetGroup", &group_res, e))
            })
            .await?;
        }
        if let Some(g) = db_group(&aws, s).await? {
            let gid = g.group_id().unwrap_or_default().to_string();
            let sg_res = format!("security-group/{}", s.names.db_sg());
            if pass.delete(&sg_res)? {
                // The instance's network interface lets go of the group a little after it is gone.
                retrying(pass.cx, &format!("delete {sg_res}"), || async {
                    aws.ec2
                        .delete_security_group()
                        .group_id(&gid)
                        .send()
                        .await
                        .map_err(|e| api("DeleteSecurityGroup", &sg_res, e))
                })
                .await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Converge for Database {
    fn nominal(&self) -> Option<std::time::Duration> {
        // RDS PostgreSQL single-AZ to available: 5 to 10 minutes; nothing when it is off.
        (self.s.req.database.mode == kat_provider::DatabaseMode::Managed)
            .then(|| std::time::Duration::from_secs(450))
    }

    fn desired(&self) -> Value {
        let d = &self.s.req.database;
        json!({"engine": "postgres", "version": d.engine_version, "class": d.instance_class,
               "storage_gb": d.storage_gb, "deletion_protection": d.deletion_protection,
               "encrypted": true, "public": false, "tags": self.s.req.tags})
    }

    async fn converge(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        self.build(pass).await
    }

    async fn teardown(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        self.delete(pass).await
    }
}

/// Equal as sets: AWS returns subnets in an order of its own.
fn same_set(a: &[String], b: &[String]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}
