//! The end-of-run table: each stage with its result and duration, the environment's outputs, and
//! the command to run next.

use std::fmt::Write;

use crate::engine::Event;

use super::changes::describe;

pub fn format_duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        _ => format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

pub fn render_summary(event: &Event) -> String {
    let Event::Summary {
        command,
        env,
        result,
        duration_ms,
        stages,
        shown,
        leftovers,
        next,
        ..
    } = event
    else {
        return String::new();
    };
    let mut s = String::new();
    let headline = match result.as_str() {
        "ok" => "done",
        "no-changes" => "no changes",
        "failed" => "FAILED",
        "interrupted" => "interrupted",
        other => other,
    };
    let changed: usize = stages.iter().map(|st| st.changed).sum();
    let touched = stages.iter().filter(|st| st.changed > 0).count();
    let tally = match changed {
        0 => String::new(),
        1 => ", 1 change".to_string(),
        n if touched == 1 => format!(", {n} changes in 1 stage"),
        n => format!(", {n} changes in {touched} stages"),
    };
    let _ = writeln!(
        s,
        "\nkat {command} {env}: {headline} in {}{tally}",
        format_duration(*duration_ms)
    );
    if !stages.is_empty() {
        let width = stages
            .iter()
            .map(|st| st.stage.len())
            .max()
            .unwrap_or(5)
            .max(5);
        // The result last: it names what changed, so its length varies.
        let _ = writeln!(s, "\n  {:<width$}  {:>8}  RESULT", "STAGE", "DURATION");
        for st in stages {
            let _ = writeln!(
                s,
                "  {:<width$}  {:>8}  {}",
                st.stage,
                format_duration(st.duration_ms),
                describe(st.result, &st.changes)
            );
            if let Some(e) = &st.error {
                let _ = writeln!(s, "  {:<width$}    ↳ {e}", "");
            }
        }
    }
    if !shown.is_empty() {
        let width = shown.keys().map(|k| k.len()).max().unwrap_or(0);
        let _ = writeln!(s, "\n  Outputs");
        for (k, v) in shown {
            let _ = writeln!(s, "  {k:<width$}  {v}");
        }
    }
    if !leftovers.is_empty() {
        let _ = writeln!(s, "\n  Still present (tagged for this environment):");
        for l in leftovers {
            let _ = writeln!(s, "  - {l}");
        }
    }
    let _ = writeln!(s, "\n  Next: {next}");
    s
}

#[cfg(test)]
mod tests {
    use super::format_duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(850), "850ms");
        assert_eq!(format_duration(12_340), "12.3s");
        assert_eq!(format_duration(15 * 60_000 + 7_000), "15m07s");
    }
}
