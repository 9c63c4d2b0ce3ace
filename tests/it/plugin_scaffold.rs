//! `migrate plugin new` makes a crate that builds to a component, passes its
//! own tests, loads into the host and answers through `upgrade-path`.

use std::process::Command;
use std::time::Duration;

use crate::support::cli::*;
use crate::support::fixtures::*;

#[test]
fn scaffolded_plugin_builds_loads_and_passes_its_tests() {
    let home = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    let crate_dir = work.path().join("demo-app");

    let out = run(migrate(home.path())
        .args(["plugin", "new", "demo-app", "--dir"])
        .arg(&crate_dir));
    assert_eq!(out.status.code(), Some(0), "plugin new: {}", stderr(&out));
    assert!(crate_dir.join("Cargo.toml").exists());
    let worlds =
        std::fs::read_to_string(crate_dir.join("sdk/wit/worlds.wit")).expect("contract vendored");
    assert!(
        worlds.contains("package migrate:recipe@0.2.0;"),
        "the scaffold targets the newest contract: {worlds}"
    );

    // Its own unit tests pass natively.
    let test = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .arg("test")
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", target_dir().join("test-plugins"))
        .output()
        .expect("cargo test");
    assert!(
        test.status.success(),
        "scaffold's cargo test failed:\n{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );

    // It builds to a component the host accepts, and its examples pass.
    let out_dir = build_wasm(&crate_dir.join("Cargo.toml"));
    let wasm = out_dir.join("demo_app_plugin.wasm");
    assert!(wasm.exists(), "{} built", wasm.display());
    let out = run_with_guard(
        migrate(home.path()).args(["plugin", "test"]).arg(&wasm),
        Duration::from_secs(60),
    );
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "plugin test: {text}{}",
        stderr(&out)
    );
    assert!(text.contains("3 passed, 0 failed"), "{text}");

    // Installed into a plugin dir it is a first-class app.
    let plugins = work.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("mkdir");
    std::fs::copy(&wasm, plugins.join("demo-app.wasm")).expect("install");
    let out = run(migrate(home.path())
        .args([
            "upgrade-path",
            "demo-app",
            "v1.0.0",
            "2.0.0",
            "--json",
            "--plugin-dir",
        ])
        .arg(&plugins));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["result"]["hops"][0]["to"], "2.0.0");
    let out = run(migrate(home.path())
        .args(["upgrade-path", "demo-app", "2.0.0", "1.0.0", "--plugin-dir"])
        .arg(&plugins));
    assert_eq!(out.status.code(), Some(3), "downgrade refused");
    assert!(
        stdout(&out).contains("refused (downgrade)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn scaffold_refuses_bad_names_and_existing_directories() {
    let home = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    let out = run(migrate(home.path())
        .args(["plugin", "new", "Bad Name", "--dir"])
        .arg(work.path().join("x")));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a valid plugin id"),
        "{}",
        stderr(&out)
    );
    assert!(!work.path().join("x").exists(), "nothing written");

    let existing = work.path().join("taken");
    std::fs::create_dir_all(&existing).expect("mkdir");
    std::fs::write(existing.join("keep.txt"), "mine").expect("write");
    let out = run(migrate(home.path())
        .args(["plugin", "new", "taken", "--dir"])
        .arg(&existing));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(existing.join("keep.txt")).expect("read"),
        "mine"
    );
}

/// Every file under `dir` (relative paths) and its size.
fn tree(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("under dir")
                    .display()
                    .to_string();
                out.push((rel, e.metadata().expect("metadata").len()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn plugin_new_dry_run_lists_the_files_and_writes_none() {
    let home = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    let crate_dir = work.path().join("dry-app");
    let out = run(migrate(home.path())
        .args(["plugin", "new", "dry-app", "-n", "--json", "--dir"])
        .arg(&crate_dir));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !crate_dir.exists(),
        "a dry run created {}",
        crate_dir.display()
    );
    assert!(
        std::fs::read_dir(work.path())
            .expect("read_dir")
            .next()
            .is_none(),
        "a dry run wrote into the parent directory"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one envelope");
    assert_eq!(v["result"]["dry_run"], true, "{v}");
    let mut listed: Vec<(String, u64)> = v["result"]["commands"]
        .as_array()
        .expect("commands")
        .iter()
        .map(|c| {
            let c = c.as_str().expect("string");
            let rest = c.strip_prefix("write ").expect("a write");
            let (path, size) = rest.rsplit_once(" (").expect("a size");
            let size: u64 = size.trim_end_matches(" bytes)").parse().expect("a number");
            let rel = std::path::Path::new(path)
                .strip_prefix(&crate_dir)
                .expect("inside the crate dir")
                .display()
                .to_string();
            (rel, size)
        })
        .collect();
    listed.sort();
    // The real run writes exactly the listed files, with the listed sizes.
    let out = run(migrate(home.path())
        .args(["plugin", "new", "dry-app", "--dir"])
        .arg(&crate_dir));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(listed, tree(&crate_dir));
    assert!(listed.iter().any(|(p, _)| p == "Cargo.toml"), "{listed:?}");
    // A dry run refuses what the real command refuses: the directory exists now.
    let out = run(migrate(home.path())
        .args(["plugin", "new", "dry-app", "-n", "--dir"])
        .arg(&crate_dir));
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
}
