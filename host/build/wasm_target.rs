//! Whether the wasm32-wasip2 target is installed, asked of the compiler
//! that builds the plugins. Without the target the nested build fails with
//! pages of `can't find crate for core`; this says what to run instead, in
//! one line. Shared by `build.rs` and its test.

use std::fs;
use std::path::Path;
use std::process::Command;

/// The one line shown when the target is missing.
pub const MISSING: &str = "the Rust target wasm32-wasip2 is not installed; run `rustup target add wasm32-wasip2` and build again";

/// Asks `rustc` for the target's library directory and looks in it.
pub fn check(rustc: &str) -> Result<(), String> {
    let out = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", "wasm32-wasip2"])
        .output()
        .map_err(|e| format!("running {rustc}: {e}"))?;
    let libdir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && has_core(Path::new(&libdir)) {
        Ok(())
    } else {
        Err(MISSING.into())
    }
}

/// A target is installed when its library directory holds `core`
/// (`rustc --print target-libdir` names the directory even when the
/// target's standard library was never downloaded).
pub fn has_core(libdir: &Path) -> bool {
    fs::read_dir(libdir).is_ok_and(|mut d| {
        d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libcore-")))
    })
}
