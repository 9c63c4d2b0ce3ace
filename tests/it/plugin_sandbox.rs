//! Hostile plugins are refused with a clear error naming the plugin, and the
//! host goes on: an endless loop, a memory bomb, random bytes, a core module,
//! and a component of another world. A plugin of the frozen contract 0.1.0
//! loads and answers beside the 0.2 built-ins. Real components, real
//! wasmtime.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::cli::{migrate, run_with_guard, stderr, stdout};
use crate::support::fixtures::{build_wasm, workspace_root};

/// The hostile fixtures, built once per test binary and copied into a plugin
/// directory together with two non-components.
fn hostile_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = build_wasm(&workspace_root().join("tests/fixtures/plugins/Cargo.toml"));
        let dir = tempfile::tempdir().expect("tempdir").keep();
        for (file, id) in [
            ("endless.wasm", "endless"),
            ("membomb.wasm", "membomb"),
            ("wrong_world.wasm", "wrongworld"),
            ("v01_example.wasm", "v01example"),
        ] {
            std::fs::copy(out.join(file), dir.join(format!("{id}.wasm"))).expect("copy fixture");
        }
        // Starts like a component but is garbage after the header.
        let mut noise = b"\0asm\x0d\0\x01\0".to_vec();
        noise.extend((0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
        std::fs::write(dir.join("noise.wasm"), noise).expect("write");
        // Not WebAssembly at all.
        std::fs::write(dir.join("text.wasm"), b"#!/bin/sh\necho hello\n").expect("write");
        // A core module: the plugin was built for the wrong target.
        std::fs::write(dir.join("core.wasm"), b"\0asm\x01\0\0\0").expect("write");
        dir
    })
}

fn upgrade(id: &str) -> std::process::Output {
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = migrate(home.path());
    cmd.args(["upgrade-path", id, "1.0.0", "2.0.0", "--plugin-dir"])
        .arg(hostile_dir());
    run_with_guard(&mut cmd, Duration::from_secs(60))
}

fn assert_refused(id: &str, words: &[&str]) {
    let out = upgrade(id);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{id}: exit code, stderr: {err}");
    assert!(
        err.contains(&format!("{id:?}")),
        "{id}: error names the plugin: {err}"
    );
    for w in words {
        assert!(err.contains(w), "{id}: error mentions {w:?}: {err}");
    }
}

#[test]
fn endless_loop_is_stopped_by_the_execution_budget() {
    assert_refused("endless", &["execution budget", "upgrade-path"]);
}

#[test]
fn memory_bomb_is_stopped_by_the_memory_cap() {
    assert_refused("membomb", &["MiB limit", "upgrade-path"]);
}

#[test]
fn component_of_another_world_is_refused() {
    assert_refused(
        "wrongworld",
        &[
            "does not implement migrate:recipe@0.1.0 or migrate:recipe@0.2.0",
            "migrate:recipe/app",
            "rebuild it against migrate:recipe@0.2.0",
        ],
    );
}

#[test]
fn random_bytes_are_refused() {
    assert_refused("noise", &["not a WebAssembly component"]);
    assert_refused("text", &["not a WebAssembly component", "magic bytes"]);
}

#[test]
fn core_module_is_refused_with_the_fix() {
    assert_refused("core", &["core WebAssembly module", "wasm32-wasip2"]);
}

#[test]
fn the_host_goes_on_listing_good_plugins_beside_broken_ones() {
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = migrate(home.path());
    cmd.args(["plugin", "list", "--json", "--plugin-dir"])
        .arg(hostile_dir());
    let out = run_with_guard(&mut cmd, Duration::from_secs(120));
    assert_eq!(
        out.status.code(),
        Some(4),
        "broken plugins make the exit code 4"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (&v["ok"], &v["exit_code"]),
        (&false.into(), &4.into()),
        "{v}"
    );
    let plugins = v["result"]["plugins"].as_array().expect("plugins");
    let by_id = |id: &str| plugins.iter().find(|p| p["id"] == id).cloned();
    let nextcloud = by_id("nextcloud").expect("built-in nextcloud listed");
    assert_eq!(nextcloud["ok"], true);
    assert_eq!(nextcloud["origin"], "built-in");
    for broken in ["noise", "text", "core", "wrongworld"] {
        let p = by_id(broken).unwrap_or_else(|| panic!("{broken} listed"));
        assert_eq!(p["ok"], false, "{broken}");
        assert!(
            p["error"].as_str().unwrap_or("").contains(broken),
            "{broken}: {p}"
        );
    }
    // The loop and the bomb only misbehave when planning; describing works.
    assert_eq!(by_id("endless").expect("endless")["ok"], true);
}

