//! The objects one build is: the shared `kat-build` namespace, a dockerconfigjson Secret with the
//! push credentials, and a Job running rootless BuildKit daemonless. BuildKit rootless needs
//! seccomp and AppArmor unconfined (it makes its own user namespace and mounts): annotations
//! before Kubernetes 1.30, the `securityContext` fields from 1.30 (the annotations are ignored
//! there), which is also why the namespace enforces Pod Security level `privileged`.

use base64::Engine;
use serde_json::{json, Value};

use super::source::BuildSource;
use crate::config::BuildResources;
use crate::kube::{ENVIRONMENT_LABEL, MANAGED_BY_LABEL};

pub const BUILD_NAMESPACE: &str = "kat-build";
/// moby/buildkit, rootless variant, pinned (a mirror can be named with `images.builder`).
pub const BUILDER_IMAGE: &str = "moby/buildkit:v0.18.2-rootless";
/// The container's name, which the annotations name too.
pub const CONTAINER: &str = "buildkitd";
/// Where the build writes BuildKit's metadata (`containerimage.digest`); the kubelet copies this
/// file into the container's termination message, which kat reads from the pod's status.
pub const TERMINATION_PATH: &str = "/dev/termination-log";

/// How the pod asks for seccomp and AppArmor unconfined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `container.seccomp.security.alpha.kubernetes.io/<c>` and
    /// `container.apparmor.security.beta.kubernetes.io/<c>` (before 1.30).
    Annotations,
    /// `securityContext.seccompProfile` and `securityContext.appArmorProfile` (1.30 and later).
    Fields,
}

impl Security {
    /// By the server's version (`major`, `minor` as `/version` answers; `minor` may carry a `+`).
    pub fn for_server(major: &str, minor: &str) -> Security {
        let num = |s: &str| {
            s.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse::<u32>()
                .unwrap_or(0)
        };
        if (num(major), num(minor)) >= (1, 30) {
            Security::Fields
        } else {
            Security::Annotations
        }
    }
}

/// One build as the cluster sees it.
pub struct BuildJob<'a> {
    pub env: &'a str,
    /// Job and Secret name (a DNS label).
    pub name: String,
    pub builder: &'a str,
    pub source: &'a BuildSource,
    /// `<push registry>/<repo>:<tag>`.
    pub target: String,
    pub security: Security,
    /// `images.build_resources`.
    pub resources: Option<&'a BuildResources>,
}

fn labels(env: &str) -> Value {
    json!({ MANAGED_BY_LABEL: "kat", ENVIRONMENT_LABEL: env, "kat.dev/role": "build" })
}

pub fn namespace() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": BUILD_NAMESPACE,
            "labels": {
                MANAGED_BY_LABEL: "kat",
                "pod-security.kubernetes.io/enforce": "privileged",
                "pod-security.kubernetes.io/warn": "privileged",
            },
        },
    })
}

/// `registry` → (user, password) as a dockerconfigjson.
pub fn secret(job: &BuildJob<'_>, registry: &str, auth: Option<(&str, &str)>) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let auths = match auth {
        Some((u, p)) => json!({ registry: { "auth": b64(&format!("{u}:{p}")) } }),
        None => json!({}),
    };
    let config = json!({ "auths": auths }).to_string();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": { "name": job.name, "namespace": BUILD_NAMESPACE, "labels": labels(job.env) },
        "data": { ".dockerconfigjson": b64(&config) },
    })
}

/// The buildctl arguments, passed to `sh -c` as positional parameters so that no value is
/// interpreted by a shell.
pub fn build_args(source: &BuildSource, target: &str, insecure: bool) -> Vec<String> {
    let mut args = vec![
        "build".to_string(),
        "--frontend".into(),
        "dockerfile.v0".into(),
        "--opt".into(),
        format!("context={}", source.context_url()),
    ];
    if let Some(d) = &source.dockerfile {
        args.extend(["--opt".into(), format!("filename={d}")]);
    }
    for (k, v) in &source.args {
        args.extend(["--opt".into(), format!("build-arg:{k}={v}")]);
    }
    let mut output = format!("type=image,name={target},push=true");
    if insecure {
        output.push_str(",registry.insecure=true");
    }
    args.extend([
        "--output".into(),
        output,
        "--metadata-file".into(),
        "/tmp/metadata.json".into(),
    ]);
    args
}

/// Requests for both, a limit for memory only (see `images.build_resources`).
fn resources(r: Option<&BuildResources>) -> Value {
    let Some(r) = r else { return json!({}) };
    let mut requests = serde_json::Map::new();
    let mut limits = serde_json::Map::new();
    if let Some(cpu) = &r.cpu {
        requests.insert("cpu".into(), json!(cpu));
    }
    if let Some(memory) = &r.memory {
        requests.insert("memory".into(), json!(memory));
        limits.insert("memory".into(), json!(memory));
    }
    json!({ "requests": requests, "limits": limits })
}

