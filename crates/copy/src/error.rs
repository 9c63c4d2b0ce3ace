//! Copy errors: each says what went wrong, where, and what to do next.

use migrate_remote::RemoteError;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Remote(#[from] RemoteError),

    #[error("{location} does not exist or is not a directory")]
    MissingPath { location: String },

    #[error("`{tool}` is missing on {host}: {why}; install it (Debian: apt-get install {package})")]
    MissingTool {
        host: String,
        tool: String,
        package: String,
        why: String,
    },

    #[error(
        "{location} is not empty and was not filled by an earlier `migrate copy` from this source; refusing to overwrite it. Copy into an empty directory, or pass --force to merge into it"
    )]
    DestinationNotEmpty { location: String },

    #[error(
        "not enough space on {location}: {need} needed, {avail} available; free space (or grow the disk) and run the same command again; nothing was changed"
    )]
    NotEnoughSpace {
        location: String,
        need: String,
        avail: String,
    },

    #[error(
        "the destination disk filled up ({location}): {detail}\n  the source is untouched; free space on the destination and run the same command again: it resumes from what fully arrived"
    )]
    DiskFull { location: String, detail: String },

    #[error(
        "a copy from this source to this destination is already running on {host} (pid {pid}); follow it with `migrate status`"
    )]
    AlreadyRunning { host: String, pid: String },

    #[error(
        "the copy stopped before it finished: {detail}\n  the source is untouched; run the same command again: it resumes from what fully arrived"
    )]
    Interrupted { detail: String },

    #[error("could not read the manifest from {host}: {why}")]
    Manifest { host: String, why: String },

    #[error("local state in {path}: {why}")]
    State { path: String, why: String },

    #[error("{0}")]
    BadInput(String),

    #[error("--exclude {pattern:?}: {why}; nothing was copied")]
    BadExclude { pattern: String, why: String },
}

impl CopyError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, CopyError::Remote(r) if r.is_unreachable())
    }
}
