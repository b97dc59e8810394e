//! Every name kat gives an AWS resource, derived from the environment alone: `down` with the state
//! directory deleted finds each resource again by these names (and the `kat:environment` tag).

#[derive(Debug, Clone)]
pub struct Names {
    pub env: String,
}

impl Names {
    pub fn new(env: &str) -> Self {
        Names {
            env: env.to_string(),
        }
    }

    /// The cluster, the VPC and the prefix of everything else.
    pub fn cluster(&self) -> String {
        format!("kat-{}", self.env)
    }

    pub fn of(&self, suffix: &str) -> String {
        format!("kat-{}-{suffix}", self.env)
    }

    pub fn cluster_role(&self) -> String {
        self.of("cluster")
    }

    pub fn node_role(&self) -> String {
        self.of("node")
    }

    pub fn autoscaler_role(&self) -> String {
        self.of("autoscaler")
    }

    pub fn nodegroup(&self) -> String {
        self.of("default")
    }

    pub fn db_sg(&self) -> String {
        self.of("db")
    }

    /// The security group kat attaches to the control plane; the database admits it when EKS
    /// reports no cluster security group of its own.
    pub fn cluster_sg(&self) -> String {
        self.of("cluster")
    }

    pub fn repository(&self, repo: &str) -> String {
        format!("kat-{}/{repo}", self.env)
    }

    pub fn log_group(&self) -> String {
        format!("/aws/eks/{}/cluster", self.cluster())
    }

    /// The tag Kubernetes (and kat) put on what belongs to the cluster.
    pub fn cluster_tag(&self) -> String {
        format!("kubernetes.io/cluster/{}", self.cluster())
    }
}
