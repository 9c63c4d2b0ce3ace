//! Where a job keeps its state on the source server, one convention for
//! every kind of job: `${XDG_STATE_HOME:-$HOME/.local/state}/migrate/copy/ID`.
//! (The `copy` in the path is older than pipes; existing copies keep their
//! resume state there, and `migrate cleanup --hosts` sweeps that directory.)

use std::fmt;

use tracing::instrument;

use crate::error::RemoteError;
use crate::host::Host;
use crate::script::{Script, ShellWord};

/// A job's id: it names the job directory and ends the temporary key's
/// comment, so it is limited to characters that need no quoting anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobId(String);

impl JobId {
    pub fn new(id: &str) -> Result<JobId, RemoteError> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(JobId(id.to_string()))
        } else {
            Err(RemoteError::BadJobId { id: id.to_string() })
        }
    }

    /// A job id made from free text (a plan id, a host name): every other
    /// character becomes `_`, and the result is cut to the allowed length.
    pub fn sanitized(text: &str) -> JobId {
        let mut s: String = text
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        if s.is_empty() {
            s.push('_');
        }
        JobId(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The directory holding every job's directory, as the server's shell
/// expands it.
const JOBS_BASE: &str = "\"${XDG_STATE_HOME:-$HOME/.local/state}/migrate/copy\"";

/// A shell expression (for scripts that run on the source) naming the job's
/// directory.
pub fn expr(id: &JobId) -> String {
    format!(
        "\"${{XDG_STATE_HOME:-$HOME/.local/state}}/migrate/copy/{}\"",
        id.as_str()
    )
}

/// The job's directory on `host`, as an absolute path. Refused when the
/// server's home makes it a path ssh options cannot carry (whitespace,
/// quotes): the key's path travels in `-i` and `-o` values.
#[instrument(skip_all, fields(host = %host.name(), job = %id))]
pub async fn find(host: &Host, id: &JobId) -> Result<String, RemoteError> {
    let script = Script::new()
        .raw("printf '%s/%s' ")
        .raw(JOBS_BASE)
        .word(&ShellWord::new(id.as_str())?);
    let out = host
        .sh("finding the job directory", script.as_str(), None)
        .await?;
    let dir = String::from_utf8_lossy(&out).to_string();
    let usable = dir.starts_with('/')
        && !dir
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "'\"\\$`".contains(c));
    if !usable {
        return Err(RemoteError::JobDir {
            host: host.name(),
            dir,
        });
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_plain() {
        assert!(JobId::new("db-1a_2").is_ok());
        for bad in ["", "a b", "../x", "a\nb", "$(id)", &"x".repeat(65)] {
            assert!(JobId::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            JobId::sanitized("db-p1-ssh://root@h:22").as_str(),
            "db-p1-ssh___root_h_22"
        );
        assert_eq!(JobId::sanitized("").as_str(), "_");
    }

    #[test]
    fn the_expression_names_one_directory() {
        let id = JobId::new("ab12").unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", expr(&id)))
            .env("HOME", "/home/x y")
            .env_remove("XDG_STATE_HOME")
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"/home/x y/.local/state/migrate/copy/ab12");
    }
}
