//! Read-only planning capabilities the host offers while a plugin plans.
//!
//! The host decides what is available: answers come from a live server, a
//! recorded inventory, or nowhere (then every call returns `Err` with the
//! reason). Outside the host (native `cargo test`) `read_file` answers
//! what [`crate::testing::with_files`] gave it, and `Err` otherwise, so
//! plugin logic stays testable without a host.
//!
//! What the migration is (domain, layouts, target version) is not asked
//! here: it comes as the `&Context` argument of the calls that need it.

use crate::Side;
pub use crate::bindings::migrate::recipe::log::Level;

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
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::*;

    const NATIVE: &str = "planning capabilities exist only inside the migrate host";

    pub fn log(_level: Level, _message: &str) {}
    pub fn read_file(side: Side, path: &str) -> Result<String, String> {
        crate::testing::fake_file(side, path).ok_or_else(|| NATIVE.into())
    }
}

pub use imp::*;
