//! The progress bar: drawn on stderr with `indicatif`, only when stderr is a terminal and
//! only once a run has lasted more than a second, so short runs and piped output stay
//! clean. Standard output never carries progress.

use std::cell::Cell;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a run goes before its bar appears.
const DELAY: Duration = Duration::from_secs(1);

/// A progress bar that shows itself late, or never.
pub struct Progress {
    bar: ProgressBar,
    start: Instant,
    tty: bool,
    shown: Cell<bool>,
}

impl Progress {
    /// A bar over `total` units of work; visible only on a terminal, after a second.
    pub fn new(total: u64) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed_precise} {msg}")
        {
            bar.set_style(style);
        }
        Progress {
            bar,
            start: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            shown: Cell::new(false),
        }
    }

    /// A bar that is never drawn.
    pub fn hidden() -> Progress {
        let p = Progress::new(0);
        Progress { tty: false, ..p }
    }

    /// Advances by `n` units and says what is being done.
    pub fn step(&self, n: u64, msg: &str) {
        self.bar.inc(n);
        self.bar.set_message(msg.to_string());
        if self.tty && !self.shown.get() && self.start.elapsed() >= DELAY {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown.set(true);
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if self.shown.get() {
            self.bar.finish_and_clear();
        }
    }
}
