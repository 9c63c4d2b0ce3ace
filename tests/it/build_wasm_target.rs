//! `host/build.rs` stops with one line naming `rustup target add
//! wasm32-wasip2` when the plugins' target is missing. The detection is
//! run against fake compilers whose "sysroot" this test makes (with and
//! without `core` for the target), against the real toolchain, and the
//! compiled build script itself is run with a fake compiler: it must fail
//! with exactly that one line and write nothing.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::fixtures::{target_dir, workspace_root};

#[path = "../../host/build/wasm_target.rs"]
mod wasm_target;

/// A fake `rustc` in `dir`: records its arguments in `dir/args`, prints
/// `libdir` as the target's library directory and exits with `code`.
fn fake_rustc(dir: &Path, libdir: &Path, code: i32) -> PathBuf {
    let rustc = dir.join("rustc");
    fs::write(
        &rustc,
        format!(
            "#!/bin/sh\necho \"$@\" > '{args}'\necho '{lib}'\nexit {code}\n",
            args = dir.join("args").display(),
            lib = libdir.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&rustc, fs::Permissions::from_mode(0o755)).unwrap();
    rustc
}

#[test]
fn the_target_counts_as_installed_only_when_its_libdir_holds_core() {
    let tmp = tempfile::tempdir().unwrap();
    let libdir = tmp.path().join("lib/rustlib/wasm32-wasip2/lib");
    fs::create_dir_all(&libdir).unwrap();
    let rustc = fake_rustc(tmp.path(), &libdir, 0);
    let rustc = rustc.to_str().unwrap();

    // The directory exists but the target's library was never installed.
    assert_eq!(wasm_target::check(rustc), Err(wasm_target::MISSING.into()));
    assert_eq!(
        fs::read_to_string(tmp.path().join("args")).unwrap().trim(),
        "--print target-libdir --target wasm32-wasip2"
    );
    fs::write(libdir.join("libstd-0123abcd.rlib"), b"").unwrap();
    assert_eq!(wasm_target::check(rustc), Err(wasm_target::MISSING.into()));
    fs::write(libdir.join("libcore-0123abcd.rlib"), b"").unwrap();
    assert_eq!(wasm_target::check(rustc), Ok(()));

    // A compiler that does not know the target at all.
    let rustc = fake_rustc(tmp.path(), &libdir, 1);
    assert_eq!(
        wasm_target::check(rustc.to_str().unwrap()),
        Err(wasm_target::MISSING.into())
    );
    // No such compiler: the error names it.
    let gone = tmp.path().join("no-such-rustc");
    let err = wasm_target::check(gone.to_str().unwrap()).unwrap_err();
    assert!(
        err.starts_with(&format!("running {}", gone.display())),
        "{err}"
    );
}

#[test]
fn the_toolchain_that_built_this_binary_has_the_target() {
    // The binary under test embeds the plugins, built for this target by
    // the toolchain `rust-toolchain.toml` picks in the workspace.
    let real = Command::new("rustc")
        .current_dir(workspace_root())
        .args(["--print", "target-libdir", "--target", "wasm32-wasip2"])
        .output()
        .expect("run rustc");
    assert!(real.status.success());
    let libdir = String::from_utf8_lossy(&real.stdout).trim().to_string();
    assert!(wasm_target::has_core(Path::new(&libdir)), "{libdir}");
}

/// The most recently built build script of the `migrate` package.
fn build_script() -> PathBuf {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = ["debug", "release"]
        .iter()
        .filter_map(|p| fs::read_dir(target_dir().join(p).join("build")).ok())
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix("migrate-")
                .is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .map(|e| e.path().join("build-script-build"))
        .filter_map(|p| Some((fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p).unwrap_or_else(|| {
        panic!(
            "no build script of migrate under {}",
            target_dir().display()
        )
    })
}

#[test]
fn the_build_script_stops_with_one_line_when_the_target_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let libdir = tmp.path().join("lib/rustlib/wasm32-wasip2/lib");
    fs::create_dir_all(&libdir).unwrap();
    let rustc = fake_rustc(tmp.path(), &libdir, 0);
    let out_dir = tmp.path().join("out");
    fs::create_dir_all(&out_dir).unwrap();
    let o = Command::new(build_script())
        .env("CARGO_MANIFEST_DIR", workspace_root().join("host"))
        .env("OUT_DIR", &out_dir)
        .env("RUSTC", &rustc)
        .env_remove("MIGRATE_PREBUILT_PLUGINS")
        .output()
        .expect("run the build script");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        format!(
            "error: building the built-in plugins failed: {}\n",
            wasm_target::MISSING
        )
    );
    assert!(
        fs::read_dir(&out_dir).unwrap().next().is_none(),
        "the build script wrote into OUT_DIR"
    );
    assert!(
        tmp.path().join("args").exists(),
        "the fake rustc was not asked"
    );
}
