//! The report page: the run's summary, its timeline (the SVG inline), and a table of stages. One
//! file, everything inline (style, SVG, a few lines of script for the details panel): it opens
//! from disk or a CI artifact with no network.

use std::fmt::Write;

use super::critical::critical_path;
use super::svg::{detail, esc, render_svg};
use super::timeline::RunTimeline;
use crate::ui::format_duration;

const PAGE_STYLE: &str = r#"
body { font: 14px system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2937; margin: 24px 32px; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
.sub { color: #6b7280; margin-bottom: 16px; }
.result { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-weight: 600; }
.result.ok, .result.no-changes { background: #2f855a; }
.result.failed { background: #c53030; }
.result.interrupted, .result.running { background: #b7791f; }
.facts { display: flex; gap: 28px; flex-wrap: wrap; margin: 12px 0 18px; }
.facts div b { display: block; font-size: 18px; }
.facts div span { color: #6b7280; font-size: 12px; }
#details { white-space: pre-wrap; font: 12px ui-monospace, monospace; background: #f7f8fa; border: 1px solid #e3e6ea; border-radius: 6px; padding: 10px; min-height: 3em; max-width: 1080px; }
table { border-collapse: collapse; margin-top: 8px; }
th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid #eef0f3; vertical-align: top; }
th { color: #6b7280; font-weight: 600; font-size: 12px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.critical td:first-child { font-weight: 700; color: #c05600; }
h2 { font-size: 15px; margin: 22px 0 6px; }
ul { margin: 4px 0; padding-left: 20px; }
"#;

/// Fills the details panel with the stage under the pointer (or tapped): the tooltip's text, for
/// readers who want to select and copy it.
const SCRIPT: &str = r#"
document.querySelectorAll('.kat-timeline .stage').forEach(function (g) {
  // Where the browser drew the bar, kept on the row: what a saved or checked page shows is the
  // layout, not only the source.
  var bar = g.querySelector('.bar');
  if (bar) {
    var r = bar.getBoundingClientRect();
    g.setAttribute('data-drawn-x', Math.round(r.left));
    g.setAttribute('data-drawn-width', Math.round(r.width));
  }
  var show = function () { document.getElementById('details').textContent = g.getAttribute('data-detail'); };
  g.addEventListener('mouseenter', show);
  g.addEventListener('click', show);
});
"#;

pub fn render_html(run: &RunTimeline) -> String {
    let critical = critical_path(run);
    let mut h = String::new();
    let title = format!("kat {} of {}", run.command, run.env);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{PAGE_STYLE}</style></head><body>\n\
         <h1>{t} <span class=\"result {r}\" id=\"result\">{r}</span></h1>\n\
         <div class=\"sub\">provider {p} · started {s}</div>\n",
        t = esc(&title),
        r = esc(&run.result),
        p = esc(&run.provider),
        s = esc(&run.started),
    );
    facts(&mut h, run, &critical);
    h.push_str("<h2>Timeline</h2>\n");
    h.push_str(&render_svg(run));
    h.push_str("<div id=\"details\">Point at a stage for what it did, changed and showed.</div>\n");
    stage_table(&mut h, run, &critical);
    list(
        &mut h,
        "Outputs",
        run.shown.iter().map(|(k, v)| format!("{k}: {v}")),
    );
    list(
        &mut h,
        "Left over after down",
        run.leftovers.iter().cloned(),
    );
    list(&mut h, "Warnings", run.warnings.iter().cloned());
    if !run.next.is_empty() {
        let _ = writeln!(h, "<h2>Next</h2>\n<p><code>{}</code></p>", esc(&run.next));
    }
    let _ = write!(h, "<script>{SCRIPT}</script>\n</body></html>\n");
    h
}

fn facts(h: &mut String, run: &RunTimeline, critical: &[String]) {
    let ran = run.stages.iter().filter(|s| s.start_ms.is_some()).count();
    let changed = run.stages.iter().filter(|s| s.result == "changed").count();
    let failed = run
        .stages
        .iter()
        .filter(|s| matches!(s.result.as_str(), "failed" | "blocked"))
        .count();
    let retries: usize = run.stages.iter().map(|s| s.retries()).sum();
    let path_ms: u64 = critical
        .iter()
        .filter_map(|id| run.stage(id))
        .filter_map(|s| Some(s.end_ms? - s.start_ms?))
        .sum();
    let busy_ms: u64 = run
        .stages
        .iter()
        .filter_map(|s| Some(s.end_ms? - s.start_ms?))
        .sum();
    let fact = |h: &mut String, v: String, what: &str| {
        let _ = writeln!(h, "<div><b>{}</b><span>{}</span></div>", esc(&v), esc(what));
    };
    h.push_str("<div class=\"facts\">\n");
    fact(h, format_duration(run.duration_ms), "wall time");
    fact(h, format_duration(path_ms), "critical path (stage time)");
    fact(h, format_duration(busy_ms), "stage time, all stages");
    fact(h, format!("{ran} of {}", run.stages.len()), "stages run");
    fact(h, changed.to_string(), "changed");
    fact(h, failed.to_string(), "failed or blocked");
    fact(h, retries.to_string(), "retried calls");
    h.push_str("</div>\n");
}

fn stage_table(h: &mut String, run: &RunTimeline, critical: &[String]) {
    h.push_str(
        "<h2>Stages</h2>\n<table id=\"stages\"><tr><th>stage</th><th>result</th><th>start</th>\
         <th>took</th><th>waited</th><th>retries</th><th>changes</th><th>note</th></tr>\n",
    );
    for s in &run.stages {
        let on_path = critical.contains(&s.id);
        let waited: u64 = s.waits().iter().map(|(a, b, _)| b - a).sum();
        let took = match (s.start_ms, s.end_ms) {
            (Some(a), Some(b)) => format_duration(b - a),
            _ => String::new(),
        };
        let _ = writeln!(
            h,
            "<tr class=\"{c}\" title=\"{tip}\"><td>{id}</td><td>{r}</td><td class=\"num\">{st}</td>\
             <td class=\"num\">{took}</td><td class=\"num\">{w}</td><td class=\"num\">{re}</td>\
             <td class=\"num\">{ch}</td><td>{note}</td></tr>",
            c = if on_path { "critical" } else { "" },
            tip = esc(&detail(s, on_path)),
            id = esc(&s.id),
            r = esc(&s.result),
            st = s.start_ms.map(format_duration).unwrap_or_default(),
            w = if waited > 0 { format_duration(waited) } else { String::new() },
            re = if s.retries() > 0 { s.retries().to_string() } else { String::new() },
            ch = s.changes.len(),
            note = esc(s.error.as_deref().unwrap_or("")),
        );
    }
    h.push_str("</table>\n");
}

fn list(h: &mut String, title: &str, items: impl Iterator<Item = String>) {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        return;
    }
    let _ = writeln!(h, "<h2>{}</h2>\n<ul>", esc(title));
    for i in items {
        let _ = writeln!(h, "<li>{}</li>", esc(&i));
    }
    h.push_str("</ul>\n");
}
