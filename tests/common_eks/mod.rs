//! The eks provider against moto (a real AWS API emulator): a moto server of the test's own on a
//! free loopback port (or the one `KAT_TEST_MOTO_URL` names), a sandbox whose `kat` talks to it,
//! and an SDK client to look at (and plant) AWS resources behind kat's back.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kat_provider::{
    DatabaseConfig, Leftover, OpContext, Provider, ProviderConfig, ProviderRequest,
};
use kat_provider_eks::sdk::tagging::types::TagFilter;
use kat_provider_eks::{Aws, EksProvider};

use crate::common::Sandbox;

pub mod ecr;
pub mod fault_proxy;

/// Each test environment in a region of its own: moto gives every cluster of a region the same
/// OIDC issuer, so environments sharing one moto (`KAT_TEST_MOTO_URL`) and a region would share
/// an OIDC provider, which real EKS never does.
pub fn region_of(env: &str) -> &'static str {
    match env {
        "life" => "us-east-1",
        "nostate" => "us-east-2",
        "nocreds" => "us-west-1",
        "crash" => "us-west-2",
        "rds" => "eu-west-1",
        "k8s" => "eu-west-2",
        "triple" => "eu-central-1",
        "byo" => "ap-southeast-1",
        "whole" => "ap-northeast-1",
        "rdsoff" => "ca-central-1",
        "guard" => "sa-east-1",
        "stsflaky" => "ap-south-1",
        "stsdown" => "eu-west-3",
        "ngchange" => "ap-northeast-2",
        "throttled" => "ap-southeast-2",
        "faults20" => "eu-south-1",
        "faults40" => "ap-northeast-3",
        "zones" => "ap-south-2",
        "faults0" => "ap-southeast-3",
        "ecrpush" => "af-south-1",
        "ecraddon" => "me-central-1",
        // A fleet: its members and their shared network share one region, as a real fleet does.
        "fleetnet" => "eu-central-2",
        "fleetreg" => "me-south-1",
        _ => "eu-north-1",
    }
}

pub struct Moto {
    child: Option<Child>,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        if let Ok(url) = std::env::var("KAT_TEST_MOTO_URL") {
            return Moto { child: None, url };
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server on PATH (pip install 'moto[server]')");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn config(env: &str, extra: &str) -> String {
    let region = region_of(env);
    format!(
        "environment: {env}\nprovider:\n  name: eks\n  region: {region}\n  eks:\n    access_entry: false\n    addons: []\n{extra}"
    )
}

pub struct Eks {
    pub sb: Sandbox,
    pub moto: Moto,
    pub env: String,
    pub rt: tokio::runtime::Runtime,
    pub aws: Aws,
    pub region: &'static str,
}

impl Eks {
    pub fn new(env: &str, config_extra: &str) -> Eks {
        let moto = Moto::start();
        let sb = Sandbox::new(&config(env, config_extra));
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let region = region_of(env);
        let aws = rt.block_on(Aws::with_endpoint(&moto.url, region));
        let t = Eks {
            sb,
            moto,
            env: env.to_string(),
            rt,
            aws,
            region,
        };
        if t.moto.child.is_none() {
            // A shared moto may hold what an earlier, failed run left: `down` finds it by tags.
            let (code, _, stderr, _) = t.run(&["down"]);
            assert_eq!(code, 0, "clearing the shared moto: {stderr}");
        }
        t
    }

    pub fn call_log(&self) -> std::path::PathBuf {
        self.sb.path().join("calls.json")
    }

