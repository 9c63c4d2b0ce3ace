//! The operator's list of jobs it started on the servers (copies, and the
//! server-to-server pipes of database moves), so `migrate status` and
//! `migrate cleanup` know where to look: the job state and any temporary key
//! live in the job's directory on the source server. A job is recorded
//! before its key exists, so a crash at any later point leaves a record.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::RemoteError;

/// What made a job (all kinds may hold a temporary key).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    /// `migrate copy` (records written before kinds existed are copies).
    #[default]
    Copy,
    /// A server-to-server pipe (`migrate docker db`, a migration's database).
    Pipe,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobRecord {
    pub id: String,
    /// `HOST:PATH` as the operator typed them (re-parseable).
    pub src: String,
    pub dst: String,
    /// The job directory on the source host.
    pub job_dir: String,
    pub relay: bool,
    #[serde(default)]
    pub kind: JobKind,
}

/// `$XDG_STATE_HOME/migrate/copy-jobs.json` (or `~/.local/state/...`); the
/// name is older than pipes, and kept so existing records stay found.
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

fn state_err(why: impl ToString) -> RemoteError {
    RemoteError::State {
        path: path().display().to_string(),
        why: why.to_string(),
    }
}

pub fn load() -> Result<Vec<JobRecord>, RemoteError> {
    match std::fs::read(path()) {
        Ok(data) => serde_json::from_slice(&data).map_err(state_err),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(state_err(e)),
    }
}

fn save(jobs: &[JobRecord]) -> Result<(), RemoteError> {
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
pub fn upsert(rec: JobRecord) -> Result<(), RemoteError> {
    let mut jobs = load()?;
    jobs.retain(|j| j.id != rec.id);
    jobs.push(rec);
    save(&jobs)
}

/// Forget a job (its key is gone).
pub fn remove(id: &str) -> Result<(), RemoteError> {
    let mut jobs = load()?;
    jobs.retain(|j| j.id != id);
    save(&jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_without_a_kind_are_copies() {
        let old =
            r#"[{"id":"a1","src":"src:/x","dst":"dst:/y","job_dir":"/root/j","relay":false}]"#;
        let v: Vec<JobRecord> = serde_json::from_str(old).unwrap();
        assert_eq!(v[0].kind, JobKind::Copy);
        let pipe = JobRecord {
            kind: JobKind::Pipe,
            ..v[0].clone()
        };
        let text = serde_json::to_string(&pipe).unwrap();
        assert!(text.contains(r#""kind":"pipe""#), "{text}");
    }
}
