//! `kat report`: the last run of an environment drawn from its timeline (`last-run.json`), as a
//! self-contained HTML page or the timeline alone as SVG.

use std::path::{Path, PathBuf};

use super::error::{Exit, KatError};
use super::settings::Settings;
use crate::report::{render_html, render_svg, RunTimeline};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Html,
    Svg,
}

impl ReportFormat {
    fn extension(self) -> &'static str {
        match self {
            ReportFormat::Html => "html",
            ReportFormat::Svg => "svg",
        }
    }
}

/// `.kat/<env>/report.html` (or `.svg`).
pub fn default_path(settings: &Settings, format: ReportFormat) -> PathBuf {
    settings
        .state_dir
        .join(format!("report.{}", format.extension()))
}

pub fn write_report(run: &RunTimeline, format: ReportFormat, path: &Path) -> Result<(), KatError> {
    let text = match format {
        ReportFormat::Html => render_html(run),
        ReportFormat::Svg => render_svg(run),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            KatError::Failure(format!(
                "cannot create {} for the report: {e}",
                dir.display()
            ))
        })?;
    }
    // 0644: a report is for sharing (a CI artifact); it holds what the summary shows, no secret.
    std::fs::write(path, text)
        .map_err(|e| KatError::Failure(format!("cannot write the report {}: {e}", path.display())))
}

/// Draws the environment's last run and prints where it went.
pub fn report(
    settings: &Settings,
    format: ReportFormat,
    out: Option<&Path>,
) -> Result<Exit, KatError> {
    let run = RunTimeline::load(&settings.state_dir, &settings.env).map_err(|e| match e {
        crate::report::TimelineError::Missing { .. } => KatError::Usage(e.to_string()),
        other => KatError::Failure(other.to_string()),
    })?;
    let path = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| default_path(settings, format));
    write_report(&run, format, &path)?;
    println!("{}", path.display());
    Ok(Exit::Ok)
}