    /// `kat` with the moto endpoint and dummy credentials, nothing from the user's AWS set-up.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.sb.cmd(args);
        for var in [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_DEFAULT_REGION",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ] {
            c.env_remove(var);
        }
        c.env("AWS_ENDPOINT_URL", &self.moto.url)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", self.region)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.sb.path().join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.sb.path().join("no-aws-credentials"),
            )
            .env("KAT_EKS_CALL_LOG", self.call_log())
            // `up` merges its context into the user's kubeconfig: the sandbox's, never the
            // machine's.
            .env("KUBECONFIG", self.user_kubeconfig());
        c
    }

    /// The kubeconfig `up` merges the environment's context into.
    pub fn user_kubeconfig(&self) -> std::path::PathBuf {
        self.sb.path().join("home-kube-config")
    }

    /// `kat <args> -o json`: exit code, events, stderr, and the AWS calls it made.
    pub fn run(&self, args: &[&str]) -> (i32, Vec<serde_json::Value>, String, serde_json::Value) {
        self.run_via(&self.moto.url, args)
    }

    /// [`Eks::run`] with AWS reached at `endpoint` (a fault proxy in front of moto).
    pub fn run_via(
        &self,
        endpoint: &str,
        args: &[&str],
    ) -> (i32, Vec<serde_json::Value>, String, serde_json::Value) {
        let _ = std::fs::remove_file(self.call_log());
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out: Output = self
            .cmd(&all)
            .env("AWS_ENDPOINT_URL", endpoint)
            .output()
            .expect("run kat");
        let events = crate::common::parse_events(&String::from_utf8_lossy(&out.stdout));
        let calls = std::fs::read_to_string(self.call_log())
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::json!({"total": 0, "mutating": 0}));
        (
            out.status.code().unwrap_or(-1),
            events,
            String::from_utf8_lossy(&out.stderr).into_owned(),
            calls,
        )
    }

    /// The provider itself, on the test's own AWS clients.
    pub fn provider(&self) -> EksProvider {
        let req = ProviderRequest {
            env: self.env.clone(),
            config: ProviderConfig::default(),
            state_dir: self.sb.path().join(".kat").join(&self.env),
            database: DatabaseConfig::default(),
            registry: None,
            tags: Default::default(),
            addons: Vec::new(),
            own_addons: Vec::new(),
            purge: false,
        };
        let aws = self
            .rt
            .block_on(Aws::with_endpoint(&self.moto.url, self.region));
        EksProvider::with_aws(req, aws).expect("provider")
    }

    /// What the provider's sweep finds through the AWS API (not kat's state).
    pub fn leftovers(&self) -> Vec<Leftover> {
        let p = self.provider();
        self.rt
            .block_on(p.sweep(&OpContext::detached(&self.env, "test")))
            .expect("sweep")
    }

    /// Events of a JSON run whose progress message contains `text`.
    pub fn progress_with<'a>(events: &'a [serde_json::Value], text: &str) -> Vec<&'a str> {
        events
            .iter()
            .filter(|e| e["event"] == "stage_progress")
            .filter_map(|e| e["message"].as_str())
            .filter(|m| m.contains(text))
            .collect()
    }

    pub fn tag_filter(&self) -> kat_provider_eks::sdk::ec2::types::Filter {
        Eks::env_filter(&self.env)
    }

    /// EC2's filter for what carries `kat:environment=<env>`.
    pub fn env_filter(env: &str) -> kat_provider_eks::sdk::ec2::types::Filter {
        kat_provider_eks::sdk::ec2::types::Filter::builder()
            .name("tag:kat:environment")
            .values(env)
            .build()
    }

    pub fn vpcs(&self) -> Vec<String> {
        self.vpcs_of(&self.env)
    }

    /// The VPCs tagged for `env` (another environment in the same moto and region).
    pub fn vpcs_of(&self, env: &str) -> Vec<String> {
        let out = self
            .rt
            .block_on(
                self.aws
                    .ec2
                    .describe_vpcs()
                    .filters(Eks::env_filter(env))
                    .send(),
            )
            .expect("DescribeVpcs");
        out.vpcs()
            .iter()
            .filter_map(|v| v.vpc_id().map(str::to_string))
            .collect()
    }

    pub fn count_tagged(&self) -> serde_json::Value {
        let ec2 = &self.aws.ec2;
        let f = Eks::tag_filter;
        let rt = &self.rt;
        let subnets = rt
            .block_on(ec2.describe_subnets().filters(f(self)).send())
            .unwrap()
            .subnets()
            .len();
        let nats = rt
            .block_on(ec2.describe_nat_gateways().filter(f(self)).send())
            .unwrap()
            .nat_gateways()
            .iter()
            .filter(|n| n.state().map(|s| s.as_str()) != Some("deleted"))
            // moto ignores tag filters on DescribeNatGateways.
            .filter(|n| {
                n.tags()
                    .iter()
                    .any(|t| t.key() == Some("kat:environment") && t.value() == Some(&self.env))
            })
            .count();
        let igws = rt
            .block_on(ec2.describe_internet_gateways().filters(f(self)).send())
            .unwrap()
            .internet_gateways()
            .len();
        let eips = rt
            .block_on(ec2.describe_addresses().filters(f(self)).send())
            .unwrap()
            .addresses()
            .len();
        let clusters = rt
            .block_on(self.aws.eks.list_clusters().send())
            .unwrap()
            .clusters()
            .iter()
            .filter(|c| **c == format!("kat-{}", self.env))
            .count();
        serde_json::json!({"vpcs": self.vpcs().len(), "subnets": subnets, "nat_gateways": nats,
                           "internet_gateways": igws, "elastic_ips": eips, "clusters": clusters})
    }
}

impl Eks {
    /// Everything of the environment still in AWS, found without kat's code (its sweep included):
    /// the Resource Groups Tagging API for `kat:environment=<env>` and for the cluster tags
    /// Kubernetes and the load balancer controller put on what they make, plus direct lists of the
    /// kinds moto's tagging API does not cover (EKS, ECR, IAM, RDS subnet groups, log groups,
    /// elastic IPs). Each entry names the resource.
    pub fn remaining(&self) -> Vec<String> {
        self.remaining_of(&self.env)
    }