/// The Job; `insecure`: the registry speaks plain HTTP (microk8s's).
pub fn job(job: &BuildJob<'_>, insecure: bool) -> Value {
    let script =
        format!("buildctl-daemonless.sh \"$@\" && cat /tmp/metadata.json > {TERMINATION_PATH}");
    let mut command = vec!["sh".to_string(), "-c".into(), script, "kat-build".into()];
    command.extend(build_args(job.source, &job.target, insecure));
    let mut security_context = json!({ "runAsUser": 1000, "runAsGroup": 1000 });
    let mut annotations = json!({});
    match job.security {
        Security::Annotations => {
            annotations = json!({
                format!("container.apparmor.security.beta.kubernetes.io/{CONTAINER}"): "unconfined",
                format!("container.seccomp.security.alpha.kubernetes.io/{CONTAINER}"): "unconfined",
            });
        }
        Security::Fields => {
            security_context["seccompProfile"] = json!({ "type": "Unconfined" });
            security_context["appArmorProfile"] = json!({ "type": "Unconfined" });
        }
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": job.name, "namespace": BUILD_NAMESPACE, "labels": labels(job.env) },
        "spec": {
            // One attempt: a failed build is reported, not retried behind the user's back.
            "backoffLimit": 0,
            // Clusters that have the TTL controller clean up even if kat is killed.
            "ttlSecondsAfterFinished": 600,
            "template": {
                "metadata": { "labels": labels(job.env), "annotations": annotations },
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": false,
                    "containers": [{
                        "name": CONTAINER,
                        "image": job.builder,
                        "command": command,
                        "env": [
                            { "name": "BUILDKITD_FLAGS", "value": "--oci-worker-no-process-sandbox" },
                            { "name": "DOCKER_CONFIG", "value": "/home/user/.docker" },
                        ],
                        "securityContext": security_context,
                        "resources": resources(job.resources),
                        "terminationMessagePath": TERMINATION_PATH,
                        // A failed build leaves its last log lines as the message: the report
                        // when logs cannot be streamed.
                        "terminationMessagePolicy": "FallbackToLogsOnError",
                        "volumeMounts": [
                            { "name": "state", "mountPath": "/home/user/.local/share/buildkit" },
                            { "name": "push", "mountPath": "/home/user/.docker", "readOnly": true },
                        ],
                    }],
                    "volumes": [
                        { "name": "state", "emptyDir": {} },
                        { "name": "push", "secret": {
                            "secretName": job.name,
                            "items": [{ "key": ".dockerconfigjson", "path": "config.json" }],
                        }},
                    ],
                },
            },
        },
    })
}

/// `containerimage.digest` from BuildKit's metadata file.
pub fn digest_of(metadata: &str) -> Option<String> {
    let v: Value = serde_json::from_str(metadata.trim()).ok()?;
    v["containerimage.digest"]
        .as_str()
        .filter(|d| d.starts_with("sha256:"))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn source() -> BuildSource {
        BuildSource {
            git: "https://github.com/a/b.git".into(),
            reference: "v1".into(),
            context: Some("api".into()),
            dockerfile: Some("Dockerfile.prod".into()),
            args: BTreeMap::from([("A".to_string(), "x y".to_string())]),
        }
    }

    fn make(security: Security) -> Value {
        let s = source();
        job(
            &BuildJob {
                env: "e",
                name: "kat-build-e-api".into(),
                builder: BUILDER_IMAGE,
                source: &s,
                target: "reg:5000/api:kat".into(),
                security,
                resources: None,
            },
            false,
        )
    }

    #[test]
    fn the_server_version_chooses_annotations_or_fields() {
        assert_eq!(Security::for_server("1", "20"), Security::Annotations);
        assert_eq!(Security::for_server("1", "29+"), Security::Annotations);
        assert_eq!(Security::for_server("1", "30"), Security::Fields);
        assert_eq!(Security::for_server("1", "33+"), Security::Fields);

        let old = make(Security::Annotations);
        let pod = &old["spec"]["template"];
        assert_eq!(
            pod["metadata"]["annotations"]
                ["container.seccomp.security.alpha.kubernetes.io/buildkitd"],
            "unconfined"
        );
        assert!(pod["spec"]["containers"][0]["securityContext"]["seccompProfile"].is_null());

        let new = make(Security::Fields);
        let pod = &new["spec"]["template"];
        assert_eq!(pod["metadata"]["annotations"], json!({}));
        let sc = &pod["spec"]["containers"][0]["securityContext"];
        assert_eq!(sc["seccompProfile"]["type"], "Unconfined");
        assert_eq!(sc["appArmorProfile"]["type"], "Unconfined");
    }

    #[test]
    fn arguments_are_positional_and_name_the_git_context() {
        let j = make(Security::Annotations);
        let cmd: Vec<String> = serde_json::from_value(
            j["spec"]["template"]["spec"]["containers"][0]["command"].clone(),
        )
        .unwrap();
        assert_eq!(&cmd[..2], ["sh", "-c"]);
        assert!(cmd.contains(&"context=https://github.com/a/b.git#v1:api".to_string()));
        assert!(cmd.contains(&"filename=Dockerfile.prod".to_string()));
        assert!(cmd.contains(&"build-arg:A=x y".to_string()));
        assert!(cmd.contains(&"type=image,name=reg:5000/api:kat,push=true".to_string()));
    }

    #[test]
    fn build_resources_are_requests_and_a_memory_limit() {
        let container = |r: Option<&BuildResources>| {
            let s = source();
            job(
                &BuildJob {
                    env: "e",
                    name: "n".into(),
                    builder: BUILDER_IMAGE,
                    source: &s,
                    target: "reg/api:kat".into(),
                    security: Security::Fields,
                    resources: r,
                },
                false,
            )["spec"]["template"]["spec"]["containers"][0]["resources"]
                .clone()
        };
        assert_eq!(container(None), json!({}));
        let r = BuildResources {
            cpu: Some("2".into()),
            memory: Some("4Gi".into()),
        };
        assert_eq!(
            container(Some(&r)),
            json!({"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi"}})
        );
    }

    #[test]
    fn the_digest_is_read_from_the_metadata() {
        let m = r#"{"containerimage.digest": "sha256:abc", "image.name": "r/a:kat"}"#;
        assert_eq!(digest_of(m).as_deref(), Some("sha256:abc"));
        assert_eq!(digest_of("error: failed to solve"), None);
    }
}
