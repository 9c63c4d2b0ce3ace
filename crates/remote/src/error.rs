//! Errors that name the host and say what to check.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("bad address '{input}': {why}")]
    BadAddress { input: String, why: String },

    #[error(
        "cannot reach {host}: {detail}\n  check the host name, that the server is up and sshd listens on the port (try `ssh {host} true`)"
    )]
    Unreachable { host: String, detail: String },

    #[error(
        "{host} refused the login: {detail}\n  check the user name and that your key is in the server's authorized_keys and loaded in your agent (try `ssh {host} true`)"
    )]
    AuthRefused { host: String, detail: String },

    #[error(
        "{host}'s host key is not known or has changed: {detail}\n  verify the server's fingerprint out of band, then add it to your known_hosts (e.g. by `ssh {host}` once); migrate never trusts an unknown key"
    )]
    UnknownHostKey { host: String, detail: String },

    #[error("the connection to {host} broke: {detail}")]
    Disconnected { host: String, detail: String },

    #[error("on {host}: `{what}` failed (exit {status}): {stderr}")]
    Command {
        host: String,
        what: String,
        status: i32,
        stderr: String,
    },

    #[error("on {host}: {what}: {source}")]
    Io {
        host: String,
        what: String,
        #[source]
        source: io::Error,
    },

    #[error("server-to-server trust from {src} to {dst}: {why}")]
    Trust {
        src: String,
        dst: String,
        why: String,
    },

    #[error("local state in {path}: {why}")]
    State { path: String, why: String },

    #[error(transparent)]
    Word(#[from] crate::script::WordError),

    #[error("`{id}` is not a job id (letters, digits, `-`, `_`, at most 64)")]
    BadJobId { id: String },

    #[error(
        "the job directory on {host} would be `{dir}`: not an absolute path without spaces or quotes; set XDG_STATE_HOME there (or HOME) to such a directory"
    )]
    JobDir { host: String, dir: String },

    #[error("{name}={value:?} is not usable: {why}")]
    BadSetting {
        name: String,
        value: String,
        why: String,
    },
}

impl RemoteError {
    /// True when the problem is reaching or logging into a host (exit code 5).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            RemoteError::Unreachable { .. }
                | RemoteError::AuthRefused { .. }
                | RemoteError::UnknownHostKey { .. }
                | RemoteError::Disconnected { .. }
        )
    }

    /// Classify what ssh printed when a connection failed.
    pub fn from_ssh_failure(host: &str, stderr: &str) -> RemoteError {
        let detail = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
            .collect::<Vec<_>>()
            .join("; ");
        let detail = if detail.is_empty() {
            "ssh exited without a message".to_string()
        } else {
            detail
        };
        let host = host.to_string();
        let l = detail.to_ascii_lowercase();
        if l.contains("host key verification failed")
            || l.contains("no ") && l.contains("host key is known")
            || l.contains("remote host identification has changed")
        {
            RemoteError::UnknownHostKey { host, detail }
        } else if l.contains("permission denied") || l.contains("too many authentication failures")
        {
            RemoteError::AuthRefused { host, detail }
        } else {
            RemoteError::Unreachable { host, detail }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RemoteError;

    #[test]
    fn classifies_ssh_messages() {
        let e =
            RemoteError::from_ssh_failure("dst", "root@dst: Permission denied (publickey).\r\n");
        assert!(matches!(e, RemoteError::AuthRefused { .. }));
        assert!(e.to_string().contains("dst refused the login"));
        let e = RemoteError::from_ssh_failure(
            "x",
            "No ED25519 host key is known for x and you have requested strict checking.\nHost key verification failed.",
        );
        assert!(matches!(e, RemoteError::UnknownHostKey { .. }));
        let e = RemoteError::from_ssh_failure(
            "127.0.0.9",
            "ssh: connect to host 127.0.0.9 port 22: Connection refused",
        );
        assert!(matches!(e, RemoteError::Unreachable { .. }));
        assert!(e.to_string().contains("cannot reach 127.0.0.9"));
    }
}
