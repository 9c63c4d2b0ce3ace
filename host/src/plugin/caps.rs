//! Host capabilities imported by plugins: logging and read-only planning.
//!
//! Each call is traced with the plugin's name. What the planning calls can
//! reach is decided by the `Planning` backend the caller installs; the
//! default answers every call with a reason instead of touching anything.

use super::bindings::migrate::recipe::{log, planning, types};
use super::engine::State;

/// Read-only answers a plugin may ask for while planning.
pub trait Planning: Send {
    fn read_file(&mut self, side: types::Side, path: &str) -> Result<String, String>;
    fn http_get(&mut self, side: types::Side, path: &str) -> Result<(u16, String), String>;
    fn docker_inspect(&mut self, side: types::Side, name: &str) -> Result<String, String>;
    fn setting(&mut self, key: &str) -> Option<String>;
}

/// No servers connected (e.g. `migrate upgrade-path`): every probe is
/// refused with the reason, settings come from the given list.
#[derive(Default)]
pub struct NoPlanning {
    pub settings: Vec<(String, String)>,
}

const NOT_CONNECTED: &str = "no server is connected in this command, so nothing can be read";

impl Planning for NoPlanning {
    fn read_file(&mut self, _side: types::Side, _path: &str) -> Result<String, String> {
        Err(NOT_CONNECTED.into())
    }
    fn http_get(&mut self, _side: types::Side, _path: &str) -> Result<(u16, String), String> {
        Err(NOT_CONNECTED.into())
    }
    fn docker_inspect(&mut self, _side: types::Side, _name: &str) -> Result<String, String> {
        Err(NOT_CONNECTED.into())
    }
    fn setting(&mut self, key: &str) -> Option<String> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }
}

impl types::Host for State {}

impl log::Host for State {
    fn log(&mut self, level: log::Level, message: String) {
        let plugin = self.plugin.as_str();
        match level {
            log::Level::Trace => tracing::trace!(plugin, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

impl planning::Host for State {
    fn read_file(&mut self, side: types::Side, path: String) -> Result<String, String> {
        let _span =
            tracing::info_span!("plugin.read_file", plugin = %self.plugin, ?side, %path).entered();
        self.planning.read_file(side, &path)
    }
    fn http_get(
        &mut self,
        side: types::Side,
        path: String,
    ) -> Result<planning::HttpResponse, String> {
        let _span =
            tracing::info_span!("plugin.http_get", plugin = %self.plugin, ?side, %path).entered();
        self.planning
            .http_get(side, &path)
            .map(|(status, body)| planning::HttpResponse { status, body })
    }
    fn docker_inspect(&mut self, side: types::Side, name: String) -> Result<String, String> {
        let _span =
            tracing::info_span!("plugin.docker_inspect", plugin = %self.plugin, ?side, %name)
                .entered();
        self.planning.docker_inspect(side, &name)
    }
    fn setting(&mut self, key: String) -> Option<String> {
        self.planning.setting(&key)
    }
}
