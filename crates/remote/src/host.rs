//! Running shell scripts on a host: over one multiplexed ssh master, or locally.

use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use openssh::{KnownHosts, Session, SessionBuilder};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tracing::{debug, instrument};

use crate::addr::HostSpec;
use crate::error::RemoteError;

/// A connected host. Cheap to clone (the ssh master is shared).
#[derive(Clone)]
pub struct Host {
    spec: HostSpec,
    session: Option<Arc<Session>>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Host({})", self.spec)
    }
}

impl Host {
    /// Open the ssh master (strict host key checking: an unknown key is an
    /// error, never trusted on first use). `local` needs no connection.
    #[instrument(skip_all, fields(host = %spec))]
    pub async fn connect(spec: &HostSpec) -> Result<Host, RemoteError> {
        let dest = match spec {
            HostSpec::Local => {
                return Ok(Host {
                    spec: spec.clone(),
                    session: None,
                });
            }
            HostSpec::Ssh { dest } => dest,
        };
        let mut b = SessionBuilder::default();
        b.known_hosts_check(KnownHosts::Strict)
            .connect_timeout(Duration::from_secs(15))
            .server_alive_interval(Duration::from_secs(15))
            .control_directory(std::env::temp_dir());
        let session = b.connect(dest).await.map_err(|e| {
            let detail = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string());
            RemoteError::from_ssh_failure(dest, &detail)
        })?;
        debug!("ssh master up");
        Ok(Host {
            spec: spec.clone(),
            session: Some(Arc::new(session)),
        })
    }

    pub fn spec(&self) -> &HostSpec {
        &self.spec
    }

    /// The name used in messages.
    pub fn name(&self) -> String {
        self.spec.to_string()
    }

    fn io_err(&self, what: &str, e: std::io::Error) -> RemoteError {
        RemoteError::Io {
            host: self.name(),
            what: what.to_string(),
            source: e,
        }
    }

    fn ssh_err(&self, what: &str, e: openssh::Error) -> RemoteError {
        match e {
            openssh::Error::Disconnected | openssh::Error::Master(_) => RemoteError::Disconnected {
                host: self.name(),
                detail: format!("{what}: {e}"),
            },
            other => RemoteError::Io {
                host: self.name(),
                what: what.to_string(),
                source: std::io::Error::other(other.to_string()),
            },
        }
    }

    /// Run `script` with `sh -c` on the host; feed `stdin`; return whatever
    /// happened (the caller decides what a non-zero exit means).
    #[instrument(skip(self, script, stdin), fields(host = %self.spec))]
    pub async fn sh_raw(
        &self,
        what: &str,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<Output, RemoteError> {
        let mut child = self.spawn(what, script, stdin.is_some(), true).await?;
        if let (Some(data), Some(mut w)) = (stdin, child.stdin.take()) {
            // A command that exits early (bad path) closes its stdin; its exit
            // status says why, so a broken pipe here is not the error to report.
            let _ = w.write_all(data).await;
            let _ = w.shutdown().await;
        }
        child.wait_with_output(what).await
    }

    /// Like `sh_raw` but a non-zero exit is an error carrying stderr.
    pub async fn sh(
        &self,
        what: &str,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<Vec<u8>, RemoteError> {
        let out = self.sh_raw(what, script, stdin).await?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        let status = out.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if status == 255 && self.session.is_some() && stderr.is_empty() {
            return Err(RemoteError::Disconnected {
                host: self.name(),
                detail: format!("while running {what}"),
            });
        }
        Err(RemoteError::Command {
            host: self.name(),
            what: what.to_string(),
            status,
            stderr,
        })
    }

    /// Start `script` with piped stdout (and stdin if asked) for streaming.
    pub async fn spawn(
        &self,
        what: &str,
        script: &str,
        pipe_stdin: bool,
        pipe_stderr: bool,
    ) -> Result<Child, RemoteError> {
        let stdin_cfg = || {
            if pipe_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            }
        };
        let stderr_cfg = || {
            if pipe_stderr {
                Stdio::piped()
            } else {
                Stdio::inherit()
            }
        };
        match &self.session {
            None => {
                let mut c = tokio::process::Command::new("sh");
                c.arg("-c")
                    .arg(script)
                    .stdin(stdin_cfg())
                    .stdout(Stdio::piped())
                    .stderr(stderr_cfg())
                    .kill_on_drop(true);
                let mut child = c.spawn().map_err(|e| self.io_err(what, e))?;
                Ok(Child {
                    stdin: child
                        .stdin
                        .take()
                        .map(|s| Box::new(s) as Box<dyn AsyncWrite + Send + Unpin>),
                    stdout: child
                        .stdout
                        .take()
                        .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
                    stderr: child
                        .stderr
                        .take()
                        .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
                    inner: ChildInner::Local(child),
                    host: self.clone(),
                })
            }
            Some(s) => {
                // The remote login shell parses the command line; wrapping in
                // `sh -c` makes the script's dialect POSIX sh whatever root's
                // shell is.
                let line = format!("sh -c {}", crate::quote::sh_quote(script));
                let mut cmd = Session::to_raw_command(Arc::clone(s), line);
                cmd.stdin(if pipe_stdin {
                    openssh::Stdio::piped()
                } else {
                    openssh::Stdio::null()
                })
                .stdout(openssh::Stdio::piped())
                .stderr(if pipe_stderr {
                    openssh::Stdio::piped()
                } else {
                    openssh::Stdio::inherit()
                });
                let mut child = cmd.spawn().await.map_err(|e| self.ssh_err(what, e))?;
                Ok(Child {
                    stdin: child
                        .stdin()
                        .take()
                        .map(|s| Box::new(s) as Box<dyn AsyncWrite + Send + Unpin>),
                    stdout: child
                        .stdout()
                        .take()
                        .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
                    stderr: child
                        .stderr()
                        .take()
                        .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
                    inner: ChildInner::Ssh(child),
                    host: self.clone(),
                })
            }
        }
    }

    /// Close the ssh master.
    pub async fn close(self) {
        if let Some(s) = self.session
            && let Ok(s) = Arc::try_unwrap(s)
        {
            let _ = s.close().await;
        }
    }
}

