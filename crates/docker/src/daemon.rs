//! Stopping and starting dockerd itself. With systemd: mask first (so
//! docker.socket cannot wake the daemon mid-copy), stop, and later unmask
//! and start. Without systemd (containers, the lab, old init systems): stop
//! the daemon by its PID after saving its exact command line on the server,
//! and start it again from that record. What was skipped is reported.

use std::time::Duration;

use migrate_remote::Host;
use serde::Serialize;
use tracing::{info, instrument};

use crate::error::DockerError;

/// Where the daemon's command line is kept between stop and start (on the server).
pub const CMDLINE_FILE: &str = "/var/lib/migrate/dockerd.cmdline";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Init {
    Systemd,
    /// No service manager: the daemon is a plain process.
    Manual,
}

#[derive(Debug, Clone, Serialize)]
pub struct DaemonStep {
    pub host: String,
    pub action: String,
    pub skipped: Vec<String>,
}

#[instrument(skip_all, fields(host = %host.name()))]
pub async fn detect(host: &Host) -> Result<Init, DockerError> {
    let out = host
        .sh(
            "detecting the init system",
            "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then echo systemd; else echo manual; fi",
            None,
        )
        .await?;
    Ok(if String::from_utf8_lossy(&out).trim() == "systemd" {
        Init::Systemd
    } else {
        Init::Manual
    })
}

const WAIT_UP: &str = r#"for i in $(seq 120); do
  if command -v docker >/dev/null 2>&1 && docker version >/dev/null 2>&1; then exit 0; fi
  sleep 0.5
done
echo "dockerd did not answer within 60 s; see /var/log/dockerd.log or journalctl -u docker" >&2; exit 1"#;

/// The script `stop` runs (also shown by the dry runs).
pub fn stop_script(init: &Init) -> String {
    stop_parts(init).0
}

fn stop_parts(init: &Init) -> (String, Vec<String>) {
    match init {
        Init::Systemd => (
            "set -e; systemctl mask docker.socket docker.service >/dev/null; systemctl stop docker.socket docker.service".to_string(),
            vec![],
        ),
        Init::Manual => (
            format!(
                r#"set -e
pid=$(cat /var/run/docker.pid 2>/dev/null || cat /run/docker.pid 2>/dev/null || pidof dockerd 2>/dev/null || true)
pid=${{pid%% *}}
if [ -z "$pid" ] || [ ! -r "/proc/$pid/cmdline" ]; then
  if [ -s {f} ]; then echo already-stopped; exit 0; fi
  echo "no running dockerd found (no /var/run/docker.pid, no dockerd process)" >&2; exit 3
fi
mkdir -p "$(dirname {f})"; cp "/proc/$pid/cmdline" {f}.new && mv {f}.new {f}
kill -TERM "$pid"
for i in $(seq 240); do [ -d "/proc/$pid" ] || exit 0; sleep 0.25; done
echo "dockerd (pid $pid) did not stop within 60 s" >&2; exit 1"#,
                f = CMDLINE_FILE
            ),
            vec![
                "mask (no systemd: no socket unit can restart the daemon)".to_string(),
                format!("systemctl stop (stopped the daemon by its PID; its command line is saved in {CMDLINE_FILE})"),
            ],
        ),
    }
}

/// Stop dockerd (and keep it from being woken up).
#[instrument(skip_all, fields(host = %host.name()))]
pub async fn stop(host: &Host, init: &Init) -> Result<DaemonStep, DockerError> {
    let (script, skipped) = stop_parts(init);
    host.sh("stopping dockerd", &script, None).await?;
    info!("dockerd stopped");
    Ok(DaemonStep {
        host: host.name(),
        action: "stopped".into(),
        skipped,
    })
}

/// The script `start` runs (also shown by the dry runs).
pub fn start_script(init: &Init) -> String {
    start_parts(init).0
}

fn start_parts(init: &Init) -> (String, Vec<String>) {
    match init {
        Init::Systemd => (
            format!(
                "set -e; systemctl unmask docker.socket docker.service >/dev/null; systemctl start docker.service\n{WAIT_UP}"
            ),
            vec![],
        ),
        Init::Manual => (
            format!(
                r#"set -e
if docker version >/dev/null 2>&1; then exit 0; fi
[ -s {f} ] || {{ echo "no saved dockerd command line in {f}; start dockerd the way this server normally does" >&2; exit 3; }}
# A new session, no inherited descriptors: the daemon must outlive this ssh
# command and must not hold its pipes open.
xargs -0 -a {f} sh -c 'setsid nohup "$@" >>/var/log/dockerd.log 2>&1 </dev/null &' sh
{WAIT_UP}"#,
                f = CMDLINE_FILE
            ),
            vec![
                "unmask (no systemd)".to_string(),
                "systemctl start (started from the saved command line)".to_string(),
            ],
        ),
    }
}

/// Start dockerd again and wait until it answers.
#[instrument(skip_all, fields(host = %host.name()))]
pub async fn start(host: &Host, init: &Init) -> Result<DaemonStep, DockerError> {
    let (script, skipped) = start_parts(init);
    host.sh("starting dockerd", &script, None).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(DaemonStep {
        host: host.name(),
        action: "started".into(),
        skipped,
    })
}
