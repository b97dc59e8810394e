//! One progress view for the whole fleet: on a terminal one line per member (current stage,
//! n/total) and a fleet total line; in plain output every line prefixed `[demo-07]`; with `-o json`
//! every event carries `member`. It also keeps what the fleet summary needs.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::{Event, EventLine, FleetSummaryLine, Reporter};
use crate::ui::{OutputMode, PlainReporter, Verbosity};

/// Where one member stands, as its events said.
#[derive(Debug, Clone, Default)]
pub struct MemberState {
    pub total: usize,
    pub done: usize,
    pub current: Option<String>,
    /// The run's result (`ok`, `no-changes`, `failed`, `interrupted`) once its summary came.
    pub result: Option<String>,
    /// The first failure: `stage: first line of the error`.
    pub error: Option<String>,
}

enum Mode {
    Json(Mutex<std::io::Stdout>),
    Plain(Verbosity),
    Tty {
        bars: BTreeMap<String, ProgressBar>,
        total: ProgressBar,
        multi: MultiProgress,
    },
}

pub struct FleetView {
    mode: Mode,
    pub states: Mutex<BTreeMap<String, MemberState>>,
}

impl FleetView {
    pub fn new(mode: OutputMode, verbosity: Verbosity, members: &[String]) -> Arc<FleetView> {
        let states = members
            .iter()
            .map(|m| (m.clone(), MemberState::default()))
            .collect();
        let mode = match mode {
            OutputMode::Json => Mode::Json(Mutex::new(std::io::stdout())),
            _ if crate::ui::interactive() => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let style = ProgressStyle::with_template("{prefix:>12} {wide_msg}")
                    .expect("template is valid");
                let bars = members
                    .iter()
                    .map(|m| {
                        let b = multi.add(ProgressBar::new_spinner().with_style(style.clone()));
                        b.set_prefix(m.clone());
                        b.set_message("waiting");
                        (m.clone(), b)
                    })
                    .collect();
                let total = multi.add(ProgressBar::new_spinner().with_style(style));
                total.set_prefix("fleet");
                total.enable_steady_tick(Duration::from_millis(200));
                Mode::Tty { bars, total, multi }
            }
            _ => Mode::Plain(verbosity),
        };
        Arc::new(FleetView {
            mode,
            states: Mutex::new(states),
        })
    }

    /// The reporter one member's run writes to.
    pub fn member(self: &Arc<Self>, name: &str) -> Arc<dyn Reporter> {
        let plain = match &self.mode {
            Mode::Plain(v) => Some(PlainReporter::for_member(*v, name)),
            _ => None,
        };
        Arc::new(MemberReporter {
            view: self.clone(),
            name: name.to_string(),
            plain,
        })
    }

    /// A failure outside the member's run (it could not even start): kept for the summary.
    pub fn fail(&self, member: &str, error: &str) {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let s = states.entry(member.to_string()).or_default();
        s.result = Some("failed".into());
        s.error.get_or_insert_with(|| first_line(error));
        drop(states);
        self.say(member, &format!("FAILED: {}", first_line(error)));
        self.redraw(member);
    }

    /// A line about one member that must stay on screen.
    fn say(&self, member: &str, line: &str) {
        match &self.mode {
            Mode::Json(_) => {}
            Mode::Plain(_) => {
                let _ = writeln!(std::io::stderr().lock(), "[{member}] {line}");
            }
            Mode::Tty { multi, .. } => {
                let _ = multi.println(format!("[{member}] {line}"));
            }
        }
    }

    fn redraw(&self, member: &str) {
        let Mode::Tty { bars, total, .. } = &self.mode else {
            return;
        };
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(bar), Some(s)) = (bars.get(member), states.get(member)) {
            let at = match (&s.result, &s.current) {
                (Some(r), _) => r.clone(),
                (None, Some(stage)) => stage.clone(),
                (None, None) => "starting".into(),
            };
            bar.set_message(format!("{at:<18} {}/{}", s.done, s.total));
        }
        let (done, all): (usize, usize) = states
            .values()
            .fold((0, 0), |(d, a), s| (d + s.done, a + s.total));
        let finished = states.values().filter(|s| s.result.is_some()).count();
        let failed = states
            .values()
            .filter(|s| s.result.as_deref() == Some("failed"))
            .count();
        total.set_message(format!(
            "{finished}/{} members finished, {failed} failed, stages {done}/{all}",
            states.len()
        ));
    }

    /// Ends the live view (the summary is printed below it).
    pub fn finish(&self) {
        if let Mode::Tty { bars, total, .. } = &self.mode {
            for b in bars.values() {
                b.finish();
            }
            total.finish();
        }
    }

    /// The fleet summary as one JSON line (`-o json`), or `None` in text modes.
    pub fn json(&self, line: &FleetSummaryLine) -> bool {
        if let Mode::Json(out) = &self.mode {
            let text = serde_json::to_string(line).expect("the fleet summary serializes");
            let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
            return true;
        }
        false
    }
}

struct MemberReporter {
    view: Arc<FleetView>,
    name: String,
    plain: Option<PlainReporter>,
}

impl Reporter for MemberReporter {
    fn emit(&self, event: Event) {
        {
            let mut states = self.view.states.lock().unwrap_or_else(|p| p.into_inner());
            let s = states.entry(self.name.clone()).or_default();
            match &event {
                Event::RunStarted { stages, .. } => {
                    *s = MemberState {
                        total: stages.len(),
                        ..Default::default()
                    }
                }
                Event::StageStarted { stage, .. } => s.current = Some(stage.clone()),
                Event::StageFinished { .. } | Event::StageSkipped { .. } => s.done += 1,
                Event::StageFailed { stage, error, .. } => {
                    s.done += 1;
                    s.error
                        .get_or_insert_with(|| format!("{stage}: {}", first_line(error)));
                }
                Event::Summary { result, .. } => {
                    s.result = Some(result.clone());
                    s.current = None;
                }
                _ => {}
            }
        }
        match &self.view.mode {
            Mode::Json(out) => {
                let mut line = EventLine::new(event);
                line.member = Some(self.name.clone());
                let text = serde_json::to_string(&line).expect("events serialize");
                let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }
            Mode::Plain(_) => {
                if let Some(p) = &self.plain {
                    p.emit(event);
                }
            }
            Mode::Tty { .. } => {
                match &event {
                    Event::StageFailed { stage, error, .. } => self.view.say(
                        &self.name,
                        &format!("{stage} FAILED: {}", first_line(error)),
                    ),
                    Event::Warning { message, .. } => {
                        self.view.say(&self.name, &format!("warning: {message}"))
                    }
                    _ => {}
                }
                self.view.redraw(&self.name);
            }
        }
    }
}

pub fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_string()
}
