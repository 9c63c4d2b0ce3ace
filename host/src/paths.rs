//! Where migrate keeps its state: the XDG data, cache and state dirs
//! (through `directories`), so tests can isolate them with XDG_* variables.

use std::path::PathBuf;

fn dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "migrate")
}

/// `~/.local/share/migrate`: plans, journals, user plugins.
pub fn data_dir() -> PathBuf {
    dirs()
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".migrate"))
}

/// `~/.cache/migrate`: compiled plugins.
pub fn cache_dir() -> PathBuf {
    dirs()
        .map(|d| d.cache_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".migrate/cache"))
}

/// User plugins: `<data dir>/plugins`.
pub fn user_plugin_dir() -> PathBuf {
    data_dir().join("plugins")
}
