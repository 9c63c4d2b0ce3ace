//! Builds every app plugin under `plugins/` (all but the SDK) to a
//! wasm32-wasip2 component and embeds it, so the binary works alone.
//!
//! The nested cargo uses its own target directory: the outer build holds the
//! lock on its own. `MIGRATE_PREBUILT_PLUGINS=DIR` skips the build and takes
//! `DIR/<crate>.wasm` instead (for packagers).

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "build/wasm_target.rs"]
mod wasm_target;

fn main() {
    if let Err(e) = run() {
        // One line, where cargo shows the build script's stderr; a panic
        // would wrap it in a backtrace note.
        eprintln!("error: building the built-in plugins failed: {e}");
        std::process::exit(1);
    }
}

/// The plugins are wasm32-wasip2 components: check for the target first.
fn check_wasm_target() -> Result<(), String> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    wasm_target::check(&rustc)
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let root = manifest_dir
        .parent()
        .ok_or("host/ has no parent")?
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    // Relative to host/: cargo keeps a build script's state per package,
    // not per checkout, so an absolute path would have a second checkout
    // sharing the target directory watch the first one's plugins and embed
    // stale components.
    for watched in ["../plugins", "../wit", "../Cargo.lock", "../Cargo.toml"] {
        println!("cargo:rerun-if-changed={watched}");
    }
    println!("cargo:rerun-if-env-changed=MIGRATE_PREBUILT_PLUGINS");

    let members = fs::read_to_string(root.join("Cargo.toml")).map_err(|e| e.to_string())?;
    let plugins: Vec<(String, String)> = discover(&root.join("plugins"))?
        .into_iter()
        .filter(|(_, dir)| members.contains(&format!("\"plugins/{dir}\"")))
        .collect();
    let wasm_dir = match env::var("MIGRATE_PREBUILT_PLUGINS") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => {
            check_wasm_target()?;
            build(&root, &out_dir, &plugins)?
        }
    };

    let mut src = String::from("/// Built-in plugins: (id, crate, component bytes).\n");
    src.push_str("pub static BUILTIN: &[(&str, &str, &[u8])] = &[\n");
    for (krate, _) in &plugins {
        let id = krate.strip_suffix("-plugin").unwrap_or(krate);
        let file = wasm_dir.join(format!("{}.wasm", krate.replace('-', "_")));
        if !file.exists() {
            return Err(format!("{} was not built", file.display()));
        }
        let _ = writeln!(
            src,
            "    ({id:?}, {krate:?}, include_bytes!({:?})),",
            file.display().to_string()
        );
    }
    src.push_str("];\n");
    fs::write(out_dir.join("builtin_plugins.rs"), src).map_err(|e| e.to_string())?;
    Ok(())
}

/// `(crate name, directory name)` for each plugin crate, sorted.
fn discover(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let mut found = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let manifest = entry.path().join("Cargo.toml");
        if entry.file_name() == "sdk" || !manifest.exists() {
            continue;
        }
        let text = fs::read_to_string(&manifest).map_err(|e| e.to_string())?;
        let name = text
            .lines()
            .find_map(|l| {
                let l = l.trim();
                l.strip_prefix("name")
                    .map(|r| r.trim_start())
                    .and_then(|r| r.strip_prefix('='))
                    .map(|r| r.trim().trim_matches('"').to_string())
            })
            .ok_or_else(|| format!("{}: no package name", manifest.display()))?;
        found.push((name, entry.file_name().to_string_lossy().into_owned()));
    }
    found.sort();
    Ok(found)
}

fn build(root: &Path, out_dir: &Path, plugins: &[(String, String)]) -> Result<PathBuf, String> {
    // Next to the profile directory, so it survives host rebuilds and is
    // shared by dev, test and clippy runs: target/plugins-wasm.
    let target_dir = out_dir
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(|t| t.join("plugins-wasm"))
        .unwrap_or_else(|| out_dir.join("plugins-wasm"));
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(&target_dir);
    for (krate, _) in plugins {
        cmd.args(["-p", krate]);
    }
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("running cargo for the plugins: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo build of the plugins failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(target_dir.join("wasm32-wasip2").join("release"))
}
