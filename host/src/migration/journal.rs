//! The journal: one JSON line per event, appended and flushed, never
//! rewritten. A step is finished when its `done` line is there; a `start`
//! without an end is the step that was interrupted. Details never hold
//! secret values (carried secrets are named, not shown).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::plan::Plan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    Start,
    Done,
    Failed,
    Aborted,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Unix time, milliseconds.
    pub at_ms: u128,
    pub migration: String,
    pub step: String,
    pub event: Event,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub data: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}:{line}: not a journal line ({message}); the journal is append-only, so this line was written by something else"
    )]
    Corrupt {
        path: String,
        line: usize,
        message: String,
    },
}

pub struct Journal {
    pub dir: PathBuf,
    pub id: String,
    file: File,
    pub entries: Vec<Entry>,
}

/// `<data dir>/migrations/<id>/`.
pub fn dir_for(id: &str) -> PathBuf {
    crate::paths::data_dir().join("migrations").join(id)
}

pub fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub fn read_entries(path: &Path) -> Result<Vec<Entry>, JournalError> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(io(path)(e)),
    };
    let mut out = Vec::new();
    let lines: Vec<String> = BufReader::new(f)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(io(path))?;
    let n = lines.len();
    for (i, line) in lines.into_iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(&line) {
            Ok(e) => out.push(e),
            // A kill in the middle of a write leaves a partial last line:
            // that event did not happen.
            Err(_) if i + 1 == n => break,
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: path.display().to_string(),
                    line: i + 1,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(out)
}

impl Journal {
    pub fn open(id: &str) -> Result<Journal, JournalError> {
        let dir = dir_for(id);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join("journal.jsonl");
        let entries = read_entries(&path)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        Ok(Journal {
            dir,
            id: id.to_string(),
            file,
            entries,
        })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("journal.jsonl")
    }

    pub fn append(
        &mut self,
        step: &str,
        event: Event,
        detail: &str,
        data: Value,
    ) -> Result<(), JournalError> {
        let e = Entry {
            at_ms: now_ms(),
            migration: self.id.clone(),
            step: step.to_string(),
            event,
            detail: detail.to_string(),
            data,
        };
        let mut line = serde_json::to_string(&e).unwrap_or_default();
        line.push('\n');
        let path = self.path();
        // One write per line, then fsync: a kill leaves whole lines behind.
        self.file.write_all(line.as_bytes()).map_err(io(&path))?;
        self.file.sync_data().map_err(io(&path))?;
        self.entries.push(e);
        Ok(())
    }

    pub fn is_done(&self, step: &str) -> bool {
        self.last(step).is_some_and(|e| e.event == Event::Done)
    }

    pub fn last(&self, step: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.step == step)
    }

    pub fn first_start(&self, step: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.step == step && e.event == Event::Start)
    }

    fn done_data(&self, step: &str) -> Option<&Value> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.step == step && e.event == Event::Done)
            .map(|e| &e.data)
    }

    /// What the step's last finished run recorded, as its kind's outcome
    /// type (steps/outcome.rs); None when it has not finished or recorded
    /// something else.
    pub fn outcome<T: serde::de::DeserializeOwned>(&self, step: &str) -> Option<T> {
        serde_json::from_value(self.done_data(step)?.clone()).ok()
    }

    /// Seconds from the step's last start to the done that followed it.
    pub fn last_seconds(&self, step: &str) -> Option<f64> {
        let i = self
            .entries
            .iter()
            .rposition(|e| e.step == step && e.event == Event::Start)?;
        let start = self.entries[i].at_ms;
        self.entries[i..]
            .iter()
            .find(|e| e.step == step && e.event == Event::Done)
            .map(|e| e.at_ms.saturating_sub(start) as f64 / 1000.0)
    }

    pub fn aborted(&self) -> bool {
        self.entries.iter().any(|e| e.event == Event::Aborted)
    }
}

pub fn plan_path(id: &str) -> PathBuf {
    dir_for(id).join("plan.json")
}

pub fn save_plan(plan: &Plan) -> Result<PathBuf, JournalError> {
    let dir = dir_for(&plan.id);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let path = plan_path(&plan.id);
    let tmp = dir.join("plan.json.tmp");
    let text = serde_json::to_string_pretty(plan).unwrap_or_default();
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(path)
}

pub fn load_plan(id: &str) -> Result<Option<Plan>, JournalError> {
    let path = plan_path(id);
    match std::fs::read_to_string(&path) {
        Ok(t) => serde_json::from_str(&t)
            .map(Some)
            .map_err(|e| JournalError::Corrupt {
                path: path.display().to_string(),
                line: e.line(),
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&path)(e)),
    }
}

