//! One task's figures at a moment, and how they read as a plain line and
//! as a JSON object.

use std::time::Duration;

use migrate_units::{human_bytes, human_rate};
use serde_json::{Value, json};

/// What a task counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    /// Things, named in the plural ("messages", "accounts", "steps").
    Items(&'static str),
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Bytes => "bytes",
            Unit::Items(n) => n,
        }
    }

    pub fn amount(self, n: u64) -> String {
        match self {
            Unit::Bytes => human_bytes(n),
            Unit::Items(name) => format!("{n} {name}"),
        }
    }

    pub fn rate(self, per_second: f64) -> String {
        match self {
            Unit::Bytes => human_rate(per_second),
            Unit::Items(name) => format!("{:.1} {name}/s", per_second.max(0.0)),
        }
    }
}

/// A task's figures: never more done than its total.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub task: String,
    pub unit: Unit,
    pub done: u64,
    pub total: Option<u64>,
    pub elapsed: Duration,
    pub detail: Option<String>,
    /// What was already done when the task was first seen (a stream that
    /// shows up mid-copy): the rate counts only what moved since.
    pub base: u64,
}

impl Figures {
    pub fn new(task: &str, unit: Unit, done: u64, total: Option<u64>, elapsed: Duration) -> Self {
        Figures {
            task: task.to_string(),
            unit,
            done: total.map_or(done, |t| done.min(t)),
            total,
            elapsed,
            detail: None,
            base: 0,
        }
    }

    /// The average rate since the task started, per second.
    pub fn rate(&self) -> f64 {
        rate(self.done.saturating_sub(self.base), self.elapsed)
    }

    /// Time left at the average rate, when there is a total and a rate.
    pub fn eta(&self) -> Option<Duration> {
        let total = self.total?;
        let rate = self.rate();
        if rate <= 0.0 {
            return None;
        }
        Some(Duration::from_secs_f64(
            total.saturating_sub(self.done) as f64 / rate,
        ))
    }

    /// `copy: 120.0 MiB of 442.0 MiB (27%), 12.3 MiB/s, ETA 0:26, 3000/20606 files`
    pub fn plain(&self) -> String {
        let mut s = format!("{}: {}", self.task, self.unit.amount(self.done));
        if let Some(t) = self.total {
            let pct = (self.done.saturating_mul(100))
                .checked_div(t)
                .unwrap_or(100);
            s.push_str(&format!(" of {} ({pct}%)", self.unit.amount(t)));
        }
        s.push_str(&format!(", {}", self.unit.rate(self.rate())));
        match self.eta() {
            Some(e) => s.push_str(&format!(", ETA {}", clock(e))),
            None => s.push_str(", ETA --:--"),
        }
        if let Some(d) = &self.detail {
            s.push_str(", ");
            s.push_str(d);
        }
        s
    }

    /// `{"operation": …, "done": …, "total": …, "unit": …, "rate": …, "eta": …}`;
    /// rate per second, eta in seconds, null where not known.
    pub fn json(&self, finished: bool) -> Value {
        let mut v = json!({
            "operation": self.task,
            "unit": self.unit.name(),
            "done": self.done,
            "total": self.total,
            "rate": (self.rate() * 10.0).round() / 10.0,
            "eta": self.eta().map(|e| e.as_secs()),
            "elapsed": self.elapsed.as_secs(),
            "finished": finished,
        });
        if let (Some(d), Value::Object(m)) = (&self.detail, &mut v) {
            m.insert("detail".into(), d.clone().into());
        }
        v
    }
}

/// `moved` over `elapsed`, per second; 0 before any time has passed.
pub fn rate(moved: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 { moved as f64 / s } else { 0.0 }
}

/// `0:26`, `12:05`, `1:02:03`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_never_passes_the_total() {
        let f = Figures::new(
            "copy",
            Unit::Bytes,
            8 << 30,
            Some(442 << 20),
            Duration::from_secs(8),
        );
        assert_eq!(f.done, 442 << 20);
        assert_eq!(f.eta(), Some(Duration::ZERO));
        assert!(
            f.plain().starts_with("copy: 442.0 MiB of 442.0 MiB (100%)"),
            "{}",
            f.plain()
        );
    }

    #[test]
    fn lines_carry_rate_and_eta() {
        let f = Figures::new(
            "load app",
            Unit::Bytes,
            10 << 20,
            Some(40 << 20),
            Duration::from_secs(10),
        );
        assert_eq!(
            f.plain(),
            "load app: 10.0 MiB of 40.0 MiB (25%), 1.0 MiB/s, ETA 0:30"
        );
        let j = f.json(false);
        assert_eq!(j["operation"], "load app");
        assert_eq!(j["done"], 10u64 << 20);
        assert_eq!(j["total"], 40u64 << 20);
        assert_eq!(j["eta"], 30);
        assert_eq!(j["rate"], 1048576.0);
    }

    #[test]
    fn an_unknown_total_reads_as_such() {
        let f = Figures::new("copy", Unit::Items("files"), 7, None, Duration::ZERO);
        assert_eq!(f.plain(), "copy: 7 files, 0.0 files/s, ETA --:--");
        assert!(f.json(false)["total"].is_null());
        assert!(f.json(false)["eta"].is_null());
    }

    #[test]
    fn clocks() {
        assert_eq!(clock(Duration::from_secs(26)), "0:26");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
    }
}
