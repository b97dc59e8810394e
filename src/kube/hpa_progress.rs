//! The autoscaling demo, shown while it runs: while kat waits for a Job of the set (a blueprint's
//! load test), the set's HorizontalPodAutoscalers are watched and every change of their replicas
//! or CPU is a progress line ("ratings-api: 2 → 4 replicas, cpu 87%/50%"), what the workshops
//! watch with `kubectl get hpa -w`. The most replicas each one reached goes in the outputs.
//! Every figure is the HPA's own status, as the cluster reports it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

use kat_provider::OpContext;
use kube::Client;
use serde_json::Value;

use super::apply::Prepared;
use super::discovery::Resolved;
use super::inventory::ObjectRef;
use super::wait::{self, readiness, waits_for, Readiness};

/// The most replicas each HPA (by name) had while the Jobs ran.
pub type Peaks = BTreeMap<String, i64>;

fn is_hpa(r: &ObjectRef) -> bool {
    r.group() == "autoscaling" && r.kind == "HorizontalPodAutoscaler"
}

/// The set's HPAs, when one of its Jobs is still to finish; none otherwise (a second `up` that
/// finds the Job done watches nothing).
pub fn to_watch(objects: &[(Prepared, Value)]) -> Vec<(ObjectRef, Resolved)> {
    let job_running = objects.iter().any(|(p, state)| {
        p.r.group() == "batch"
            && p.r.kind == "Job"
            && waits_for(&p.r, state)
            && !matches!(readiness(&p.r, state), Readiness::Ready)
    });
    if !job_running {
        return Vec::new();
    }
    objects
        .iter()
        .filter(|(p, _)| is_hpa(&p.r))
        .filter_map(|(p, _)| Some((p.r.clone(), p.resolved.clone()?)))
        .collect()
}

/// The Jobs of the set, named for the outputs.
pub fn jobs(objects: &[(Prepared, Value)]) -> Vec<String> {
    objects
        .iter()
        .filter(|(p, _)| p.r.group() == "batch" && p.r.kind == "Job")
        .map(|(p, _)| p.r.name.clone())
        .collect()
}

/// Runs `wait` while watching `hpas`; returns its result and the peaks seen.
pub async fn while_watching<T>(
    client: &Client,
    hpas: &[(ObjectRef, Resolved)],
    cx: &OpContext,
    wait: impl Future<Output = T>,
) -> (T, Peaks) {
    if hpas.is_empty() {
        return (wait.await, Peaks::new());
    }
    let peaks = Mutex::new(Peaks::new());
    let watches = futures::future::join_all(hpas.iter().map(|(r, resolved)| {
        let peaks = &peaks;
        async move {
            let mut last: Option<String> = None;
            // Never done: the watch ends when the wait does.
            wait::watch_until(client, resolved, r, |o| -> Option<()> {
                let o = o?;
                let status = HpaStatus::read(o);
                if let Some(current) = status.current {
                    let mut peaks = peaks.lock().unwrap_or_else(|p| p.into_inner());
                    let peak = peaks.entry(r.name.clone()).or_insert(current);
                    *peak = (*peak).max(current);
                }
                let line = status.line(&r.name);
                if last.as_ref() != Some(&line) {
                    cx.step(line.clone());
                    last = Some(line);
                }
                None
            })
            .await
        }
    }));
    let result = tokio::select! {
        result = wait => result,
        _ = watches => unreachable!("watches with backoff never end"),
    };
    (
        result,
        peaks.into_inner().unwrap_or_else(|p| p.into_inner()),
    )
}

/// What an HPA says of itself, in any of autoscaling v1, v2beta1, v2beta2 and v2.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HpaStatus {
    pub current: Option<i64>,
    pub desired: Option<i64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// Average CPU utilisation now and the target, in percent of the pods' requests.
    pub cpu: Option<i64>,
    pub cpu_target: Option<i64>,
    /// Why it does not scale (condition ScalingActive False): no metrics, most often.
    pub not_scaling: Option<String>,
}