/// One migration journaled on this machine: its stored plan and events.
pub struct Stored {
    pub plan: Plan,
    pub entries: Vec<Entry>,
    pub dir: PathBuf,
    /// When it last changed: its last event, else when its plan was saved.
    pub at_ms: u128,
}

impl Stored {
    /// Where it stands, in a word or two.
    pub fn state(&self) -> &'static str {
        if self.entries.iter().any(|e| e.event == Event::Aborted) {
            return "aborted";
        }
        match self.entries.last().map(|e| e.event) {
            None => "planned",
            Some(Event::Failed) => "failed",
            Some(Event::Start) => "running or interrupted",
            Some(_) if self.done() == self.plan.steps.len() => "done",
            Some(_) => "in progress",
        }
    }

    /// How many of the plan's steps are finished.
    pub fn done(&self) -> usize {
        self.plan
            .steps
            .iter()
            .filter(|s| state_of(&self.entries, &s.id) == StepState::Done)
            .count()
    }

    /// Neither finished nor aborted: something a rerun would continue.
    pub fn open(&self) -> bool {
        !matches!(self.state(), "done" | "aborted")
    }
}

/// Every migration with a stored plan under the data dir, newest first.
/// A directory without a readable plan is skipped (it holds nothing a
/// command could resume), a journal that is not one is an error.
pub fn stored_all() -> Result<Vec<Stored>, JournalError> {
    let root = crate::paths::data_dir().join("migrations");
    let dirs = match std::fs::read_dir(&root) {
        Ok(d) => d.flatten().collect::<Vec<_>>(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(&root)(e)),
    };
    let mut out = Vec::new();
    for d in dirs {
        let id = d.file_name().to_string_lossy().into_owned();
        let Some(plan) = load_plan(&id)? else {
            continue;
        };
        let dir = d.path();
        let entries = read_entries(&dir.join("journal.jsonl"))?;
        let saved = std::fs::metadata(plan_path(&id))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let at_ms = entries.last().map(|e| e.at_ms).unwrap_or(saved).max(saved);
        out.push(Stored {
            plan,
            entries,
            dir,
            at_ms,
        });
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.at_ms));
    Ok(out)
}

/// What picks a migration out of the journals; an unset field matches all.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub app: Option<&'a str>,
    pub domain: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
}

impl Filter<'_> {
    pub fn matches(&self, p: &Plan) -> bool {
        let m = &p.migration;
        self.app.is_none_or(|a| a == m.app)
            && self.domain.is_none_or(|d| {
                d.eq_ignore_ascii_case(&m.domain)
                    || m.old_domain
                        .as_deref()
                        .is_some_and(|o| d.eq_ignore_ascii_case(o))
            })
            && self.from.is_none_or(|h| h == m.source.host)
            && self.to.is_none_or(|h| h == m.destination.host)
    }

    /// The filter in words, for an error naming what was looked for.
    pub fn words(&self) -> String {
        let parts: Vec<String> = [
            ("app", self.app),
            ("domain", self.domain),
            ("from", self.from),
            ("to", self.to),
        ]
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k} {v}")))
        .collect();
        if parts.is_empty() {
            "any".into()
        } else {
            parts.join(", ")
        }
    }
}

/// The newest stored migration the filter matches.
pub fn newest(filter: &Filter) -> Result<Option<Stored>, JournalError> {
    Ok(stored_all()?.into_iter().find(|s| filter.matches(&s.plan)))
}

/// Where each step stands, for `migrate app-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    Pending,
    Running,
    Done,
    Failed,
}

pub fn state_of(entries: &[Entry], step: &str) -> StepState {
    match entries
        .iter()
        .rev()
        .find(|e| e.step == step)
        .map(|e| e.event)
    {
        None => StepState::Pending,
        Some(Event::Start) => StepState::Running,
        Some(Event::Done) => StepState::Done,
        Some(Event::Failed) | Some(Event::Aborted) => StepState::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_last_line_is_ignored_but_a_bad_middle_line_is_not() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("j");
        let good = r#"{"at_ms":1,"migration":"m","step":"a","event":"start"}"#;
        std::fs::write(&p, format!("{good}\n{{\"at_ms\":2,\"migr")).unwrap();
        assert_eq!(read_entries(&p).unwrap().len(), 1);
        std::fs::write(&p, format!("garbage\n{good}\n")).unwrap();
        assert!(matches!(
            read_entries(&p),
            Err(JournalError::Corrupt { line: 1, .. })
        ));
        let es = read_entries(&p);
        assert!(es.is_err());
        let es: Vec<Entry> = vec![serde_json::from_str(good).unwrap()];
        assert_eq!(state_of(&es, "a"), StepState::Running);
        assert_eq!(state_of(&es, "b"), StepState::Pending);
    }
}
