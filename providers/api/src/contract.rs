//! The outputs the core reads from a provider's stages, declared once: a provider writes them with
//! [`Outputs::put`] and the core reads them with [`Outputs::read`] or [`OpContext::read`], so
//! neither side spells a key by hand and the value's type is part of the key. A provider records
//! whatever else it needs under its own keys; the core reads no others.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::context::OpContext;
use crate::error::ProviderError;
use crate::outputs::{Outputs, SecretRef};
use crate::provider::Role;

/// One output of one role's stage, with its type.
pub struct OutputKey<T> {
    pub role: Role,
    pub name: &'static str,
    value: PhantomData<fn() -> T>,
}

impl<T> OutputKey<T> {
    const fn new(role: Role, name: &'static str) -> Self {
        OutputKey {
            role,
            name,
            value: PhantomData,
        }
    }
}

/// The managed database's address; the password is behind [`DATABASE_SECRET`].
pub const DATABASE_HOST: OutputKey<String> = OutputKey::new(Role::Database, "host");
pub const DATABASE_PORT: OutputKey<u16> = OutputKey::new(Role::Database, "port");
pub const DATABASE_USER: OutputKey<String> = OutputKey::new(Role::Database, "user");
/// The database (schema) the blueprint uses on the server.
pub const DATABASE_NAME: OutputKey<String> = OutputKey::new(Role::Database, "database");
/// Where the password is kept (the cloud's secret store); read with `Provider::secret_value`.
pub const DATABASE_SECRET: OutputKey<SecretRef> = OutputKey::new(Role::Database, "secret");

/// The registry the blueprint's images are pushed to and pulled from (`host[:port][/prefix]`).
pub const REGISTRY_URL: OutputKey<String> = OutputKey::new(Role::Registry, "url");

/// The control plane's Kubernetes version (`1.33`), as the cloud reports it.
pub const CLUSTER_VERSION: OutputKey<String> = OutputKey::new(Role::Cluster, "version");
/// The API server's URL, as the cloud reports it.
pub const CLUSTER_ENDPOINT: OutputKey<String> = OutputKey::new(Role::Cluster, "endpoint");
/// The identity kat's cluster-autoscaler Deployment runs as (an IAM role ARN on eks). Absent when
/// the provider's cluster scales itself or has no autoscaler.
pub const AUTOSCALER_IDENTITY: OutputKey<String> =
    OutputKey::new(Role::Cluster, "autoscaler_role_arn");

/// The kubeconfig file kat wrote (0600).
pub const KUBECONFIG_PATH: OutputKey<String> = OutputKey::new(Role::Kubeconfig, "kubeconfig");
/// Its context for this environment (`kat-<env>`).
pub const KUBECONFIG_CONTEXT: OutputKey<String> = OutputKey::new(Role::Kubeconfig, "context");
/// The API server the kubeconfig reaches (an existing cluster's, where no cluster stage runs).
pub const KUBECONFIG_SERVER: OutputKey<String> = OutputKey::new(Role::Kubeconfig, "server");
/// The server's version as the kubeconfig stage found it.
pub const KUBECONFIG_VERSION: OutputKey<String> = OutputKey::new(Role::Kubeconfig, "version");

impl Outputs {
    /// Records a contract output.
    pub fn put<T: Serialize>(&mut self, key: &OutputKey<T>, value: impl Into<T>) -> &mut Self {
        self.set(key.name, value.into())
    }

    /// A contract output this stage recorded, if it did (and it has the declared type).
    pub fn read<T: DeserializeOwned>(&self, key: &OutputKey<T>) -> Option<T> {
        self.get(key.name)
    }
}

impl OpContext {
    /// A contract output of an upstream stage; an error naming both stages when it is missing.
    pub fn read<T: DeserializeOwned>(&self, key: &OutputKey<T>) -> Result<T, ProviderError> {
        self.input(key.role.as_str(), key.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contract_output_reads_back_with_its_type_and_not_as_another() {
        let mut o = Outputs::new();
        o.put(&DATABASE_PORT, 5432u16).put(&DATABASE_HOST, "db");
        assert_eq!(o.read(&DATABASE_PORT), Some(5432));
        assert_eq!(o.read(&DATABASE_HOST).as_deref(), Some("db"));
        assert_eq!(o.read(&DATABASE_USER), None);
        o.set("port", "not a number");
        assert_eq!(o.read(&DATABASE_PORT), None);
    }
}
