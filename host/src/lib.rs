//! `migrate`: move self-hosted apps from one server to another.
//!
//! The binary is a thin shell over this library. Plugins know (pure app
//! knowledge in WASM components); this crate acts (ssh, docker, DNS, copies).

pub mod cli;
pub mod exit;
pub mod logging;
pub mod migration;
pub mod paths;
pub mod plugin;
pub mod recipe;
pub mod runtime;
pub mod text;
pub mod toml_file;
