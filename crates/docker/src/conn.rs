//! A docker daemon reached through the host's ssh connection: the remote
//! `/var/run/docker.sock` is forwarded to a private unix socket on this
//! machine (`ssh -L local.sock:/var/run/docker.sock`), so no TCP docker port
//! is ever opened and the operator's ssh setup decides who may connect.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};
use migrate_remote::{Host, HostSpec};
use openssh::{ForwardType, KnownHosts, Session, SessionBuilder, Socket};
use tracing::{debug, instrument};

use crate::error::DockerError;

/// Where dockerd listens on a server, unless `DOCKER_HOST` says otherwise
/// for `local`.
pub const REMOTE_SOCKET: &str = "/var/run/docker.sock";

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A connected docker daemon plus the host's shell (for tar, find, dumps).
pub struct DockerHost {
    pub host: Host,
    pub docker: Docker,
    /// The ssh master that carries the forwarded socket (kept alive with it).
    forward: Option<Session>,
    local_sock: Option<PathBuf>,
    /// The private directory holding `local_sock`, removed with it.
    sock_dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for DockerHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DockerHost({})", self.host.name())
    }
}

/// Why docker cannot be used, found with one shell probe before forwarding:
/// the API error after a failed forward would only say "connection refused".
fn probe_script(sock: &str) -> String {
    format!(
        r#"s={sock}
if [ ! -S "$s" ]; then
  if command -v dockerd >/dev/null 2>&1 || command -v docker >/dev/null 2>&1; then echo notrunning; else echo notinstalled; fi
  exit 0
fi
if [ -r "$s" ] && [ -w "$s" ]; then echo ok; else echo "noperm $(id -un)"; fi"#,
        sock = migrate_remote::sh_quote(sock)
    )
}

impl DockerHost {
    #[instrument(skip_all, fields(host = %spec))]
    pub async fn connect(spec: &HostSpec) -> Result<DockerHost, DockerError> {
        let host = Host::connect(spec).await?;
        Self::with_host(host).await
    }

    /// Use an already connected host.
    pub async fn with_host(host: Host) -> Result<DockerHost, DockerError> {
        let name = host.name();
        let remote_sock = match host.spec() {
            HostSpec::Local => std::env::var("DOCKER_HOST")
                .ok()
                .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
                .unwrap_or_else(|| REMOTE_SOCKET.to_string()),
            HostSpec::Ssh { .. } => REMOTE_SOCKET.to_string(),
        };
        let out = host
            .sh("checking docker", &probe_script(&remote_sock), None)
            .await?;
        let verdict = String::from_utf8_lossy(&out).trim().to_string();
        match verdict.split_whitespace().next() {
            Some("ok") => {}
            Some("notinstalled") => return Err(DockerError::NotInstalled { host: name }),
            Some("notrunning") => {
                return Err(DockerError::NotRunning {
                    host: name,
                    socket: remote_sock,
                });
            }
            Some("noperm") => {
                return Err(DockerError::SocketPermission {
                    host: name,
                    user: verdict
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or("this user")
                        .to_string(),
                    socket: remote_sock,
                });
            }
            _ => {
                return Err(DockerError::Failed(format!(
                    "unexpected answer from the docker probe on {name}: {verdict}"
                )));
            }
        }
        let (forward, local_sock, sock_dir, path) = match host.spec() {
            HostSpec::Local => (None, None, None, remote_sock.clone()),
            HostSpec::Ssh { dest } => {
                let (s, d, p) = forward_socket(dest, &remote_sock, &name).await?;
                let ps = p.to_string_lossy().to_string();
                (Some(s), Some(p), Some(d), ps)
            }
        };
        let api_err = |what: &str, e| DockerError::Api {
            host: name.clone(),
            what: what.to_string(),
            source: e,
        };
        let docker = Docker::connect_with_unix(&path, 600, API_DEFAULT_VERSION)
            .map_err(|e| api_err("connecting", e))?;
        // The lab and Debian bookworm ship docker 20.10 (API 1.41): talk the
        // daemon's version, not bollard's newest.
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| api_err("negotiating the API version", e))?;
        debug!(version = ?docker.client_version(), "docker API up");
        Ok(DockerHost {
            host,
            docker,
            forward,
            local_sock,
            sock_dir,
        })
    }

    pub fn name(&self) -> String {
        self.host.name()
    }

    pub fn api_err(&self, what: impl Into<String>, e: bollard::errors::Error) -> DockerError {
        DockerError::Api {
            host: self.name(),
            what: what.into(),
            source: e,
        }
    }

    /// Close the forward and the ssh master.
    pub async fn close(mut self) {
        if let Some(s) = self.forward.take() {
            let _ = s.close().await;
        }
        if let Some(p) = self.local_sock.take() {
            let _ = std::fs::remove_file(p);
        }
        drop(self.sock_dir.take());
        self.host.clone().close().await;
    }
}

