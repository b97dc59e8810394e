//! A picture of a run: the timeline the engine's events describe, kept beside the journal
//! (`last-run.json`), drawn as SVG and as a self-contained HTML page (`kat report`, `--report`).

mod critical;
mod html;
mod svg;
mod timeline;

pub use critical::critical_path;
pub use html::render_html;
pub use svg::render_svg;
pub use timeline::{Mark, MarkKind, Recorder, RunTimeline, StageBar, TimelineError, TIMELINE_FILE};
