//! The one renderer: bars, lines or JSON lines on stderr, per [`Style`].

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::line::{Figures, Unit, clock, rate};
use crate::{Report, Style, colour_on_stderr, plain_every};

/// The host's reporter: hand `progress.reporter()` to the libraries.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    style: Style,
    multi: Option<MultiProgress>,
    tasks: Mutex<Vec<Task>>,
    ticker: Mutex<bool>,
}

struct Task {
    name: String,
    unit: Unit,
    done: u64,
    total: Option<u64>,
    detail: Option<String>,
    started: Instant,
    /// `done` when the task was first seen.
    base: u64,
    last_line: Instant,
    finished: bool,
    bar: Option<ProgressBar>,
}

impl Task {
    fn figures(&self) -> Figures {
        let mut f = Figures::new(
            &self.name,
            self.unit,
            self.done,
            self.total,
            self.started.elapsed(),
        );
        f.detail = self.detail.clone();
        f.base = self.base;
        f
    }
}

impl Progress {
    pub fn new(style: Style) -> Self {
        let multi = (style == Style::Bars)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4)));
        Progress {
            inner: Arc::new(Inner {
                style,
                multi,
                tasks: Mutex::new(Vec::new()),
                ticker: Mutex::new(false),
            }),
        }
    }

    pub fn style(&self) -> Style {
        self.inner.style
    }

    /// This renderer as the libraries take it.
    pub fn reporter(&self) -> crate::Reporter {
        Arc::new(self.clone())
    }

    /// A line of text for the person watching, above the bars when there
    /// are bars (printing straight to stderr would tear them); nothing
    /// with `--quiet`, stderr otherwise.
    pub fn println(&self, line: &str) {
        match (&self.inner.multi, self.inner.style) {
            (_, Style::Quiet) => {}
            (Some(m), _) => {
                let _ = m.println(line);
            }
            _ => eprintln!("{line}"),
        }
    }

    /// Runs `f` (which prints to the terminal) with the bars cleared, then
    /// draws them again.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.inner.multi {
            Some(m) => m.suspend(f),
            None => f(),
        }
    }

    fn with_task<R>(&self, name: &str, unit: Unit, f: impl FnOnce(&mut Task) -> R) -> R {
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
        let i = match tasks.iter().position(|t| t.name == name) {
            Some(i) => i,
            None => {
                tasks.push(Task {
                    name: name.to_string(),
                    unit,
                    done: 0,
                    total: None,
                    detail: None,
                    started: Instant::now(),
                    base: u64::MAX,
                    last_line: Instant::now(),
                    finished: false,
                    bar: None,
                });
                tasks.len() - 1
            }
        };
        let t = &mut tasks[i];
        if t.finished {
            // The same operation again (a retried pass): a fresh start.
            t.finished = false;
            t.started = Instant::now();
            t.last_line = Instant::now();
            t.done = 0;
            t.base = u64::MAX;
            t.bar = None;
        }
        f(t)
    }

    fn start_ticker(&self) {
        let mut started = self.inner.ticker.lock().unwrap_or_else(|p| p.into_inner());
        if *started {
            return;
        }
        *started = true;
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let every = plain_every();
        // Lines for the tasks that have not moved lately, so a log never
        // goes quiet while one of them waits on a slow server. It ends
        // with the last handle on the renderer.
        let _ = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(250));
                    let Some(inner) = weak.upgrade() else { return };
                    let mut tasks = inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
                    for t in tasks.iter_mut().filter(|t| !t.finished) {
                        if t.last_line.elapsed() >= every {
                            t.last_line = Instant::now();
                            emit(inner.style, &t.figures(), false);
                        }
                    }
                }
            });
    }
}

/// One plain or JSON line on stderr.
fn emit(style: Style, f: &Figures, finished: bool) {
    match style {
        Style::Lines => {
            if finished {
                eprintln!("{} (done in {})", f.plain(), clock(f.elapsed));
            } else {
                eprintln!("{}", f.plain());
            }
        }
        Style::Json => eprintln!("{}", f.json(finished)),
        Style::Bars | Style::Quiet => {}
    }
}

