//! Progress of long operations (copies, volume moves, database dumps and
//! loads, mail syncs, a migration's phases), shown one way everywhere.
//!
//! Libraries report through [`Report`] and never print: they say which
//! task moved, how far, and of how much. The host picks the [`Style`] once
//! (a terminal, a log, `--json`, `--quiet`) and hands a [`Progress`] down.
//!
//! - On a terminal: one bar per task with the amount done, the total, the
//!   rate and the time left (indicatif).
//! - Anywhere else: a plain line per running task every [`plain_every`]
//!   (5 s, at most 10), whether or not the task moved, so a log never goes
//!   quiet; and a last line when it ends.
//! - With `--json`: the same ticks as JSON objects, one per line, on stderr
//!   (stdout holds the command's one JSON document).
//! - `--quiet`: nothing.

mod line;
mod render;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

pub use line::{Figures, Unit};
pub use render::Progress;

/// How often a log gets a line for each running task, unless
/// `MIGRATE_PROGRESS_EVERY` (seconds, 0.2 to 10) says otherwise.
pub const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// The interval in force: [`PLAIN_EVERY`] or the environment's choice,
/// never more than 10 s (a log must not go quiet for longer).
pub fn plain_every() -> Duration {
    std::env::var("MIGRATE_PROGRESS_EVERY")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite())
        .map_or(PLAIN_EVERY, |s| Duration::from_secs_f64(s.clamp(0.2, 10.0)))
}

/// Where progress goes, chosen once per command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Bars on stderr, redrawn in place.
    Bars,
    /// A plain line per task at least every [`PLAIN_EVERY`].
    Lines,
    /// JSON objects on stderr, one per line and tick.
    Json,
    /// Nothing.
    Quiet,
}

impl Style {
    /// `--quiet` wins, then `--json`; otherwise bars when stderr is a
    /// terminal and lines when it is not.
    pub fn detect(quiet: bool, json: bool) -> Style {
        if quiet {
            Style::Quiet
        } else if json {
            Style::Json
        } else if std::io::stderr().is_terminal() {
            Style::Bars
        } else {
            Style::Lines
        }
    }
}

/// Colour only for a person at a terminal, and never under `NO_COLOR`
/// (no-color.org): logs and CI get plain text.
pub fn colour_on_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// What a library reports through. `task` names the operation as a person
/// reads it ("copy", "copy stream 2", "load nextcloud"); the first update
/// of a task starts it, `finish` ends it. Totals may arrive later than the
/// first update (`None` until known); a task's `done` never goes past its
/// total (the renderer caps it, but a library should not rely on that).
pub trait Report: Send + Sync {
    fn update(&self, task: &str, unit: Unit, done: u64, total: Option<u64>);
    /// Extra figures shown after the main ones ("1200/20606 files").
    fn detail(&self, _task: &str, _detail: String) {}
    fn finish(&self, task: &str);
}

/// Reports nowhere.
pub struct Silent;

impl Report for Silent {
    fn update(&self, _: &str, _: Unit, _: u64, _: Option<u64>) {}
    fn finish(&self, _: &str) {}
}

/// A shared reporter, as libraries keep it.
pub type Reporter = Arc<dyn Report>;

/// A reporter that shows nothing.
pub fn silent() -> Reporter {
    Arc::new(Silent)
}
