//! A stage's result in words, naming what changed ("done, 3 changes (create: vpc/kat-demo,
//! subnet/a, +1 more)"), short enough for one line of a terminal or a log.

use kat_provider::{Change, ChangeAction};

use crate::engine::StageResultKind;

/// How many characters the named resources may take before the rest is counted, not named.
const NAMES_BUDGET: usize = 60;

pub fn describe(kind: StageResultKind, changes: &[Change]) -> String {
    match kind {
        StageResultKind::Changed => {
            let n = changes.len();
            let count = format!("done, {n} change{}", if n == 1 { "" } else { "s" });
            match named(changes) {
                Some(names) => format!("{count} ({names})"),
                None => count,
            }
        }
        StageResultKind::Unchanged => "no changes".into(),
        StageResultKind::Failed => "failed".into(),
        StageResultKind::Blocked => "blocked".into(),
        StageResultKind::Interrupted => "interrupted".into(),
        StageResultKind::NotStarted => "not started".into(),
    }
}

/// `create: a, b; delete: c, +2 more`, grouped by action in the order made, within the budget.
fn named(changes: &[Change]) -> Option<String> {
    if changes.is_empty() {
        return None;
    }
    let mut groups: Vec<(ChangeAction, Vec<&str>)> = Vec::new();
    for c in changes {
        match groups.iter_mut().find(|(a, _)| *a == c.action) {
            Some((_, names)) => names.push(&c.resource),
            None => groups.push((c.action, vec![&c.resource])),
        }
    }
    let mut out = String::new();
    let mut shown = 0;
    'groups: for (action, names) in &groups {
        for (i, name) in names.iter().enumerate() {
            let piece = match (i, out.is_empty()) {
                (0, true) => format!("{action}: {name}"),
                (0, false) => format!("; {action}: {name}"),
                _ => format!(", {name}"),
            };
            // The first name is always given, however long: a count alone says nothing.
            if shown > 0 && out.len() + piece.len() > NAMES_BUDGET {
                break 'groups;
            }
            out.push_str(&piece);
            shown += 1;
        }
    }
    let rest = changes.len() - shown;
    if rest > 0 {
        out.push_str(&format!(", +{rest} more"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(action: ChangeAction, r: &str) -> Change {
        Change::new(action, r)
    }

    #[test]
    fn changes_are_named_grouped_and_truncated() {
        let few = [
            c(ChangeAction::Create, "vpc/kat-demo"),
            c(ChangeAction::Create, "subnet/a"),
            c(ChangeAction::Delete, "nat/old"),
        ];
        assert_eq!(
            describe(StageResultKind::Changed, &few),
            "done, 3 changes (create: vpc/kat-demo, subnet/a; delete: nat/old)"
        );
        let many: Vec<Change> = (0..20)
            .map(|i| c(ChangeAction::Create, &format!("Deployment/nanomon/app-{i}")))
            .collect();
        let text = describe(StageResultKind::Changed, &many);
        assert!(text.starts_with("done, 20 changes (create: Deployment/nanomon/app-0, "));
        assert!(text.ends_with(" more)"), "{text}");
        assert!(text.len() < 100, "{text}");
        assert_eq!(
            describe(StageResultKind::Changed, &many[..1]),
            "done, 1 change (create: Deployment/nanomon/app-0)"
        );
        assert_eq!(describe(StageResultKind::Unchanged, &[]), "no changes");
    }
}
