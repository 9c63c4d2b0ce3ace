//! Helpers shared by the end-to-end tests in `tests/`. Each test file is a
//! test target of the `migrate` crate (see `host/Cargo.toml`), so
//! `CARGO_BIN_EXE_migrate` is the freshly built binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The `migrate` binary under test.
pub fn migrate_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_migrate"))
}

/// A `migrate` command with an isolated data/cache dir, so tests never read
/// or write the operator's own state.
pub fn migrate(home: &std::path::Path) -> Command {
    let mut cmd = Command::new(migrate_bin());
    cmd.env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env_remove("MIGRATE_PLUGIN_DIR")
        .env_remove("RUST_LOG");
    cmd
}

/// Run and return output; never panics on non-zero status.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spawn migrate")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Workspace root (for plugin sources, recipes, lab scripts).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}
