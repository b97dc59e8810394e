use std::io::Write;
use std::sync::Mutex;

use crate::engine::{Event, EventLine, Reporter};

/// `--output json`: every event as one JSON object on its own line of stdout, with the stream's
/// `schema_version`.
pub struct JsonReporter {
    out: Mutex<std::io::Stdout>,
}

impl JsonReporter {
    pub fn new() -> Self {
        JsonReporter {
            out: Mutex::new(std::io::stdout()),
        }
    }
}

impl Default for JsonReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for JsonReporter {
    fn emit(&self, event: Event) {
        let line = serde_json::to_string(&EventLine::new(event)).expect("events serialize");
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // A closed pipe (`kat up -o json | head`) must not abort the run mid-way.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}
