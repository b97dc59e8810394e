//! One build on the cluster: the namespace, the push Secret and the Job applied, the build's log
//! followed into kat's output, its pod watched until it succeeds (the digest from its termination
//! message) or fails (its last lines), then the Job, its pods and the Secret deleted whatever
//! happened: the TTL controller is off or absent on older clusters.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kat_provider::{OpContext, ProviderError};
use kube::api::{DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::Value;

use super::error::BuildError;
use super::job::{self, BuildJob, BUILD_NAMESPACE, CONTAINER};

/// Lines of the build's own output kept for the failure report.
const TAIL: usize = 20;

/// Container waiting reasons that will not resolve by waiting (the pod never restarts).
const STUCK: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
];

pub struct Outcome {
    pub digest: String,
}

/// Runs `build` and cleans up after it. `component` names the image in messages.
pub async fn run(
    client: &Client,
    cx: &OpContext,
    component: &str,
    build: &BuildJob<'_>,
    secret: Value,
    job_manifest: Value,
) -> Result<Outcome, ProviderError> {
    let result = run_inner(client, cx, component, build, secret, job_manifest).await;
    // Cleaned up on every path, timeout and Ctrl-C included: nothing of a build outlives `up`.
    let cleanup = cleanup(client, &build.name).await;
    match (result, cleanup) {
        (Ok(o), Ok(())) => Ok(o),
        (Ok(_), Err(e)) => Err(e.into()),
        (Err(e), Err(c)) => {
            cx.warn(c.to_string());
            Err(e)
        }
        (Err(e), Ok(())) => Err(e),
    }
}

async fn run_inner(
    client: &Client,
    cx: &OpContext,
    component: &str,
    build: &BuildJob<'_>,
    secret: Value,
    job_manifest: Value,
) -> Result<Outcome, ProviderError> {
    let k = |e: kube::Error| BuildError::Kube {
        component: component.to_string(),
        message: e.to_string(),
    };
    let ssa = PatchParams::apply("kat").force();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .patch(BUILD_NAMESPACE, &ssa, &Patch::Apply(job::namespace()))
        .await
        .map_err(k)?;
    // A Job left by a killed run has an immutable template: it goes before the new one.
    cleanup(client, &build.name).await?;
    cx.check(&format!(
        "starting build Job {BUILD_NAMESPACE}/{}",
        build.name
    ))?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), BUILD_NAMESPACE);
    let secret: Secret = serde_json::from_value(secret).expect("the Secret is well-formed");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .map_err(k)?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), BUILD_NAMESPACE);
    let job: Job = serde_json::from_value(job_manifest).expect("the Job is well-formed");
    jobs.create(&PostParams::default(), &job).await.map_err(k)?;
    cx.step(format!(
        "{component}: building {} in Job {BUILD_NAMESPACE}/{}",
        build.source.context_url(),
        build.name
    ));
    wait(client, cx, component, &build.name).await
}

/// Polls the Job's pod (a watch would need its own reconnects; a build takes minutes, a
/// second's delay is nothing) and follows its log once the container has started.
async fn wait(
    client: &Client,
    cx: &OpContext,
    component: &str,
    name: &str,
) -> Result<Outcome, ProviderError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), BUILD_NAMESPACE);
    let jobs: Api<Job> = Api::namespaced(client.clone(), BUILD_NAMESPACE);
    let tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
    let mut follower: Option<tokio::task::JoinHandle<()>> = None;
    let what = format!("build Job {BUILD_NAMESPACE}/{name} ({component}) to finish");
    let k = |e: kube::Error| BuildError::Kube {
        component: component.to_string(),
        message: e.to_string(),
    };
    let mut said_unschedulable = false;
    let outcome = loop {
        let list = pods
            .list(&ListParams::default().labels(&format!("job-name={name}")))
            .await
            .map_err(k)?;
        if let Some(pod) = list.items.first() {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            let state = state_of(pod);
            if let Some(why) = unschedulable(pod).filter(|_| !said_unschedulable) {
                // Not a failure: a cluster autoscaler may add a node; the stage timeout bounds it.
                said_unschedulable = true;
                cx.step(format!(
                    "{component}: no node can take the build pod yet ({why}); waiting (`images.build_resources` sets what it asks for)"
                ));
            }
            if follower.is_none() && state.started {
                follower = Some(tokio::spawn(follow(
                    pods.clone(),
                    pod_name.clone(),
                    component.to_string(),
                    cx.clone(),
                    tail.clone(),
                )));
            }
            if let Some(end) = state.end {
                break end;
            }
        }
        let job = jobs.get(name).await.map_err(k)?;
        if let Some(reason) = failed_condition(&job) {
            break End::Failed {
                reason,
                message: String::new(),
            };
        }
        cx.sleep(Duration::from_secs(1), &what).await?;
    };
    // The log may still be draining: the last lines are wanted for the report.
    if let Some(f) = follower {
        let _ = tokio::time::timeout(Duration::from_secs(3), f).await;
    }
    match outcome {
        End::Succeeded { message } => job::digest_of(&message)
            .map(|digest| Outcome { digest })
            .ok_or_else(|| {
                BuildError::NoDigest {
                    component: component.to_string(),
                    job: format!("{BUILD_NAMESPACE}/{name}"),
                }
                .into()
            }),
        End::Failed { reason, message } => {
            let lines: Vec<String> = tail.lock().expect("tail lock").iter().cloned().collect();
            // Prefer what the build printed; else the kubelet's copy of its last lines (the
            // termination message falls back to the log), else the reason alone.
            let said = if !lines.is_empty() {
                lines.join("\n")
            } else {
                message
            };
            Err(BuildError::Failed {
                component: component.to_string(),
                job: format!("{BUILD_NAMESPACE}/{name}"),
                reason,
                last_lines: said,
            }
            .into())
        }
    }
}

