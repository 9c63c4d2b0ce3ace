//! A copy's progress snapshots as the operator sees them: one task for the
//! whole copy (bytes, with the files as its detail) and one per stream.

use migrate_progress::{Report, Unit};

use crate::job::Progress;

/// Shows `p` under the task name `task` ("copy", "volume data", …).
pub fn show(r: &dyn Report, task: &str, p: &Progress) {
    show_total(r, task, p);
    if p.streams.len() > 1 {
        for (i, &(d, t)) in p.streams.iter().enumerate() {
            r.update(
                &format!("{task} stream {}", i + 1),
                Unit::Bytes,
                d,
                (t > 0).then_some(t),
            );
        }
    }
}

/// Shows only the copy's total under `task`, without a task per stream
/// (several copies followed at once read better as one line each).
pub fn show_total(r: &dyn Report, task: &str, p: &Progress) {
    let known = p.totals_known();
    r.update(
        task,
        Unit::Bytes,
        p.bytes_done,
        known.then_some(p.bytes_total),
    );
    r.detail(
        task,
        if known {
            format!("{}/{} files", p.files_done, p.files_total)
        } else {
            format!("{} files, counting the tree", p.files_done)
        },
    );
}

/// Ends the tasks `show` started.
pub fn end(r: &dyn Report, task: &str, streams: usize) {
    for i in 0..streams {
        r.finish(&format!("{task} stream {}", i + 1));
    }
    r.finish(task);
}

/// A callback for [`crate::run`] that shows each snapshot and remembers
/// how many streams there were, for [`end`].
pub struct Shown<'a> {
    r: &'a dyn Report,
    task: String,
    streams: usize,
}

impl<'a> Shown<'a> {
    /// Starts the task at once (totals unknown yet), so a log hears of the
    /// copy while it still probes and plans.
    pub fn new(r: &'a dyn Report, task: &str) -> Self {
        r.update(task, Unit::Bytes, 0, None);
        Shown {
            r,
            task: task.to_string(),
            streams: 0,
        }
    }

    pub fn on(&mut self, p: &Progress) {
        self.streams = self.streams.max(if p.streams.len() > 1 {
            p.streams.len()
        } else {
            0
        });
        show(self.r, &self.task, p);
    }

    pub fn end(&self) {
        end(self.r, &self.task, self.streams);
    }
}
