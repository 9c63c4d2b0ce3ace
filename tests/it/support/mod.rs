//! Helpers shared by the end-to-end tests in `tests/`. Each test file is a
//! test target of the `migrate` crate (see `host/Cargo.toml`), so
//! `CARGO_BIN_EXE_migrate` is the freshly built binary.
#![allow(dead_code)]

pub mod app;
pub mod dns;
pub mod mail;

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

/// Cargo's target directory for this build.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Build a standalone wasm32-wasip2 crate or workspace (fixtures, scaffolded
/// plugins) into a shared target dir, so repeated runs reuse the build.
/// Returns the release output directory.
pub fn build_wasm(manifest: &std::path::Path) -> PathBuf {
    let target = target_dir().join("test-plugins");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("spawn cargo");
    assert!(
        out.status.success(),
        "building {} failed:\n{}",
        manifest.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("wasm32-wasip2").join("release")
}

/// Run a command, killing it if it runs longer than `limit` (a hang guard,
/// not a speed assertion). Returns the output, or panics naming the hang.
pub fn run_with_guard(cmd: &mut Command, limit: std::time::Duration) -> Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = std::time::Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command hung for more than {limit:?}: {cmd:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Run a shell script on a lab server (`src`, `dst`) through the operator's
/// ssh; never panics on a non-zero exit.
pub fn on_server_raw(host: &str, script: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    Command::new("ssh")
        .args(["-o", "BatchMode=yes", host, "bash", "-s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            if let Some(mut i) = c.stdin.take() {
                i.write_all(script.as_bytes())?;
            }
            c.wait_with_output()
        })
        .expect("run ssh")
}

/// True when both lab servers answer `probe` over ssh (`true`, or e.g.
/// `docker version >/dev/null` for tests that need the servers' dockerd).
/// Otherwise the test skips with a message, and under CI=true it fails.
pub fn lab_up(probe: &str) -> bool {
    use std::process::Stdio;
    let up = ["src", "dst"].iter().all(|h| {
        Command::new("ssh")
            .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", h, probe])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !up {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "the two-server lab is not ready (`ssh src|dst {probe}` fails); CI starts it with scripts/services"
            );
        }
        eprintln!(
            "SKIPPED: the two-server lab is not ready; start it with `bash .ci/setup-lab.sh`"
        );
    }
    up
}
