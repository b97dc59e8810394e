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
    let default = match verbosity {
        Verbosity::Verbose => {
            "kat=debug,kat_provider=debug,kat_provider_sim=debug,kat_provider_eks=debug,kat_provider_kubeconfig=debug,info"
        }
        _ => "kat=warn,kat_provider=warn,kat_provider_sim=warn,kat_provider_eks=warn,kat_provider_kubeconfig=warn,off",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal, never into pipes and CI logs.
        .with_ansi(super::interactive())
        .with_writer(LogWriter)
        .with_target(false)
        .try_init();
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
