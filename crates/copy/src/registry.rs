//! The operator's list of copy jobs it started, so `migrate status` and
//! `migrate cleanup` know where to look (the job state itself lives on the
//! source server, next to the running copy).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::CopyError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobRecord {
    pub id: String,
    /// `HOST:PATH` as the operator typed them (re-parseable).
    pub src: String,
    pub dst: String,
    /// The job directory on the source host.
    pub job_dir: String,
    pub relay: bool,
}

/// `$XDG_STATE_HOME/migrate/copy-jobs.json` (or `~/.local/state/...`).
pub fn path() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".local/state")
        });
    base.join("migrate").join("copy-jobs.json")
}

fn state_err(why: impl ToString) -> CopyError {
    CopyError::State {
        path: path().display().to_string(),
        why: why.to_string(),
    }
}

pub fn load() -> Result<Vec<JobRecord>, CopyError> {
    match std::fs::read(path()) {
        Ok(data) => serde_json::from_slice(&data).map_err(state_err),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(state_err(e)),
    }
}

fn save(jobs: &[JobRecord]) -> Result<(), CopyError> {
    let p = path();
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).map_err(state_err)?;
    }
    let tmp = p.with_extension("json.tmp");
    let data = serde_json::to_vec_pretty(jobs).map_err(state_err)?;
    std::fs::write(&tmp, data).map_err(state_err)?;
    std::fs::rename(&tmp, &p).map_err(state_err)
}

/// Add or replace a job record.
pub fn upsert(rec: JobRecord) -> Result<(), CopyError> {
    let mut jobs = load()?;
    jobs.retain(|j| j.id != rec.id);
    jobs.push(rec);
    save(&jobs)
}

pub fn remove(id: &str) -> Result<(), CopyError> {
    let mut jobs = load()?;
    jobs.retain(|j| j.id != id);
    save(&jobs)
}
