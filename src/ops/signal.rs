//! Ctrl-C (and SIGTERM, which CI runners send): the first stops new stages and lets running ones
//! reach a safe point, the second exits at once, after any journal write in progress.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::engine::{now, Event, Reporter};
use crate::state::Journal;

pub fn install(cancel: CancellationToken, journal: Arc<Journal>, reporter: Arc<dyn Reporter>) {
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            reporter.emit(Event::Warning {
                ts: now(),
                message: format!("cannot handle Ctrl-C: {e}"),
            });
            return;
        }
    };
    tokio::spawn(async move {
        let mut presses = 0;
        loop {
            signals.recv().await;
            presses += 1;
            if presses == 1 {
                cancel.cancel();
                reporter.emit(Event::Warning {
                    ts: now(),
                    message: "interrupted: starting no new stage, letting calls in flight finish and saving state; press Ctrl-C again to stop at once".into(),
                });
            } else {
                // Writes are atomic, so waiting for the one in progress keeps the journal whole.
                journal.quiesce(|| std::process::exit(130));
            }
        }
    });
}

/// SIGINT and SIGTERM, registered once so that no signal between two waits is lost.
#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals)
    }

    async fn recv(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