/// The bar for a task counting `unit`; `base` is what was done when the
/// task was first seen, left out of its rate.
fn bar_style(unit: Unit, total_known: bool, base: u64) -> ProgressStyle {
    let bar = if colour_on_stderr() {
        "{bar:28.cyan/blue}"
    } else {
        "{bar:28}"
    };
    let template = if total_known {
        format!(
            "{{prefix}} [{bar}] {{done}} / {{whole}} ({{percent}}%)  {{rate}}  ETA {{left}}  {{msg}}"
        )
    } else {
        "{prefix} {spinner} {done}  {rate}  {msg}".to_string()
    };
    let style = ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>-");
    let rate = move |s: &ProgressState| rate(s.pos().saturating_sub(base), s.elapsed());
    style
        .with_key(
            "done",
            move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&unit.amount(s.pos()));
            },
        )
        .with_key(
            "whole",
            move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&s.len().map_or("?".into(), |l| unit.amount(l)));
            },
        )
        .with_key(
            "rate",
            move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&unit.rate(rate(s)));
            },
        )
        .with_key(
            "left",
            move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let r = rate(s);
                let left = s.len().unwrap_or(0).saturating_sub(s.pos());
                let _ = if r > 0.0 {
                    w.write_str(&clock(Duration::from_secs_f64(left as f64 / r)))
                } else {
                    w.write_str("--:--")
                };
            },
        )
}

impl Report for Progress {
    fn update(&self, task: &str, unit: Unit, done: u64, total: Option<u64>) {
        let style = self.inner.style;
        if style == Style::Quiet {
            return;
        }
        if matches!(style, Style::Lines | Style::Json) {
            self.start_ticker();
        }
        self.with_task(task, unit, |t| {
            let known_before = t.total.is_some();
            t.unit = unit;
            t.total = total;
            t.done = total.map_or(done, |l| done.min(l));
            if t.base == u64::MAX {
                t.base = t.done;
            }
            let base = t.base;
            let Some(m) = &self.inner.multi else { return };
            let bar = t.bar.get_or_insert_with(|| {
                let b = m.add(ProgressBar::new(total.unwrap_or(0)));
                b.set_style(bar_style(unit, total.is_some(), base));
                b.set_prefix(t.name.clone());
                b
            });
            if total.is_some() != known_before {
                bar.set_style(bar_style(unit, total.is_some(), base));
            }
            match total {
                Some(l) => bar.set_length(l),
                None => bar.unset_length(),
            }
            bar.set_position(t.done);
            if total.is_none() {
                bar.tick();
            }
        });
    }

    fn detail(&self, task: &str, detail: String) {
        if self.inner.style == Style::Quiet {
            return;
        }
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = tasks.iter_mut().find(|t| t.name == task) {
            if let Some(b) = &t.bar {
                b.set_message(detail.clone());
            }
            t.detail = Some(detail);
        }
    }

    fn finish(&self, task: &str) {
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
        let Some(t) = tasks.iter_mut().find(|t| t.name == task && !t.finished) else {
            return;
        };
        t.finished = true;
        if let Some(b) = &t.bar {
            b.finish();
        }
        emit(self.inner.style, &t.figures(), true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_never_shows_more_than_its_total() {
        let p = Progress::new(Style::Quiet);
        // Quiet keeps no figures at all.
        p.update("copy", Unit::Bytes, 10, Some(5));
        assert!(p.inner.tasks.lock().unwrap().is_empty());
        let p = Progress::new(Style::Json);
        p.update("copy", Unit::Bytes, 10, Some(5));
        p.update("copy", Unit::Bytes, 3, None);
        let tasks = p.inner.tasks.lock().unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].done, 3);
        drop(tasks);
        p.update("copy", Unit::Bytes, 10, Some(5));
        assert_eq!(p.inner.tasks.lock().unwrap()[0].done, 5);
    }
}
