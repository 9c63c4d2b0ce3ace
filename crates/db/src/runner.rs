//! The capabilities a move needs, injected by its caller: run a script on a
//! side, and pipe one side's dump into the other side's load. The crate does
//! not care whether ssh, this machine or a relay is underneath.

use std::future::Future;
use std::process::Output;

use migrate_remote::{Host, RemoteError};

use crate::error::DbError;

/// Runs shell scripts on one server.
pub trait Runner {
    /// The server's name in messages.
    fn label(&self) -> String;

    /// Run `script` with `sh -c`, feeding `stdin`; any exit status is returned.
    fn sh_raw(
        &self,
        what: &str,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> impl Future<Output = Result<Output, RemoteError>>;
}

impl Runner for Host {
    fn label(&self) -> String {
        self.name()
    }

    fn sh_raw(
        &self,
        what: &str,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> impl Future<Output = Result<Output, RemoteError>> {
        Host::sh_raw(self, what, script, stdin)
    }
}

/// Run `script`; a non-zero exit is an error carrying its stderr.
pub async fn sh<R: Runner>(
    r: &R,
    what: &str,
    script: &str,
    stdin: Option<&[u8]>,
) -> Result<String, DbError> {
    let out = r.sh_raw(what, script, stdin).await?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(DbError::Remote(RemoteError::Command {
        host: r.label(),
        what: what.to_string(),
        status: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    }))
}

/// How a dump travelled and whether both ends succeeded.
#[derive(Debug, Clone, PartialEq)]
pub struct Piped {
    /// How the bytes went (e.g. "direct", "relay", "server to server").
    pub route: String,
    /// Bytes moved, where the pipe counts them.
    pub bytes: Option<u64>,
    /// Err: what the dump and the load said when either failed.
    pub outcome: Result<(), String>,
}

/// Streams the stdout of a script on the source into the stdin of a script
/// on the destination.
pub trait Pipe {
    fn pipe(&self, dump: &str, load: &str) -> impl Future<Output = Result<Piped, DbError>>;
}
