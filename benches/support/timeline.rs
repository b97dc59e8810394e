//! When, as seen from a watching client, each Pod turned Ready, each ReplicaSet reported all its
//! replicas available, and each Deployment and StatefulSet reported its rollout done: the chain
//! the controllers walk between "the last pod is Ready" and "a client may say the stage is done".

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher::{self, watcher, Event};
use kube::{Api, Client, Resource};

#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// ns/pod → when first seen Ready, and its owner ns/ReplicaSet (or StatefulSet).
    pub pod_ready: HashMap<String, (Instant, String)>,
    /// ns/rs → when first seen with every replica available, and its owner ns/Deployment.
    pub rs_available: HashMap<String, (Instant, String)>,
    /// ns/deployment → when first seen rolled out by kat's rule (src/kube/wait.rs).
    pub deploy_done: HashMap<String, Instant>,
    pub sts_done: HashMap<String, Instant>,
    /// ns/deployment → each status as it arrived.
    pub deploy_history: HashMap<String, Vec<DeploymentStatus>>,
}

/// (when, observed, updated, ready, available)
pub type DeploymentStatus = (Instant, bool, i32, i32, i32);

pub struct Timeline {
    seen: Arc<Mutex<Seen>>,
    synced: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn key(m: &ObjectMeta) -> String {
    format!(
        "{}/{}",
        m.namespace.as_deref().unwrap_or(""),
        m.name.as_deref().unwrap_or("")
    )
}

fn owner(m: &ObjectMeta) -> String {
    let o = m
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    format!(
        "{}/{}",
        m.namespace.as_deref().unwrap_or(""),
        o.map(|o| o.name.as_str()).unwrap_or("")
    )
}

fn observed(m: &ObjectMeta, observed_generation: Option<i64>) -> bool {
    observed_generation.unwrap_or(0) >= m.generation.unwrap_or(0)
}

impl Timeline {
    pub fn start(client: Client, namespaces: BTreeSet<String>) -> Timeline {
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let synced = Arc::new(AtomicUsize::new(0));
        let namespaces = Arc::new(namespaces);
        let mut tasks = Vec::new();

        tasks.push(spawn::<Pod>(
            &client,
            &namespaces,
            &seen,
            &synced,
            |s, p, now| {
                let ready = p
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                if ready {
                    s.pod_ready
                        .entry(key(&p.metadata))
                        .or_insert_with(|| (now, owner(&p.metadata)));
                }
            },
        ));
        tasks.push(spawn::<ReplicaSet>(
            &client,
            &namespaces,
            &seen,
            &synced,
            |s, rs, now| {
                let want = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let st = rs.status.clone().unwrap_or_default();
                if want > 0
                    && observed(&rs.metadata, st.observed_generation)
                    && st.available_replicas.unwrap_or(0) >= want
                {
                    s.rs_available
                        .entry(key(&rs.metadata))
                        .or_insert_with(|| (now, owner(&rs.metadata)));
                }
            },
        ));
        tasks.push(spawn::<Deployment>(
            &client,
            &namespaces,
            &seen,
            &synced,
            |s, d, now| {
                let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let st = d.status.clone().unwrap_or_default();
                let obs = observed(&d.metadata, st.observed_generation);
                let (updated, ready, available, total) = (
                    st.updated_replicas.unwrap_or(0),
                    st.ready_replicas.unwrap_or(0),
                    st.available_replicas.unwrap_or(0),
                    st.replicas.unwrap_or(0),
                );
                s.deploy_history
                    .entry(key(&d.metadata))
                    .or_default()
                    .push((now, obs, updated, ready, available));
                if obs && updated >= want && total <= updated && available >= want {
                    s.deploy_done.entry(key(&d.metadata)).or_insert(now);
                }
            },
        ));
        tasks.push(spawn::<StatefulSet>(
            &client,
            &namespaces,
            &seen,
            &synced,
            |s, ss, now| {
                let want = ss.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let st = ss.status.clone().unwrap_or_default();
                if observed(&ss.metadata, st.observed_generation)
                    && st.updated_replicas.unwrap_or(0) >= want
                    && st.ready_replicas.unwrap_or(0) >= want
                {
                    s.sts_done.entry(key(&ss.metadata)).or_insert(now);
                }
            },
        ));
        Timeline {
            seen,
            synced,
            tasks,
        }
    }

