//! kat's AWS provider. One component per role of the graph; each file holds one kind of AWS
//! resource and follows kops' model: find the actual resource by name and tags, diff it against
//! the desired one, converge. `down` finds everything again by name and tags, so it needs no local
//! state, and ends with what Kubernetes made behind kat's back (load balancers, volumes, ENIs).

mod budget;
mod calls;
mod clients;
mod cluster;
mod credentials;
mod database;
mod ecr_auth;
mod environments;
mod error;
mod extras;
mod identity;
mod kubeconfig;
mod limiter;
mod names;
mod network;
mod nodegroup;
mod oidc;
mod provider;
mod registry;
mod retry;
mod secrets;
mod shared;
mod tags;
mod teardown;
mod throttled;
mod token;

pub use clients::Aws;
pub use extras::{ClusterExtras, EksExtras};
pub use kubeconfig::exec_kubeconfig;
pub use provider::EksProvider;
pub use token::presigned_token;

/// The SDK crates, for tests and tools that inspect or plant AWS resources with [`Aws`].
pub mod sdk {
    pub use aws_sdk_cloudwatchlogs as logs;
    pub use aws_sdk_ec2 as ec2;
    pub use aws_sdk_ecr as ecr;
    pub use aws_sdk_eks as eks;
    pub use aws_sdk_elasticloadbalancing as elb;
    pub use aws_sdk_elasticloadbalancingv2 as elbv2;
    pub use aws_sdk_iam as iam;
    pub use aws_sdk_rds as rds;
    pub use aws_sdk_resourcegroupstagging as tagging;
}