fn int(o: &Value, pointer: &str) -> Option<i64> {
    o.pointer(pointer).and_then(Value::as_i64)
}

/// The `cpu` Resource metric of a v2* metric list (spec.metrics or status.currentMetrics).
fn cpu_metric<'a>(o: &'a Value, pointer: &str) -> Option<&'a Value> {
    o.pointer(pointer)?.as_array()?.iter().find_map(|m| {
        let r = m.get("resource")?;
        (m["type"] == "Resource" && r["name"] == "cpu").then_some(r)
    })
}

impl HpaStatus {
    pub fn read(o: &Value) -> HpaStatus {
        let spec_cpu = cpu_metric(o, "/spec/metrics");
        let now_cpu = cpu_metric(o, "/status/currentMetrics");
        let not_scaling = o
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "ScalingActive" && c["status"] == "False")
            .and_then(|c| c["reason"].as_str())
            .map(str::to_string);
        HpaStatus {
            current: int(o, "/status/currentReplicas"),
            desired: int(o, "/status/desiredReplicas"),
            min: int(o, "/spec/minReplicas"),
            max: int(o, "/spec/maxReplicas"),
            cpu: now_cpu
                .and_then(|r| {
                    int(r, "/current/averageUtilization")
                        .or_else(|| int(r, "/currentAverageUtilization"))
                })
                .or_else(|| int(o, "/status/currentCPUUtilizationPercentage")),
            cpu_target: spec_cpu
                .and_then(|r| {
                    int(r, "/target/averageUtilization")
                        .or_else(|| int(r, "/targetAverageUtilization"))
                })
                .or_else(|| int(o, "/spec/targetCPUUtilizationPercentage")),
            not_scaling,
        }
    }

    /// "ratings-api: 2 → 4 replicas, cpu 87%/50%"; a figure the HPA has not reported is `?`.
    pub fn line(&self, name: &str) -> String {
        let n = |v: Option<i64>| v.map_or("?".to_string(), |v| v.to_string());
        let mut line = format!("{name}: {} → {} replicas", n(self.current), n(self.desired));
        if self.cpu.is_some() || self.cpu_target.is_some() {
            line.push_str(&format!(", cpu {}%/{}%", n(self.cpu), n(self.cpu_target)));
        }
        if let Some(why) = &self.not_scaling {
            line.push_str(&format!(" (not scaling: {why})"));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v2_status_gives_replicas_and_cpu_against_its_target() {
        let hpa = json!({
            "spec": {"minReplicas": 1, "maxReplicas": 10, "metrics": [
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}}},
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
            "status": {"currentReplicas": 2, "desiredReplicas": 4, "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 87, "averageValue": "261m"}}}]}
        });
        let s = HpaStatus::read(&hpa);
        assert_eq!(
            (s.current, s.desired, s.min, s.max),
            (Some(2), Some(4), Some(1), Some(10))
        );
        assert_eq!(
            s.line("ratings-api"),
            "ratings-api: 2 → 4 replicas, cpu 87%/50%"
        );
    }

    #[test]
    fn v1_and_v2beta1_fields_and_a_missing_metric_are_read_as_the_hpa_gives_them() {
        let v1 = json!({"spec": {"targetCPUUtilizationPercentage": 60},
            "status": {"currentReplicas": 3, "desiredReplicas": 3, "currentCPUUtilizationPercentage": 12}});
        assert_eq!(
            HpaStatus::read(&v1).line("api"),
            "api: 3 → 3 replicas, cpu 12%/60%"
        );
        let v2beta1 = json!({"spec": {"metrics": [{"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 70}}]},
            "status": {"currentReplicas": 1, "desiredReplicas": 0, "conditions": [
                {"type": "AbleToScale", "status": "True"},
                {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric"}]}});
        assert_eq!(
            HpaStatus::read(&v2beta1).line("api"),
            "api: 1 → 0 replicas, cpu ?%/70% (not scaling: FailedGetResourceMetric)"
        );
        assert_eq!(
            HpaStatus::read(&json!({})).line("new"),
            "new: ? → ? replicas"
        );
    }
}
