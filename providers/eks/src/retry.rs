//! Which AWS refusals are worth another attempt, for the converge kit's `retrying`: throttling,
//! a service failing, and the deletes AWS refuses for a while after their dependents went
//! (DependencyViolation: a NAT gateway's ENI lingers minutes after the gateway is "deleted").

use kat_provider::converge::Transient;

use crate::error::{is_not_found, is_throttle, EksError};

/// What AWS says when something still uses the resource (whatever the service calls it).
const IN_USE: [&str; 6] = [
    "DependencyViolation",
    "VolumeInUse",
    "ResourceInUse",
    "ResourceInUseException",
    "InvalidNetworkInterface.InUse",
    "DeleteConflict",
];

impl Transient for EksError {
    fn transient(&self) -> bool {
        match self {
            EksError::Api {
                code, retryable, ..
            } => {
                *retryable
                    || is_throttle(Some(code))
                    || IN_USE.contains(&code.as_str())
                    // A volume or DB changing state; a target group until its load balancer's
                    // listeners are gone.
                    || code == "IncorrectState"
                    || code == "InvalidDBInstanceState"
                    || code == "InvalidDBSubnetGroupStateFault"
            }
            _ => false,
        }
    }

    fn in_use(&self) -> bool {
        matches!(self, EksError::Api { code, .. } if IN_USE.contains(&code.as_str()))
    }

    fn throttled(&self) -> bool {
        matches!(self, EksError::Api { code, .. } if is_throttle(Some(code)))
    }

    fn not_found(&self) -> bool {
        matches!(self, EksError::Api { code, .. } if is_not_found(Some(code)))
    }

    fn message(&self) -> String {
        match self {
            EksError::Api { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: &str) -> EksError {
        EksError::Api {
            operation: "DeleteSubnet".into(),
            resource: "subnet/x".into(),
            code: code.into(),
            message: "m".into(),
            retryable: false,
        }
    }

    #[test]
    fn aws_refusals_that_pass_are_transient_and_the_rest_are_not() {
        for code in [
            "DependencyViolation",
            "Throttling",
            "VolumeInUse",
            "IncorrectState",
        ] {
            assert!(err(code).transient(), "{code}");
        }
        for code in ["UnauthorizedOperation", "InvalidParameterValue"] {
            assert!(!err(code).transient(), "{code}");
        }
        assert!(err("DeleteConflict").in_use());
        assert!(!err("Throttling").in_use());
    }
}