    /// [`Eks::remaining`] of another environment in the same moto and region (a fleet's member).
    pub fn remaining_of(&self, env: &str) -> Vec<String> {
        let rt = &self.rt;
        let aws = &self.aws;
        let cluster = format!("kat-{}", env);
        let mut found: Vec<String> = Vec::new();
        let filters = [
            TagFilter::builder()
                .key("kat:environment")
                .values(env)
                .build(),
            // `shared` marks what the cluster uses but does not own (a VPC of the user's).
            TagFilter::builder()
                .key(format!("kubernetes.io/cluster/{cluster}"))
                .values("owned")
                .build(),
            TagFilter::builder()
                .key("elbv2.k8s.aws/cluster")
                .values(&cluster)
                .build(),
        ];
        for f in filters {
            let mut token: Option<String> = None;
            loop {
                let out = rt
                    .block_on(
                        aws.tagging
                            .get_resources()
                            .tag_filters(f.clone())
                            .set_pagination_token(token.clone())
                            .send(),
                    )
                    .expect("GetResources");
                for m in out.resource_tag_mapping_list() {
                    let arn = m.resource_arn().unwrap_or_default().to_string();
                    if !found.contains(&arn) && !self.deleted_nat(&arn) {
                        found.push(arn);
                    }
                }
                token = out
                    .pagination_token()
                    .filter(|t| !t.is_empty())
                    .map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
        }
        let clusters = rt.block_on(aws.eks.list_clusters().send()).unwrap();
        found.extend(
            clusters
                .clusters()
                .iter()
                .filter(|c| **c == cluster)
                .map(|c| format!("eks cluster {c}")),
        );
        let repos = rt.block_on(aws.ecr.describe_repositories().send()).unwrap();
        found.extend(
            repos
                .repositories()
                .iter()
                .filter_map(|r| r.repository_name())
                .filter(|n| n.starts_with(&format!("{cluster}/")))
                .map(|n| format!("ecr repository {n}")),
        );
        let roles = rt.block_on(aws.iam.list_roles().send()).unwrap();
        found.extend(
            roles
                .roles()
                .iter()
                .map(|r| r.role_name())
                .filter(|n| n.starts_with(&format!("{cluster}-")))
                .map(|n| format!("iam role {n}")),
        );
        let oidc = rt
            .block_on(aws.iam.list_open_id_connect_providers().send())
            .unwrap();
        for p in oidc.open_id_connect_provider_list() {
            let arn = p.arn().unwrap_or_default();
            let tags = rt
                .block_on(
                    aws.iam
                        .list_open_id_connect_provider_tags()
                        .open_id_connect_provider_arn(arn)
                        .send(),
                )
                .unwrap();
            if tags
                .tags()
                .iter()
                .any(|t| t.key() == "kat:environment" && t.value() == env)
            {
                found.push(format!("oidc provider {arn}"));
            }
        }
        let groups = rt
            .block_on(aws.rds.describe_db_subnet_groups().send())
            .unwrap();
        found.extend(
            groups
                .db_subnet_groups()
                .iter()
                .filter_map(|g| g.db_subnet_group_name())
                .filter(|n| *n == cluster)
                .map(|n| format!("db subnet group {n}")),
        );
        let logs = rt
            .block_on(
                aws.logs
                    .describe_log_groups()
                    .log_group_name_prefix(format!("/aws/eks/{cluster}/"))
                    .send(),
            )
            .unwrap();
        found.extend(
            logs.log_groups()
                .iter()
                .filter_map(|g| g.log_group_name())
                .map(|n| format!("log group {n}")),
        );
        let eips = rt
            .block_on(
                aws.ec2
                    .describe_addresses()
                    .filters(Eks::env_filter(env))
                    .send(),
            )
            .unwrap();
        found.extend(
            eips.addresses()
                .iter()
                .filter_map(|a| a.allocation_id())
                .map(|a| format!("elastic ip {a}")),
        );
        found
    }

    /// Moto keeps a deleted NAT gateway (state `deleted`, as AWS shows it for a while), and its
    /// tagging API lists it: it costs nothing and is not a leftover.
    fn deleted_nat(&self, arn: &str) -> bool {
        let Some(id) = arn.split(":natgateway/").nth(1) else {
            return false;
        };
        let out = self.rt.block_on(
            self.aws
                .ec2
                .describe_nat_gateways()
                .nat_gateway_ids(id)
                .send(),
        );
        out.map(|o| {
            o.nat_gateways()
                .iter()
                .all(|n| n.state().map(|s| s.as_str()) == Some("deleted"))
        })
        .unwrap_or(false)
    }

    /// Asserts, through the AWS API and not kat's sweep, that nothing of the environment is left.
    pub fn assert_nothing_left(&self) {
        let left = self.remaining();
        assert!(left.is_empty(), "still in AWS: {left:#?}");
    }
}

pub fn result(events: &[serde_json::Value]) -> String {
    crate::common::summary(events)["result"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
