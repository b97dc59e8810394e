//! `--only`, `--skip` and `--until`: which stages of the graph a run touches.

use std::collections::BTreeSet;

use super::graph::StageGraph;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub only: Vec<String>,
    pub skip: Vec<String>,
    pub until: Option<String>,
}

impl Selection {
    /// On `up`, `--until X` is X and what it needs; on `down`, X and what needs it (the part of the
    /// environment above X comes down, X last).
    pub fn resolve(&self, graph: &StageGraph, dir: Direction) -> Result<BTreeSet<String>, String> {
        let known: BTreeSet<String> = graph.ids().into_iter().collect();
        let named = self.only.iter().chain(&self.skip).chain(self.until.iter());
        for name in named {
            if !known.contains(name) {
                let all: Vec<_> = graph.ids();
                return Err(format!(
                    "unknown stage `{name}`; this environment's stages are: {}",
                    all.join(", ")
                ));
            }
        }
        let mut chosen = match (&self.until, dir) {
            (Some(u), Direction::Up) => graph.ancestors_and_self(u),
            (Some(u), Direction::Down) => graph.descendants_and_self(u),
            (None, _) => known.clone(),
        };
        if !self.only.is_empty() {
            let only: BTreeSet<String> = self.only.iter().cloned().collect();
            chosen = chosen.intersection(&only).cloned().collect();
        }
        for s in &self.skip {
            chosen.remove(s);
        }
        if dir == Direction::Up {
            chosen.retain(|id| graph.get(id).is_some_and(|n| !n.stage.teardown_only()));
        }
        Ok(chosen)
    }

    pub fn is_partial(&self) -> bool {
        !self.only.is_empty() || !self.skip.is_empty() || self.until.is_some()
    }
}
