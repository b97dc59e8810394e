//! A directed acyclic graph of stages. Unlike nested serial/parallel task groups, a stage waits for
//! exactly its own dependencies, so the registry never waits for the network and the addons start
//! the moment nodes and credentials exist.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::stage::Stage;

pub struct Node {
    pub id: String,
    pub deps: Vec<String>,
    pub stage: Arc<dyn Stage>,
    pub timeout: Duration,
    /// One line for `kat plan` and the progress view.
    pub title: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    #[error("stage `{stage}` depends on `{dep}`, which is not in the graph")]
    UnknownDependency { stage: String, dep: String },
    #[error("stages form a cycle: {}", .0.join(" → "))]
    Cycle(Vec<String>),
    #[error("stage `{0}` is defined twice")]
    Duplicate(String),
}

#[derive(Default)]
pub struct StageGraph {
    nodes: Vec<Node>,
}

impl StageGraph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, node: Node) {
        self.nodes.push(node);
    }

    pub fn nodes_mut(&mut self) -> &mut [Node] {
        &mut self.nodes
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn get(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn ids(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.id.clone()).collect()
    }

    pub fn validate(&self) -> Result<(), GraphError> {
        let mut seen = BTreeSet::new();
        for n in &self.nodes {
            if !seen.insert(n.id.as_str()) {
                return Err(GraphError::Duplicate(n.id.clone()));
            }
        }
        for n in &self.nodes {
            for d in &n.deps {
                if !seen.contains(d.as_str()) {
                    return Err(GraphError::UnknownDependency {
                        stage: n.id.clone(),
                        dep: d.clone(),
                    });
                }
            }
        }
        self.topo_order().map(|_| ())
    }

    /// Dependencies before dependents; ties in insertion order, so output is stable.
    pub fn topo_order(&self) -> Result<Vec<String>, GraphError> {
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut order = Vec::new();
        while order.len() < self.nodes.len() {
            let next = self.nodes.iter().find(|n| {
                !done.contains(n.id.as_str())
                    && n.deps
                        .iter()
                        .all(|d| done.contains(d.as_str()) || self.get(d).is_none())
            });
            match next {
                Some(n) => {
                    done.insert(&n.id);
                    order.push(n.id.clone());
                }
                None => {
                    let cycle = self
                        .nodes
                        .iter()
                        .filter(|n| !done.contains(n.id.as_str()))
                        .map(|n| n.id.clone())
                        .collect();
                    return Err(GraphError::Cycle(cycle));
                }
            }
        }
        Ok(order)
    }

    /// Stages that list `id` as a dependency.
    pub fn dependents(&self, id: &str) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.deps.iter().any(|d| d == id))
            .map(|n| n.id.clone())
            .collect()
    }

    /// `id` and everything it depends on, transitively.
    pub fn ancestors_and_self(&self, id: &str) -> BTreeSet<String> {
        self.closure(id, |n| n.deps.clone())
    }

    /// `id` and everything that depends on it, transitively.
    pub fn descendants_and_self(&self, id: &str) -> BTreeSet<String> {
        self.closure(id, |n| self.dependents(&n.id))
    }

    fn closure(&self, id: &str, next: impl Fn(&Node) -> Vec<String>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo = vec![id.to_string()];
        while let Some(cur) = todo.pop() {
            if out.insert(cur.clone()) {
                if let Some(n) = self.get(&cur) {
                    todo.extend(next(n));
                }
            }
        }
        out
    }

    /// The longest chain of `durations` through the graph, and the stages on it.
    pub fn critical_path(&self, durations: &BTreeMap<String, Duration>) -> (Duration, Vec<String>) {
        let order = self.topo_order().unwrap_or_default();
        let mut finish: BTreeMap<&str, (Duration, Option<&str>)> = BTreeMap::new();
        for id in &order {
            let node = self.get(id).expect("ordered ids exist");
            let (start, via) = node
                .deps
                .iter()
                .filter_map(|d| finish.get(d.as_str()).map(|(t, _)| (*t, Some(d.as_str()))))
                .max_by_key(|(t, _)| *t)
                .unwrap_or((Duration::ZERO, None));
            let own = durations.get(id).copied().unwrap_or_default();
            finish.insert(id, (start + own, via));
        }
        let Some((end, _)) = finish.iter().max_by_key(|(_, (t, _))| *t) else {
            return (Duration::ZERO, Vec::new());
        };
        let total = finish[end].0;
        let mut path = vec![end.to_string()];
        let mut cur = *end;
        while let Some((_, Some(prev))) = finish.get(cur) {
            path.push(prev.to_string());
            cur = prev;
        }
        path.reverse();
        (total, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::stage::Stage;
    use async_trait::async_trait;
    use kat_provider::{Applied, Change, OpContext, Outputs, ProviderError, Verified};

    struct Noop;

    #[async_trait]
    impl Stage for Noop {
        fn desired(&self) -> serde_json::Value {
            serde_json::Value::Null
        }
        async fn plan(&self, _: &OpContext) -> Result<Vec<Change>, ProviderError> {
            Ok(vec![])
        }
        async fn apply(&self, _: &OpContext) -> Result<Applied, ProviderError> {
            Ok(Applied::default())
        }
        async fn verify(&self, _: &OpContext, _: &Outputs) -> Result<Verified, ProviderError> {
            Ok(Verified::Intact)
        }
        async fn plan_destroy(
            &self,
            _: &OpContext,
            _: &Outputs,
        ) -> Result<Vec<Change>, ProviderError> {
            Ok(vec![])
        }
        async fn destroy(&self, _: &OpContext, _: &Outputs) -> Result<Applied, ProviderError> {
            Ok(Applied::default())
        }
    }

    fn graph(edges: &[(&str, &[&str])]) -> StageGraph {
        let mut g = StageGraph::new();
        for (id, deps) in edges {
            g.add(Node {
                id: id.to_string(),
                deps: deps.iter().map(|d| d.to_string()).collect(),
                stage: Arc::new(Noop),
                timeout: Duration::from_secs(1),
                title: String::new(),
            });
        }
        g
    }

    #[test]
    fn critical_path_follows_the_longest_chain() {
        let g = graph(&[
            ("net", &[]),
            ("iam", &[]),
            ("cluster", &["net", "iam"]),
            ("db", &["net"]),
            ("app", &["cluster", "db"]),
        ]);
        let d = |ms| Duration::from_millis(ms);
        let durations: BTreeMap<String, Duration> = [
            ("net", d(90)),
            ("iam", d(10)),
            ("cluster", d(900)),
            ("db", d(450)),
            ("app", d(45)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let (total, path) = g.critical_path(&durations);
        assert_eq!(total, d(1035));
        assert_eq!(path, vec!["net", "cluster", "app"]);
    }

    #[test]
    fn cycles_and_unknown_dependencies_are_rejected() {
        let g = graph(&[("a", &["b"]), ("b", &["a"]), ("c", &[])]);
        assert_eq!(
            g.validate(),
            Err(GraphError::Cycle(vec!["a".into(), "b".into()]))
        );
        let g = graph(&[("a", &["nope"])]);
        assert!(matches!(
            g.validate(),
            Err(GraphError::UnknownDependency { .. })
        ));
    }

    #[test]
    fn closures_walk_both_directions() {
        let g = graph(&[
            ("net", &[]),
            ("cluster", &["net"]),
            ("nodes", &["cluster"]),
            ("reg", &[]),
        ]);
        assert_eq!(
            g.ancestors_and_self("nodes")
                .into_iter()
                .collect::<Vec<_>>(),
            vec!["cluster", "net", "nodes"]
        );
        assert_eq!(
            g.descendants_and_self("cluster")
                .into_iter()
                .collect::<Vec<_>>(),
            vec!["cluster", "nodes"]
        );
    }
}
