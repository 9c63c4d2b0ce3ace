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
        let (forward, local_sock, path) = match host.spec() {
            HostSpec::Local => (None, None, remote_sock.clone()),
            HostSpec::Ssh { dest } => {
                let (s, p) = forward_socket(dest, &remote_sock, &name).await?;
                let ps = p.to_string_lossy().to_string();
                (Some(s), Some(p), ps)
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

/// Forward `remote_sock` on `dest` to a fresh unix socket in a private
/// directory on this machine, over an ssh master of its own (the master the
/// shell commands use has a session limit to respect, see sshd MaxSessions).
async fn forward_socket(
    dest: &str,
    remote_sock: &str,
    name: &str,
) -> Result<(Session, PathBuf), DockerError> {
    let dir = std::env::temp_dir().join(format!("migrate-docker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| DockerError::Forward {
        host: name.to_string(),
        detail: format!("creating {}: {e}", dir.display()),
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The socket is as good as root on the server: only we may reach it.
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    let local = dir.join(format!("{}.sock", SEQ.fetch_add(1, Ordering::Relaxed)));
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
    Ok((session, local))
}