impl Drop for DockerHost {
    fn drop(&mut self) {
        if let Some(p) = &self.local_sock {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A fresh private directory for forwarded sockets, made by mkdtemp: a
/// name nobody can guess or create first, mode 0700 from the start. (A
/// fixed name such as `migrate-docker-PID` could be made beforehand by
/// another user, who would then hold a socket as good as root on the
/// server.) Made 0700, not chmod-ed after: there is no moment when it is
/// open. Removed when dropped.
fn socket_dir() -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix("migrate-docker-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
}

/// Forward `remote_sock` on `dest` to a fresh unix socket in a private
/// directory on this machine, over an ssh master of its own (the master the
/// shell commands use has a session limit to respect, see sshd MaxSessions).
async fn forward_socket(
    dest: &str,
    remote_sock: &str,
    name: &str,
) -> Result<(Session, tempfile::TempDir, PathBuf), DockerError> {
    let dir = socket_dir().map_err(|e| DockerError::Forward {
        host: name.to_string(),
        detail: format!(
            "creating a private directory in {}: {e}",
            std::env::temp_dir().display()
        ),
    })?;
    let local = dir
        .path()
        .join(format!("{}.sock", SEQ.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_file(&local);
    let mut b = SessionBuilder::default();
    b.known_hosts_check(KnownHosts::Strict)
        .connect_timeout(Duration::from_secs(15))
        .server_alive_interval(Duration::from_secs(15))
        .control_directory(std::env::temp_dir());
    let session = b.connect(dest).await.map_err(|e| {
        let detail = std::error::Error::source(&e)
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string());
        DockerError::Remote(migrate_remote::RemoteError::from_ssh_failure(dest, &detail))
    })?;
    session
        .request_port_forward(
            ForwardType::Local,
            Socket::UnixSocket {
                path: local.clone().into(),
            },
            Socket::UnixSocket {
                path: std::path::Path::new(remote_sock).into(),
            },
        )
        .await
        .map_err(|e| DockerError::Forward {
            host: name.to_string(),
            detail: format!(
                "{e}; the server's sshd must allow stream-local forwarding (AllowStreamLocalForwarding yes, the default)"
            ),
        })?;
    Ok((session, dir, local))
}

#[cfg(test)]
mod tests {
    use super::socket_dir;
    use std::os::unix::fs::PermissionsExt;

    /// The old fixed name, made first by someone else, is not used; each
    /// directory is new, private from the start, and gone when dropped.
    #[test]
    fn socket_directories_are_unpredictable_and_private() {
        let fixed = std::env::temp_dir().join(format!("migrate-docker-{}", std::process::id()));
        std::fs::create_dir_all(&fixed).unwrap();
        std::fs::set_permissions(&fixed, std::fs::Permissions::from_mode(0o777)).unwrap();
        let a = socket_dir().unwrap();
        let b = socket_dir().unwrap();
        assert_ne!(a.path(), fixed.as_path());
        assert_ne!(a.path(), b.path());
        for d in [&a, &b] {
            let m = std::fs::metadata(d.path()).unwrap();
            assert!(m.is_dir());
            assert_eq!(
                m.permissions().mode() & 0o777,
                0o700,
                "{}",
                d.path().display()
            );
            let name = d.path().file_name().unwrap().to_string_lossy().into_owned();
            assert!(name.starts_with("migrate-docker-"), "{name}");
            assert!(
                !name.ends_with(&std::process::id().to_string()),
                "{name} is derived from the pid"
            );
        }
        let gone = a.path().to_path_buf();
        drop(a);
        assert!(!gone.exists());
        std::fs::remove_dir(&fixed).unwrap();
    }
}
