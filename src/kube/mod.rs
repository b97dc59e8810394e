//! The Kubernetes layer: apply manifests to a real API server with kube-rs.