enum ChildInner {
    Local(tokio::process::Child),
    Ssh(openssh::Child<Arc<Session>>),
}

/// A running command with its pipes.
pub struct Child {
    pub stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    pub stdout: Option<Box<dyn AsyncRead + Send + Unpin>>,
    pub stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
    inner: ChildInner,
    host: Host,
}

impl Child {
    /// Wait, collecting whatever is left on stdout/stderr.
    pub async fn wait_with_output(mut self, what: &str) -> Result<Output, RemoteError> {
        use tokio::io::AsyncReadExt;
        drop(self.stdin.take());
        let mut out = Vec::new();
        let mut err = Vec::new();
        let o = self.stdout.take();
        let e = self.stderr.take();
        let read_out = async {
            if let Some(mut o) = o {
                let _ = o.read_to_end(&mut out).await;
            }
        };
        let read_err = async {
            if let Some(mut e) = e {
                let _ = e.read_to_end(&mut err).await;
            }
        };
        tokio::join!(read_out, read_err);
        let status = match self.inner {
            ChildInner::Local(mut c) => c.wait().await.map_err(|e| self.host.io_err(what, e))?,
            ChildInner::Ssh(c) => match c.wait().await {
                Ok(s) => s,
                Err(openssh::Error::RemoteProcessTerminated) => {
                    return Err(RemoteError::Disconnected {
                        host: self.host.name(),
                        detail: format!("{what}: the remote process was terminated"),
                    });
                }
                Err(e) => return Err(self.host.ssh_err(what, e)),
            },
        };
        Ok(Output {
            status,
            stdout: out,
            stderr: err,
        })
    }
}
