//! The timeline as SVG: one row per stage on a shared time axis, in the order they started. A
//! bar spans the stage's run; hatching over it is time spent waiting on something outside kat,
//! red ticks are retried calls, a dashed lead-in is time the stage was ready but queued for a
//! `--jobs` slot; the critical path is outlined. Every element carries a `<title>` (the browser's
//! tooltip) and `data-` attributes, so the page reads without script and tests can check it.

use std::fmt::Write;

use super::critical::critical_path;
use super::timeline::{MarkKind, RunTimeline, StageBar};
use crate::ui::format_duration;

const WIDTH: f64 = 1100.0;
const LABEL_W: f64 = 190.0;
const RIGHT_PAD: f64 = 40.0;
const TOP: f64 = 34.0;
const ROW_H: f64 = 26.0;
const BAR_H: f64 = 16.0;
const LEGEND_H: f64 = 44.0;
/// Narrower than this a bar would vanish; a stage that only verified still shows.
const MIN_BAR: f64 = 2.0;

pub const STYLE: &str = r#"
.kat-timeline { font: 12px system-ui, -apple-system, "Segoe UI", sans-serif; }
.kat-timeline .axis line { stroke: #e3e6ea; }
.kat-timeline .axis text { fill: #6b7280; font-size: 11px; }
.kat-timeline .label { fill: #1f2937; }
.kat-timeline .critical .label { font-weight: 700; }
.kat-timeline .skipped .label { fill: #9ca3af; }
.kat-timeline .reason { fill: #9ca3af; font-style: italic; }
.kat-timeline .bar { stroke: none; }
.kat-timeline .r-changed { fill: #4c78a8; }
.kat-timeline .r-unchanged { fill: #b6c3d4; }
.kat-timeline .r-failed { fill: #e45756; }
.kat-timeline .r-interrupted { fill: #f2a541; }
.kat-timeline .critical .bar, .kat-timeline .legend-critical { stroke: #ff7f0e; stroke-width: 2.5; }
.kat-timeline .path { stroke: #ff7f0e; stroke-width: 1.5; fill: none; stroke-dasharray: 3 2; }
.kat-timeline .wait { fill: url(#kat-hatch); }
.kat-timeline .queued { stroke: #9ca3af; stroke-width: 1.5; stroke-dasharray: 4 3; }
.kat-timeline .retry { fill: #c81e1e; }
.kat-timeline .stage:hover .bar { filter: brightness(1.12); }
.kat-timeline .legend text { fill: #374151; }
"#;

/// The SVG document of the run's timeline (with its own style, to stand alone or inline).
pub fn render_svg(run: &RunTimeline) -> String {
    let critical = critical_path(run);
    let rows = rows(run);
    let span = run
        .stages
        .iter()
        .filter_map(|s| s.end_ms)
        .max()
        .unwrap_or(0)
        .max(run.duration_ms)
        .max(1);
    let plot_w = WIDTH - LABEL_W - RIGHT_PAD;
    let x = |ms: u64| LABEL_W + ms as f64 / span as f64 * plot_w;
    let height = TOP + rows.len() as f64 * ROW_H + LEGEND_H;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="kat-timeline" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="timeline of kat {cmd} of {env}" data-stages="{n}" data-critical-path="{path}">
<title>kat {cmd} of {env}: {result} in {dur}</title>
<style>{STYLE}</style>
<defs><pattern id="kat-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="rgba(255,255,255,0.15)"/><line x1="0" y1="0" x2="0" y2="6" stroke="rgba(20,20,20,0.45)" stroke-width="2.5"/></pattern></defs>
"##,
        cmd = esc(&run.command),
        env = esc(&run.env),
        n = rows.len(),
        path = esc(&critical.join(" ")),
        result = esc(&run.result),
        dur = format_duration(run.duration_ms),
    );
    axis(&mut out, span, x, height - LEGEND_H);
    // The critical path as a dashed line from each stage's end to the next one's start.
    let mut prev: Option<(f64, f64)> = None;
    for id in &critical {
        let Some(i) = rows.iter().position(|s| &s.id == id) else {
            continue;
        };
        let s = rows[i];
        let y = row_y(i) + BAR_H / 2.0;
        if let (Some((px, py)), Some(start)) = (prev, s.start_ms) {
            let _ = writeln!(
                out,
                r#"<path class="path" d="M{px:.1},{py:.1} L{sx:.1},{py:.1} L{sx:.1},{y:.1}"/>"#,
                sx = x(start),
            );
        }
        prev = s.end_ms.map(|e| (x(e), y));
    }
    for (i, s) in rows.iter().enumerate() {
        stage_row(&mut out, run, s, i, critical.contains(&s.id), x);
    }
    legend(&mut out, height - LEGEND_H + 14.0);
    out.push_str("</svg>\n");
    out
}

/// Stages that ran in the order they started (graph order among equals), then the rest.
fn rows(run: &RunTimeline) -> Vec<&StageBar> {
    let mut started: Vec<(usize, &StageBar)> = run
        .stages
        .iter()
        .enumerate()
        .filter(|(_, s)| s.start_ms.is_some())
        .collect();
    started.sort_by_key(|(i, s)| (s.start_ms, *i));
    let mut rows: Vec<&StageBar> = started.into_iter().map(|(_, s)| s).collect();
    rows.extend(run.stages.iter().filter(|s| s.start_ms.is_none()));
    rows
}

fn row_y(i: usize) -> f64 {
    TOP + i as f64 * ROW_H + (ROW_H - BAR_H) / 2.0
}

fn axis(out: &mut String, span: u64, x: impl Fn(u64) -> f64, bottom: f64) {
    let step = tick_step(span);
    out.push_str("<g class=\"axis\">\n");
    let mut t = 0;
    while t <= span {
        let _ = writeln!(
            out,
            r#"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}"/><text x="{x:.1}" y="{ty}" text-anchor="middle">{label}</text>"#,
            x = x(t),
            top = TOP - 6.0,
            ty = TOP - 12.0,
            label = format_duration(t),
        );
        t += step;
    }
    out.push_str("</g>\n");
}

/// 1, 2 or 5 times a power of ten, giving at most ten ticks.
fn tick_step(span: u64) -> u64 {
    let mut unit = 1u64;
    loop {
        for m in [1, 2, 5] {
            if span / (unit * m) <= 10 {
                return unit * m;
            }
        }
        unit *= 10;
    }
}

fn stage_row(
    out: &mut String,
    run: &RunTimeline,
    s: &StageBar,
    i: usize,
    critical: bool,
    x: impl Fn(u64) -> f64,
) {
    let y = row_y(i);
    let mut class = String::from("stage");
    if critical {
        class.push_str(" critical");
    }
    if s.start_ms.is_none() {
        class.push_str(" skipped");
    }
    let waits = s.waits();
    let _ = writeln!(
        out,
        r#"<g class="{class}" data-stage="{id}" data-result="{result}" data-critical="{critical}" data-start-ms="{start}" data-end-ms="{end}" data-retries="{retries}" data-waits="{nwaits}" data-changes="{changes}" data-detail="{detail}">"#,
        id = esc(&s.id),
        result = esc(&s.result),
        start = s.start_ms.map(|v| v.to_string()).unwrap_or_default(),
        end = s.end_ms.map(|v| v.to_string()).unwrap_or_default(),
        retries = s.retries(),
        nwaits = waits.len(),
        changes = s.changes.len(),
        detail = esc(&detail(s, critical)),
    );
    let _ = writeln!(out, "<title>{}</title>", esc(&detail(s, critical)));
    let _ = writeln!(
        out,
        r#"<text class="label" x="{lx}" y="{ty:.1}" text-anchor="end">{mark}{id}</text>"#,
        lx = LABEL_W - 10.0,
        ty = y + BAR_H - 4.0,
        mark = if critical { "▶ " } else { "" },
        id = esc(&s.id),
    );
    let (Some(start), Some(end)) = (s.start_ms, s.end_ms) else {
        let why = s.error.as_deref().unwrap_or("did not run");
        let _ = writeln!(
            out,
            r#"<text class="reason" x="{lx}" y="{ty:.1}">{result}: {why}</text></g>"#,
            lx = LABEL_W + 4.0,
            ty = y + BAR_H - 4.0,
            result = esc(&s.result),
            why = esc(&truncate(why, 120)),
        );
        return;
    };
    // Ready (every prerequisite done) before it started: it waited for a --jobs slot.
    let ready = s
        .deps
        .iter()
        .filter_map(|d| run.stage(d).and_then(|p| p.end_ms))
        .max()
        .unwrap_or(0);
    if start > ready && x(start) - x(ready) >= 3.0 {
        let _ = writeln!(
            out,
            r#"<line class="queued" x1="{x1:.1}" y1="{yy:.1}" x2="{x2:.1}" y2="{yy:.1}"><title>ready at {r}, started at {st}: queued {q} for a --jobs slot</title></line>"#,
            x1 = x(ready),
            x2 = x(start),
            yy = y + BAR_H / 2.0,
            r = format_duration(ready),
            st = format_duration(start),
            q = format_duration(start - ready),
        );
    }
    let width = (x(end) - x(start)).max(MIN_BAR);
    let _ = writeln!(
        out,
        r#"<rect class="bar r-{result}" x="{bx:.1}" y="{y:.1}" width="{width:.1}" height="{BAR_H}" rx="3"/>"#,
        result = esc(&s.result),
        bx = x(start),
    );
    for (from, to, what) in &waits {
        let w = (x(*to) - x(*from)).max(MIN_BAR);
        let _ = writeln!(
            out,
            r#"<rect class="wait" x="{wx:.1}" y="{y:.1}" width="{w:.1}" height="{BAR_H}"><title>{what} ({d})</title></rect>"#,
            wx = x(*from),
            what = esc(what),
            d = format_duration(to - from),
        );
    }
    for m in s.marks.iter().filter(|m| m.kind == MarkKind::Retry) {
        let mx = x(m.at_ms);
        let _ = writeln!(
            out,
            r#"<path class="retry" d="M{l:.1},{t:.1} L{r:.1},{t:.1} L{mx:.1},{b:.1} Z"><title>at {at}: {msg}</title></path>"#,
            l = mx - 4.0,
            r = mx + 4.0,
            t = y - 5.0,
            b = y + 3.0,
            at = format_duration(m.at_ms),
            msg = esc(&m.message),
        );
    }
    let _ = writeln!(
        out,
        r##"<text class="duration" x="{tx:.1}" y="{ty:.1}" font-size="10" fill="#6b7280">{d}</text>"##,
        tx = x(start) + width + 4.0,
        ty = y + BAR_H - 4.0,
        d = format_duration(end - start),
    );
    out.push_str("</g>\n");
}

/// The tooltip: what the stage did, how long, what it changed and showed, what went wrong.
pub fn detail(s: &StageBar, critical: bool) -> String {
    let mut t = format!("{}: {}", s.id, s.result);
    if let Some(a) = &s.action {
        let _ = write!(t, " ({a})");
    }
    if critical {
        t.push_str(", on the critical path");
    }
    if let (Some(a), Some(b)) = (s.start_ms, s.end_ms) {
        let _ = write!(
            t,
            "\n{} → {}, took {}",
            format_duration(a),
            format_duration(b),
            format_duration(b.saturating_sub(a))
        );
    }
    if let Some(e) = s.expected_ms {
        let _ = write!(t, " (usually ~{})", format_duration(e));
    }
    let waits = s.waits();
    if !waits.is_empty() {
        let total: u64 = waits.iter().map(|(a, b, _)| b - a).sum();
        let _ = write!(
            t,
            "\nwaited {} in {} wait(s)",
            format_duration(total),
            waits.len()
        );
    }
    if s.retries() > 0 {
        let _ = write!(t, "\n{} retried call(s)", s.retries());
    }
    if !s.changes.is_empty() {
        let _ = write!(t, "\nchanges ({}):", s.changes.len());
        for c in s.changes.iter().take(15) {
            let _ = write!(t, "\n  {c}");
        }
        if s.changes.len() > 15 {
            let _ = write!(t, "\n  … and {} more", s.changes.len() - 15);
        }
    }
    if !s.outputs.is_empty() {
        t.push_str("\noutputs:");
        for (k, v) in &s.outputs {
            let _ = write!(t, "\n  {k}: {v}");
        }
    }
    if let Some(e) = &s.error {
        let _ = write!(
            t,
            "\n{}: {e}",
            if s.start_ms.is_some() { "error" } else { "why" }
        );
    }
    t
}

fn legend(out: &mut String, y: f64) {
    let items: [(&str, &str); 6] = [
        ("bar r-changed", "changed"),
        ("bar r-unchanged", "verified, unchanged"),
        ("bar r-failed", "failed"),
        ("wait", "waiting on the cloud/cluster"),
        ("retry", "retried call"),
        ("queued", "queued (--jobs)"),
    ];
    out.push_str("<g class=\"legend\">\n");
    let mut lx = LABEL_W;
    for (class, text) in items {
        match class {
            "retry" => {
                let _ = write!(
                    out,
                    r#"<path class="retry" d="M{l:.1},{t:.1} L{r:.1},{t:.1} L{m:.1},{b:.1} Z"/>"#,
                    l = lx,
                    r = lx + 8.0,
                    m = lx + 4.0,
                    t = y,
                    b = y + 8.0
                );
            }
            "queued" => {
                let _ = write!(
                    out,
                    r#"<line class="queued" x1="{lx}" y1="{m}" x2="{r}" y2="{m}"/>"#,
                    m = y + 5.0,
                    r = lx + 14.0
                );
            }
            "wait" => {
                let _ = write!(
                    out,
                    r#"<rect class="bar r-changed" x="{lx}" y="{y}" width="14" height="10"/><rect class="wait" x="{lx}" y="{y}" width="14" height="10"/>"#
                );
            }
            _ => {
                let _ = write!(
                    out,
                    r#"<rect class="{class}" x="{lx}" y="{y}" width="14" height="10" rx="2"/>"#
                );
            }
        }
        let _ = writeln!(
            out,
            r#"<text x="{tx}" y="{ty}">{text}</text>"#,
            tx = lx + 18.0,
            ty = y + 9.0
        );
        lx += 30.0 + text.len() as f64 * 6.2;
    }
    let _ = writeln!(
        out,
        r#"<rect class="bar r-changed legend-critical" x="{lx}" y="{y}" width="14" height="10"/><text x="{tx}" y="{ty}">critical path</text>"#,
        tx = lx + 18.0,
        ty = y + 9.0
    );
    out.push_str("</g>\n");
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Escapes text for XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            '\n' => o.push_str("&#10;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_few() {
        assert_eq!(tick_step(9), 1);
        assert_eq!(tick_step(95), 10);
        assert_eq!(tick_step(1_500), 200);
        assert_eq!(tick_step(900_000), 100_000);
    }

    #[test]
    fn text_is_escaped_for_attributes_and_content() {
        assert_eq!(esc("a<b & \"c\"\n"), "a&lt;b &amp; &quot;c&quot;&#10;");
    }
}
