//! Host capabilities imported by plugins: logging and read-only planning.
//!
//! Each call is traced with the plugin's name. What the planning calls can
//! reach is decided by the `Planning` backend the caller installs; the
//! default answers every call with a reason instead of touching anything.
//! Every contract's imports (wit/since_*) land here, in the newest types.

use super::engine::State;
use super::wit::latest::migrate::recipe::log::Level;
use super::wit::latest::migrate::recipe::types::{Context, Side};

/// The most any host call hands back to a plugin: 1 MiB. A config file
/// or a `docker inspect` is a few KiB; anything longer (a log, a device
/// like /dev/zero) is refused rather than gathered into the host's memory
/// and the plugin's.
pub const ANSWER_CAP: usize = 1 << 20;

/// The refusal for an answer over the cap, naming the call and the cap.
pub fn over_cap(call: &str, what: &str) -> String {
    format!(
        "{call} {what}: the answer is over {} MiB, the cap on a host call's answer to a plugin; the host stopped reading there",
        ANSWER_CAP >> 20
    )
}

/// Read-only answers a plugin may ask for while planning.
pub trait Planning: Send {
    fn read_file(&mut self, side: Side, path: &str) -> Result<String, String>;
    /// Only contract 0.1 offers it; 0.2 plugins read versions by probes.
    fn http_get(&mut self, side: Side, path: &str) -> Result<(u16, String), String>;
    /// Only contract 0.1 offers it; 0.2 plugins read versions by probes.
    fn docker_inspect(&mut self, side: Side, name: &str) -> Result<String, String>;
    /// The migration's context, for the calls that take none (a 0.1
    /// plugin's `setting()` answers come from it).
    fn context(&self) -> Option<&Context>;
}

/// No servers connected (e.g. `migrate upgrade-path`): every probe is
/// refused with the reason; a context when the caller has one.
#[derive(Default)]
pub struct NoPlanning {
    pub context: Option<Context>,
}

const NOT_CONNECTED: &str = "no server is connected in this command, so nothing can be read";

impl Planning for NoPlanning {
    fn read_file(&mut self, _side: Side, _path: &str) -> Result<String, String> {
        Err(NOT_CONNECTED.into())
    }
    fn http_get(&mut self, _side: Side, _path: &str) -> Result<(u16, String), String> {
        Err(NOT_CONNECTED.into())
    }
    fn docker_inspect(&mut self, _side: Side, _name: &str) -> Result<String, String> {
        Err(NOT_CONNECTED.into())
    }
    fn context(&self) -> Option<&Context> {
        self.context.as_ref()
    }
}

impl State {
    pub(super) fn log(&mut self, level: Level, message: &str) {
        let plugin = self.plugin.as_str();
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }

    pub(super) fn read_file(&mut self, side: Side, path: &str) -> Result<String, String> {
        let _span =
            tracing::info_span!("plugin.read_file", plugin = %self.plugin, ?side, %path).entered();
        // Every backend is held to the cap, whatever it read.
        self.planning
            .read_file(side, path)
            .and_then(|a| capped(a, "read-file", path))
    }

    pub(super) fn http_get(&mut self, side: Side, path: &str) -> Result<(u16, String), String> {
        let _span =
            tracing::info_span!("plugin.http_get", plugin = %self.plugin, ?side, %path).entered();
        let (status, body) = self.planning.http_get(side, path)?;
        Ok((status, capped(body, "http-get", path)?))
    }

    pub(super) fn docker_inspect(&mut self, side: Side, name: &str) -> Result<String, String> {
        let _span =
            tracing::info_span!("plugin.docker_inspect", plugin = %self.plugin, ?side, %name)
                .entered();
        self.planning
            .docker_inspect(side, name)
            .and_then(|a| capped(a, "docker-inspect", name))
    }
}

fn capped(answer: String, call: &str, what: &str) -> Result<String, String> {
    if answer.len() > ANSWER_CAP {
        return Err(over_cap(call, &format!("{what:?}")));
    }
    Ok(answer)
}
