//! tracing output (`RUST_LOG`, `-v`) on stderr, routed around the progress view when it is shown.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use super::tty::MULTI;
use super::Verbosity;

pub fn init_logging(verbosity: Verbosity) {
    let default = match verbosity {
        Verbosity::Verbose => "kat=debug,kat_provider=debug,kat_provider_sim=debug,info",
        _ => "warn",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