    /// Waits until every watch has listed once, so no early event is missed.
    pub async fn synced(&self) {
        while self.synced.load(Ordering::SeqCst) < self.tasks.len() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn reset(&self) {
        *self.seen.lock().unwrap() = Seen::default();
    }

    pub fn snapshot(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Timeline {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn spawn<K>(
    client: &Client,
    namespaces: &Arc<BTreeSet<String>>,
    seen: &Arc<Mutex<Seen>>,
    synced: &Arc<AtomicUsize>,
    on: fn(&mut Seen, &K, Instant),
) -> tokio::task::JoinHandle<()>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + 'static,
{
    let api: Api<K> = Api::all(client.clone());
    let (namespaces, seen, synced) = (namespaces.clone(), seen.clone(), synced.clone());
    tokio::spawn(async move {
        let mut w = std::pin::pin!(watcher(api, watcher::Config::default()));
        let mut first = true;
        while let Some(ev) = w.next().await {
            let now = Instant::now();
            match ev {
                Ok(Event::Apply(o) | Event::InitApply(o))
                    if o.meta()
                        .namespace
                        .as_ref()
                        .is_some_and(|n| namespaces.contains(n)) =>
                {
                    on(&mut seen.lock().unwrap(), &o, now);
                }
                Ok(Event::InitDone) if first => {
                    first = false;
                    synced.fetch_add(1, Ordering::SeqCst);
                }
                _ => {}
            }
        }
    })
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// `a - b` in milliseconds, either sign.
fn signed_ms(a: Instant, b: Instant) -> String {
    match a.checked_duration_since(b) {
        Some(d) => format!("{:+.0} ms", d.as_secs_f64() * 1000.0),
        None => format!("-{:.0} ms", (b - a).as_secs_f64() * 1000.0),
    }
}

fn since(later: Instant, earlier: Instant) -> Duration {
    later.saturating_duration_since(earlier)
}

fn stats(mut v: Vec<Duration>) -> String {
    if v.is_empty() {
        return "-".into();
    }
    v.sort();
    format!(
        "median {} p90 {} max {} (n={})",
        ms(v[v.len() / 2]),
        ms(v[(v.len() * 9 / 10).min(v.len() - 1)]),
        ms(*v.last().unwrap()),
        v.len()
    )
}

impl Seen {
    /// Prints where the time between the last pod turning Ready and `returned` went.
    pub fn report(&self, who: &str, returned: Instant, pods_expected: i64) {
        println!("--- {who}: from the last pod Ready to the tool returning");
        println!(
            "pods seen Ready: {} of {pods_expected}",
            self.pod_ready.len()
        );
        let Some(last_pod) = self.pod_ready.values().map(|(t, _)| *t).max() else {
            return;
        };
        let workloads_done = self.deploy_done.values().chain(self.sts_done.values());
        let last_done = workloads_done.copied().max().unwrap_or(last_pod);
        println!(
            "last pod Ready -> returned: {}  (target < 200 ms)",
            ms(since(returned, last_pod))
        );
        // The last workload known done from its new ReplicaSet's (or StatefulSet's) status,
        // as kat judges Deployments, and from the Deployments' own status, as kubectl does.
        let by_rs = self
            .rs_available
            .values()
            .map(|(t, _)| *t)
            .chain(self.sts_done.values().copied())
            .max()
            .unwrap_or(last_done);
        println!(
            "  last pod Ready -> last ReplicaSet/StatefulSet status done: {} (controllers)",
            ms(since(by_rs, last_pod))
        );
        println!(
            "  last ReplicaSet/StatefulSet done -> returned: {} (the client; negative: it judged from the pods first)",
            signed_ms(returned, by_rs)
        );
        println!(
            "  last pod Ready -> last Deployment's own status done: {} ({} later)",
            ms(since(last_done, last_pod)),
            ms(since(last_done, by_rs))
        );

        // Per Deployment: its pods' last Ready -> its ReplicaSet available -> its status done.
        let mut hop_rs = Vec::new();
        let mut hop_deploy = Vec::new();
        for (rs, (t, deploy)) in &self.rs_available {
            let pods = self
                .pod_ready
                .values()
                .filter(|(_, o)| o == rs)
                .map(|(t, _)| *t)
                .max();
            if let Some(p) = pods {
                hop_rs.push(since(*t, p));
            }
            if let Some(d) = self.deploy_done.get(deploy) {
                hop_deploy.push(since(*d, *t));
            }
        }
        let mut hop_sts = Vec::new();
        for (ss, t) in &self.sts_done {
            if let Some(p) = self
                .pod_ready
                .values()
                .filter(|(_, o)| o == ss)
                .map(|(t, _)| *t)
                .max()
            {
                hop_sts.push(since(*t, p));
            }
        }
        println!(
            "  pods Ready -> ReplicaSet status available: {}",
            stats(hop_rs)
        );
        println!(
            "  ReplicaSet available -> Deployment status done: {}",
            stats(hop_deploy)
        );
        println!(
            "  pods Ready -> StatefulSet status ready: {}",
            stats(hop_sts)
        );
        if let Some((name, _)) = self.deploy_done.iter().max_by_key(|(_, t)| **t) {
            println!("  last Deployment done: {name}; its status updates as they arrived (observed, updated, ready, available):");
            for (t, obs, u, r, a) in self.deploy_history.get(name).into_iter().flatten() {
                println!(
                    "    {:>+6} ms vs last pod Ready: {obs} {u} {r} {a}",
                    t.checked_duration_since(last_pod)
                        .map(|d| d.as_millis() as i64)
                        .unwrap_or_else(|| -(last_pod.duration_since(*t).as_millis() as i64))
                );
            }
        }
    }
}