#[test]
fn a_good_call_after_a_hostile_one_still_works() {
    assert_refused("endless", &["execution budget"]);
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = migrate(home.path());
    cmd.args(["plugin", "list", "--plugin-dir"])
        .arg(hostile_dir());
    let out = run_with_guard(&mut cmd, Duration::from_secs(120));
    assert!(stdout(&out).contains("nextcloud"), "{}", stdout(&out));
}

/// The 0.1 fixture and the 0.2 built-ins, loaded by one host.
fn registry() -> migrate::plugin::Registry {
    let engine = migrate::plugin::PluginEngine::new(None, Default::default()).expect("engine");
    migrate::plugin::Registry::discover(
        std::sync::Arc::new(engine),
        &[hostile_dir().to_path_buf()],
        &[],
    )
    .expect("registry")
}

#[test]
fn a_plugin_of_contract_0_1_answers_beside_0_2_plugins() {
    use migrate::plugin::{Action, Context, LayoutKind, ProbeKind, SideContext, UpgradeRequest};

    // Through the binary: its examples pass, and it plans an upgrade path.
    let home = tempfile::tempdir().expect("tempdir");
    let out = run_with_guard(
        migrate(home.path())
            .args(["plugin", "test"])
            .arg(hostile_dir().join("v01example.wasm")),
        Duration::from_secs(60),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("2 passed, 0 failed"),
        "{}",
        stdout(&out)
    );
    let out = run_with_guard(
        migrate(home.path())
            .args([
                "upgrade-path",
                "v01example",
                "1.0.0",
                "2.0.0",
                "--json",
                "--plugin-dir",
            ])
            .arg(hostile_dir()),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let hops: Vec<&str> = v["result"]["hops"]
        .as_array()
        .expect("hops")
        .iter()
        .map(|h| h["to"].as_str().expect("to"))
        .collect();
    assert_eq!(hops, ["1.1.0", "2.0.0"]);

    // In one host with the built-ins, each speaking its own contract.
    let reg = registry();
    let old = reg.load("v01example").expect("the 0.1 plugin loads");
    let new = reg.load("nextcloud").expect("a 0.2 built-in loads");
    assert_eq!(old.contract(), "migrate:recipe@0.1.0");
    assert_eq!(new.contract(), "migrate:recipe@0.2.0");
    let v = old.parse("v1.1.0").expect("call").expect("parses");
    assert_eq!(
        (v.canonical.as_str(), v.display.as_str()),
        ("1.1.0", "Example 1.1.0")
    );
    let refused = old
        .upgrade_path(&UpgradeRequest {
            from: "2.0.0".into(),
            to: "1.0.0".into(),
            zero_downtime: false,
            facts: vec![],
        })
        .expect("call")
        .expect_err("a downgrade");
    assert_eq!(
        migrate::plugin::refusal_kind_name(refused.kind),
        "downgrade"
    );
    let v = new.parse("28.0.4").expect("call").expect("parses");
    assert!(v.canonical.starts_with("28.0.4"), "{v:?}");

    // Its setting() questions are answered from the context of the call.
    let ctx = Context {
        domain: "new.example.net".into(),
        old_domain: Some("old.example.org".into()),
        source: SideContext {
            layout: LayoutKind::Stack,
            stack: Some("old_example_org".into()),
            app_dir: "/var/www/html".into(),
        },
        destination: SideContext {
            layout: LayoutKind::Directory,
            stack: None,
            app_dir: "/srv/app".into(),
        },
        target_version: Some("2.0.0".into()),
    };
    let titles: Vec<String> = old
        .post_copy(&ctx)
        .expect("post-copy")
        .into_iter()
        .filter_map(|s| match s.action {
            Action::Manual(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(
        titles,
        [
            "domain = new.example.net",
            "old-domain = old.example.org",
            "source-layout = stack",
            "destination-app-dir = /srv/app",
            "target-version = 2.0.0",
        ]
    );
    // The 0.1 SDK's label probe asked for `stack`, which no host answered
    // before the context: now it names the stack.
    let probes = old.probes(&ctx).expect("probes");
    assert!(
        matches!(&probes[0].kind, ProbeKind::DockerLabel((_, label)) if label == "coop-cloud.old_example_org.version"),
        "{probes:?}"
    );
    // A call without a context of its own: no settings to answer from.
    assert_eq!(
        old.manual_follow_ups().expect("follow-ups"),
        ["domain = (none)"]
    );
}