enum End {
    Succeeded { message: String },
    Failed { reason: String, message: String },
}

struct PodState {
    started: bool,
    end: Option<End>,
}

fn state_of(pod: &Pod) -> PodState {
    let status = pod.status.clone().unwrap_or_default();
    let container = status
        .container_statuses
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.name == CONTAINER);
    let state = container.as_ref().and_then(|c| c.state.clone());
    let terminated = state.as_ref().and_then(|s| s.terminated.clone());
    let waiting = state.as_ref().and_then(|s| s.waiting.clone());
    let started = state.as_ref().is_some_and(|s| s.running.is_some()) || terminated.is_some();
    let end = match status.phase.as_deref() {
        Some("Succeeded") => Some(End::Succeeded {
            message: terminated
                .as_ref()
                .and_then(|t| t.message.clone())
                .unwrap_or_default(),
        }),
        Some("Failed") => Some(End::Failed {
            reason: terminated
                .as_ref()
                .map(|t| {
                    format!(
                        "{} (exit code {})",
                        t.reason.clone().unwrap_or_else(|| "Error".into()),
                        t.exit_code
                    )
                })
                .or(status.reason.clone())
                .unwrap_or_else(|| "Failed".into()),
            message: terminated
                .and_then(|t| t.message)
                .or(status.message)
                .unwrap_or_default(),
        }),
        _ => waiting
            .filter(|w| STUCK.contains(&w.reason.as_deref().unwrap_or_default()))
            .map(|w| End::Failed {
                reason: w.reason.unwrap_or_default(),
                message: w.message.unwrap_or_default(),
            }),
    };
    PodState { started, end }
}

/// The scheduler's message while it cannot place the pod.
fn unschedulable(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        })
        .map(|c| c.message.clone().unwrap_or_else(|| "Unschedulable".into()))
}

fn failed_condition(job: &Job) -> Option<String> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Failed" && c.status == "True")
        .map(|c| {
            format!(
                "the Job failed: {}",
                c.message.clone().or(c.reason.clone()).unwrap_or_default()
            )
        })
}

/// Streams the build's log into kat's output, keeping the last lines. A cluster that cannot
/// serve logs (no kubelet to proxy to) is said once; the pod's status still ends the wait.
async fn follow(
    pods: Api<Pod>,
    pod: String,
    component: String,
    cx: OpContext,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let params = LogParams {
        follow: true,
        container: Some(CONTAINER.to_string()),
        ..Default::default()
    };
    let stream = match pods.log_stream(&pod, &params).await {
        Ok(s) => s,
        Err(e) => {
            cx.step(format!(
                "{component}: the build's log cannot be read ({e}); waiting for its pod's status"
            ));
            return;
        }
    };
    let mut lines = stream.lines();
    while let Some(Ok(line)) = lines.next().await {
        cx.step(format!("{component} | {line}"));
        let mut t = tail.lock().expect("tail lock");
        if t.len() == TAIL {
            t.pop_front();
        }
        t.push_back(line);
    }
}

/// Deletes the Job (its pods with it, and explicitly: garbage collection of orphans is not
/// immediate) and the Secret; absent is fine.
pub async fn cleanup(client: &Client, name: &str) -> Result<(), BuildError> {
    let fail = |e: kube::Error| BuildError::Cleanup {
        job: format!("{BUILD_NAMESPACE}/{name}"),
        message: e.to_string(),
    };
    let gone = |r: Result<(), kube::Error>| match r {
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        other => other.map_err(fail),
    };
    let background = DeleteParams::background();
    let jobs: Api<Job> = Api::namespaced(client.clone(), BUILD_NAMESPACE);
    gone(jobs.delete(name, &background).await.map(|_| ()))?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), BUILD_NAMESPACE);
    gone(
        pods.delete_collection(
            &DeleteParams::background(),
            &ListParams::default().labels(&format!("job-name={name}")),
        )
        .await
        .map(|_| ()),
    )?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), BUILD_NAMESPACE);
    gone(
        secrets
            .delete(name, &DeleteParams::default())
            .await
            .map(|_| ()),
    )
}
