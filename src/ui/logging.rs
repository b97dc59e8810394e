//! tracing output (`RUST_LOG`, `-v`) on stderr, routed around the progress view when it is shown.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use super::tty::MULTI;
use super::Verbosity;

pub fn init_logging(verbosity: Verbosity) {
    // kat says what went wrong in its own words (events, errors); the libraries' own log lines
    // (aws-config's profile warnings, the IMDS client's debug structs, kube's "failed with
    // status 500") are only for -v or RUST_LOG.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_filter(verbosity)));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal, never into pipes and CI logs.
        .with_ansi(super::interactive())
        .with_writer(LogWriter)
        .with_target(false)
        .try_init();
}

/// A directive's target matches every target it prefixes, so `kat` covers the core and every
/// provider crate (`kat_provider_eks`, `kat_provider_aks`, ...) without naming them: a new
/// provider's debug lines show with `-v` as soon as it exists.
fn default_filter(verbosity: Verbosity) -> &'static str {
    match verbosity {
        Verbosity::Verbose => "kat=debug,info",
        _ => "kat=warn,off",
    }
}

#[derive(Clone, Copy)]
struct LogWriter;

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(Vec::new())
    }
}

/// Buffers one event and writes it whole, above the bars when they are drawn.
struct LineWriter(Vec<u8>);

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let text = text.trim_end();
        if text.is_empty() {
            return;
        }
        match MULTI.get() {
            Some(multi) => {
                let _ = multi.println(text);
            }
            None => {
                let _ = writeln!(io::stderr().lock(), "{text}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    fn enabled(verbosity: Verbosity, target_debug: fn() -> bool) -> bool {
        let sub = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(default_filter(verbosity)))
            .with_writer(io::sink)
            .finish();
        tracing::subscriber::with_default(sub, target_debug)
    }

    #[test]
    fn verbose_shows_every_kat_crates_debug_lines_and_no_library_noise() {
        let eks = || tracing::enabled!(target: "kat_provider_eks::budget", Level::DEBUG);
        let aks = || tracing::enabled!(target: "kat_provider_aks", Level::DEBUG);
        let core = || tracing::enabled!(target: "kat::engine", Level::DEBUG);
        let aws = || tracing::enabled!(target: "aws_config", Level::DEBUG);
        for f in [eks, aks, core] {
            assert!(enabled(Verbosity::Verbose, f));
            assert!(!enabled(Verbosity::Normal, f));
        }
        assert!(!enabled(Verbosity::Verbose, aws));
        let warn = || tracing::enabled!(target: "kat_provider_microk8s", Level::WARN);
        assert!(enabled(Verbosity::Normal, warn));
    }
}
