//! Ctrl-C (and SIGTERM, which CI runners send): the first stops new stages and lets running ones
//! reach a safe point, the second exits at once, after any journal write in progress. One
//! handler per process: a fleet's members each register their run, and one key press is one
//! warning and reaches them all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio_util::sync::CancellationToken;

use crate::engine::{now, Event, Reporter};
use crate::state::Journal;

/// A run a Ctrl-C stops: its cancellation, and the journal a second press waits for.
type Run = (CancellationToken, Arc<Journal>);

/// The runs of this process.
fn runs() -> &'static Mutex<Vec<Run>> {
    static RUNS: OnceLock<Mutex<Vec<Run>>> = OnceLock::new();
    RUNS.get_or_init(Mutex::default)
}

/// Set by the first press: a fleet member whose run registers later starts no stage either.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub fn install(cancel: CancellationToken, journal: Arc<Journal>, reporter: Arc<dyn Reporter>) {
    {
        let mut runs = runs().lock().unwrap_or_else(|p| p.into_inner());
        if INTERRUPTED.load(Ordering::SeqCst) {
            cancel.cancel();
        }
        runs.push((cancel, journal));
    }
    static HANDLER: OnceLock<()> = OnceLock::new();
    if HANDLER.set(()).is_err() {
        return;
    }
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
            let registered = {
                let runs = runs().lock().unwrap_or_else(|p| p.into_inner());
                INTERRUPTED.store(true, Ordering::SeqCst);
                runs.clone()
            };
            if presses == 1 {
                for (cancel, _) in &registered {
                    cancel.cancel();
                }
                reporter.emit(Event::Warning {
                    ts: now(),
                    message: "interrupted: starting no new stage, letting calls in flight finish and saving state; press Ctrl-C again to stop at once".into(),
                });
            } else {
                // Writes are atomic, so waiting for those in progress keeps every journal whole.
                let journals: Vec<Arc<Journal>> = registered.into_iter().map(|(_, j)| j).collect();
                quiesce_all(&journals, || std::process::exit(130));
            }
        }
    });
}

/// Runs `f` with every journal's writes held off.
fn quiesce_all(journals: &[Arc<Journal>], f: impl FnOnce()) {
    match journals.split_first() {
        Some((first, rest)) => first.quiesce(|| quiesce_all(rest, f)),
        None => f(),
    }
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
