//! Docker errors: each names the host, the object and what to do next.

use migrate_copy::CopyError;
use migrate_remote::RemoteError;

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(transparent)]
    Remote(#[from] RemoteError),

    #[error(transparent)]
    Copy(#[from] CopyError),

    #[error(
        "docker is not installed on {host} (no docker socket, no dockerd); install it (Debian: apt-get install docker.io) or pick the right server"
    )]
    NotInstalled { host: String },

    #[error(
        "the docker daemon on {host} is not running ({socket} is missing); start it (systemctl start docker) and try again"
    )]
    NotRunning { host: String, socket: String },

    #[error(
        "{user} on {host} may not use {socket}; log in as root, or add the user to the `docker` group (usermod -aG docker {user}, then log in again)"
    )]
    SocketPermission {
        host: String,
        user: String,
        socket: String,
    },

    #[error("cannot forward {host}'s docker socket over ssh: {detail}")]
    Forward { host: String, detail: String },

    #[error("docker on {host}: {what}: {source}")]
    Api {
        host: String,
        what: String,
        #[source]
        source: bollard::errors::Error,
    },

    #[error(
        "there is no volume `{volume}` on {host}; `migrate docker ls {host}` lists the volumes"
    )]
    NoSuchVolume { host: String, volume: String },

    #[error(
        "there is no container `{name}` on {host}; `migrate docker ls {host}` lists the containers"
    )]
    NoSuchContainer { host: String, name: String },

    #[error(
        "container `{name}` on {host} is not running (state: {state}); start it first (docker start {name})"
    )]
    NotRunningContainer {
        host: String,
        name: String,
        state: String,
    },

    #[error(
        "volume `{volume}` on {host} is not empty ({what}); refusing to overwrite it. Pick another name, empty it, or pass --force (a backup of it is taken first)"
    )]
    VolumeNotEmpty {
        host: String,
        volume: String,
        what: String,
    },

    #[error(
        "database `{db}` in {target} is not empty ({what}); refusing to load into it. Load into a fresh database, or pass --force"
    )]
    DatabaseNotEmpty {
        target: String,
        db: String,
        what: String,
    },

    #[error("the dump failed: {detail}\n  {state}")]
    DumpFailed { detail: String, state: String },

    #[error("row counts differ after the load:\n{0}")]
    RowCounts(String),

    #[error("{what} on {host} did not become {want} within {secs} s (last state: {last})")]
    Timeout {
        host: String,
        what: String,
        want: String,
        secs: u64,
        last: String,
    },

    #[error("the copy of {what} arrived with differences:\n{list}")]
    NotIdentical { what: String, list: String },

    #[error("{0}")]
    BadInput(String),

    #[error("{0}")]
    Refused(String),

    #[error("{0}")]
    Failed(String),
}

impl DockerError {
    pub fn is_unreachable(&self) -> bool {
        match self {
            DockerError::Remote(r) => r.is_unreachable(),
            DockerError::Copy(c) => c.is_unreachable(),
            _ => false,
        }
    }

    /// A refusal the user can act on (as opposed to a failure while working).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            DockerError::VolumeNotEmpty { .. }
                | DockerError::DatabaseNotEmpty { .. }
                | DockerError::NotRunningContainer { .. }
                | DockerError::Refused(_)
                | DockerError::NotInstalled { .. }
                | DockerError::NotRunning { .. }
                | DockerError::SocketPermission { .. }
                | DockerError::Copy(CopyError::NotEnoughSpace { .. })
        )
    }

    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            DockerError::BadInput(_)
                | DockerError::NoSuchVolume { .. }
                | DockerError::NoSuchContainer { .. }
                | DockerError::Copy(CopyError::BadInput(_))
                | DockerError::Remote(RemoteError::BadAddress { .. })
        )
    }
}
