//! Read-only planning capabilities the host offers while a plugin plans.
//!
//! The host decides what is available: answers come from a live server, a
//! recorded inventory, or nowhere (then every call returns `Err` with the
//! reason). Outside the host (native `cargo test`) they always return `Err`,
//! so plugin logic stays testable without a host.

use crate::Side;
pub use crate::bindings::migrate::recipe::log::Level;
pub use crate::bindings::migrate::recipe::planning::HttpResponse;

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::*;
    use crate::bindings::migrate::recipe::{log, planning};

    pub fn log(level: Level, message: &str) {
        log::log(level, message)
    }
    pub fn read_file(side: Side, path: &str) -> Result<String, String> {
        planning::read_file(side, path)
    }
    pub fn http_get(side: Side, path: &str) -> Result<HttpResponse, String> {
        planning::http_get(side, path)
    }
    pub fn docker_inspect(side: Side, name: &str) -> Result<String, String> {
        planning::docker_inspect(side, name)
    }
    pub fn setting(key: &str) -> Option<String> {
        planning::setting(key)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::*;

    const NATIVE: &str = "planning capabilities exist only inside the migrate host";

    pub fn log(_level: Level, _message: &str) {}
    pub fn read_file(_side: Side, _path: &str) -> Result<String, String> {
        Err(NATIVE.into())
    }
    pub fn http_get(_side: Side, _path: &str) -> Result<HttpResponse, String> {
        Err(NATIVE.into())
    }
    pub fn docker_inspect(_side: Side, _name: &str) -> Result<String, String> {
        Err(NATIVE.into())
    }
    pub fn setting(_key: &str) -> Option<String> {
        None
    }
}

pub use imp::*;
