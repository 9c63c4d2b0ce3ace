//! What can go wrong moving a database, each naming the database, where it
//! is, and what to do.

use migrate_remote::RemoteError;

use crate::sql::NameError;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Remote(#[from] RemoteError),

    #[error(transparent)]
    Name(#[from] NameError),

    #[error("there is no database `{db}` in {place}")]
    NoSuchDatabase { db: String, place: String },

    #[error("the dump file {path} does not exist on {host} or is not readable")]
    NoDumpFile { path: String, host: String },

    #[error(
        "database `{db}` in {target} is not empty ({what}); refusing to load into it. Load into a fresh database, or pass --force"
    )]
    NotEmpty {
        target: String,
        db: String,
        what: String,
    },

    /// The dump or the load failed; `state` says what the destination holds.
    #[error("the dump failed: {detail}\n  {state}")]
    DumpFailed { detail: String, state: String },

    #[error("row counts differ after the load:\n{0}")]
    RowCounts(String),

    #[error("{0}")]
    BadInput(String),

    /// A failure of an injected capability (the pipe, a connection).
    #[error("{0}")]
    Failed(String),

    /// A server's answer this crate cannot read.
    #[error("{what}: {detail}")]
    Answer { what: String, detail: String },
}
