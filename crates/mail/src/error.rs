//! Errors of mail migrations. Each carries the account or server it is
//! about, and a `kind` the CLI turns into a distinct exit code, the way
//! imapsync separates connection, TLS, authentication, quota and APPEND
//! failures (imapsync 2.229 exit codes 10, 12, 16, 113, 114; see
//! facts/peers.md §4).

use std::path::PathBuf;

/// What went wrong, coarsely: scripts branch on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// TCP connect failed or the connection dropped.
    Connection,
    /// TLS handshake failed: certificate not trusted, pin mismatch, no STARTTLS.
    Tls,
    /// The server refused the login (IMAP) or the API token (Mailu).
    Auth,
    /// The destination is over quota.
    Quota,
    /// The destination refused a message (APPEND) or a folder (CREATE).
    Append,
    /// The server answered something we could not use.
    Protocol,
    /// The users file, a password source or an option is wrong.
    Input,
    /// An HTTP API refused a request for a reason other than the token.
    Api,
    /// A safety rule refused an action (e.g. deleting after the cutover).
    Refused,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("cannot connect to {server}: {detail}")]
    Connect { server: String, detail: String },
    #[error("TLS with {server} failed: {detail}")]
    Tls { server: String, detail: String },
    #[error("{server} refused the login of {user}: {detail}")]
    Auth {
        server: String,
        user: String,
        detail: String,
    },
    #[error("{server}: {user} is over quota while storing into {folder:?}: {detail}")]
    Quota {
        server: String,
        user: String,
        folder: String,
        detail: String,
    },
    #[error("{server}: refused {what} in {folder:?}: {detail}")]
    Append {
        server: String,
        folder: String,
        what: String,
        detail: String,
    },
    #[error("{server}: {context}: {detail}")]
    Protocol {
        server: String,
        context: String,
        detail: String,
    },
    #[error("{path}: {detail}")]
    UsersFile { path: PathBuf, detail: String },
    #[error("password of {user}: {detail}")]
    Password { user: String, detail: String },
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Refused(String),
    #[error("{url}: token refused (HTTP {status}): {message}")]
    ApiAuth {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url}: HTTP {status}: {message}")]
    Api {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url}: {detail}")]
    ApiConnect { url: String, detail: String },
}

impl MailError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            MailError::Connect { .. } | MailError::ApiConnect { .. } => ErrorKind::Connection,
            MailError::Tls { .. } => ErrorKind::Tls,
            MailError::Auth { .. } | MailError::ApiAuth { .. } => ErrorKind::Auth,
            MailError::Quota { .. } => ErrorKind::Quota,
            MailError::Append { .. } => ErrorKind::Append,
            MailError::Protocol { .. } => ErrorKind::Protocol,
            MailError::UsersFile { .. } | MailError::Password { .. } | MailError::Input(_) => {
                ErrorKind::Input
            }
            MailError::Api { .. } => ErrorKind::Api,
            MailError::Refused(_) => ErrorKind::Refused,
        }
    }

    /// What the operator should do next, one sentence.
    pub fn hint(&self) -> &'static str {
        match self.kind() {
            ErrorKind::Connection => {
                "check the host and port, that the server runs, and that no firewall is in between"
            }
            ErrorKind::Tls => {
                "check the certificate: pass --from-ca/--to-ca with the issuing CA, or --from-pin/--to-pin sha256:<fingerprint> after comparing it out of band; STARTTLS (imap://) is never downgraded to plaintext"
            }
            ErrorKind::Auth => {
                "check the user name and the password (or API token) for this account"
            }
            ErrorKind::Quota => {
                "raise the destination quota or free space; a rerun continues where this one stopped"
            }
            ErrorKind::Append => {
                "the destination refused this item; other messages went on, see the reason above"
            }
            ErrorKind::Protocol => {
                "the server's answer was unexpected; rerun with -vv and report it"
            }
            ErrorKind::Input => "fix the input named above and run again",
            ErrorKind::Api => "see the API's message above",
            ErrorKind::Refused => "nothing was deleted; see the reason above",
        }
    }
}

pub type Result<T, E = MailError> = std::result::Result<T, E>;
