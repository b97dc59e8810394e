//! The critical path of a run: the chain of stages that set its length. Starting from the stage
//! that finished last, each step goes back to the prerequisite that finished last, the one that
//! held the stage back; shortening any other stage would not have ended the run sooner.

use std::collections::BTreeSet;

use super::timeline::RunTimeline;

/// The stage ids on the critical path, first to last. Empty when no stage ran.
pub fn critical_path(run: &RunTimeline) -> Vec<String> {
    let ran = |id: &str| {
        run.stage(id)
            .filter(|s| s.start_ms.is_some())
            .and_then(|s| s.end_ms)
    };
    let Some(mut current) = run
        .stages
        .iter()
        .filter_map(|s| ran(&s.id).map(|end| (end, s.id.clone())))
        // The last to finish; among equals the later in graph order (the downstream one).
        .max_by_key(|(end, _)| *end)
        .map(|(_, id)| id)
    else {
        return Vec::new();
    };
    let mut path = vec![current.clone()];
    let mut seen = BTreeSet::from([current.clone()]);
    loop {
        let stage = run.stage(&current).expect("on the path, so recorded");
        let gate = stage
            .deps
            .iter()
            .filter_map(|d| ran(d).map(|end| (end, d.clone())))
            .max_by_key(|(end, _)| *end)
            .map(|(_, id)| id);
        match gate {
            Some(id) if seen.insert(id.clone()) => {
                path.push(id.clone());
                current = id;
            }
            _ => break,
        }
    }
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::timeline::StageBar;

    fn bar(id: &str, deps: &[&str], start: u64, end: u64) -> StageBar {
        let mut s: StageBar = serde_json::from_value(serde_json::json!({
            "id": id, "deps": deps, "action": "apply", "start_ms": start, "end_ms": end,
            "expected_ms": null, "result": "changed", "changes": [], "marks": [], "error": null,
            "outputs": {}
        }))
        .unwrap();
        s.deps = deps.iter().map(|d| d.to_string()).collect();
        s
    }

    #[test]
    fn follows_the_prerequisite_that_finished_last() {
        let run = RunTimeline {
            version: 1,
            command: "up".into(),
            env: "e".into(),
            provider: "sim".into(),
            started: "2026-01-01T00:00:00Z".into(),
            result: "ok".into(),
            duration_ms: 100,
            stages: vec![
                bar("network", &[], 0, 30),
                bar("identity", &[], 0, 10),
                bar("cluster", &["network", "identity"], 30, 80),
                bar("registry", &[], 0, 90),
                bar("nodes", &["cluster"], 80, 95),
            ],
            shown: Default::default(),
            warnings: vec![],
            leftovers: vec![],
            next: String::new(),
        };
        assert_eq!(critical_path(&run), vec!["network", "cluster", "nodes"]);
    }
}
