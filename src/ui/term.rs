//! The terminal the live view draws on. indicatif pads every line to the full width and lets the
//! terminal wrap, so after a redraw the cursor waits at the right edge of the last line. A Ctrl-C
//! typed at the keyboard is echoed there as `^C`, which wraps onto a line the view does not know
//! of, and the next redraw leaves a stray copy of its top line above the summary. So the last
//! line's padding is replaced by "erase to end of line", which leaves the cursor after the text
//! (the run line is kept short of the edge, see tty.rs) where the echo fits and the redraw
//! clears it.

use std::io;
use std::sync::Mutex;

use console::Term;
use indicatif::TermLike;

/// Erase from the cursor to the end of the line, without moving it.
const ERASE_TO_END: &str = "\x1b[K";

#[derive(Debug)]
pub struct EchoRoom {
    term: Term,
    /// The last padding written: the last line's, when `flush` comes next.
    padding: Mutex<Option<String>>,
}

impl EchoRoom {
    pub fn new(term: Term) -> Self {
        EchoRoom {
            term,
            padding: Mutex::new(None),
        }
    }

    /// Writes padding held back, when something follows it on the screen.
    fn release(&self) -> io::Result<()> {
        let held = self
            .padding
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match held {
            Some(p) => TermLike::write_str(&self.term, &p),
            None => Ok(()),
        }
    }
}

impl TermLike for EchoRoom {
    fn width(&self) -> u16 {
        TermLike::width(&self.term)
    }
    fn height(&self) -> u16 {
        TermLike::height(&self.term)
    }
    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        self.release()?;
        TermLike::move_cursor_up(&self.term, n)
    }
    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        self.release()?;
        TermLike::move_cursor_down(&self.term, n)
    }
    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        self.release()?;
        TermLike::move_cursor_right(&self.term, n)
    }
    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        self.release()?;
        TermLike::move_cursor_left(&self.term, n)
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        self.release()?;
        TermLike::write_line(&self.term, s)
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        self.release()?;
        if !s.is_empty() && s.bytes().all(|b| b == b' ') {
            *self.padding.lock().unwrap_or_else(|p| p.into_inner()) = Some(s.to_string());
            return Ok(());
        }
        TermLike::write_str(&self.term, s)
    }
    fn clear_line(&self) -> io::Result<()> {
        self.release()?;
        TermLike::clear_line(&self.term)
    }
    fn flush(&self) -> io::Result<()> {
        let last = self
            .padding
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if last.is_some() {
            TermLike::write_str(&self.term, ERASE_TO_END)?;
        }
        TermLike::flush(&self.term)
    }
}
