//! README.md's command blocks marked `<!-- readme-test -->` (the line just
//! before their fence) run as written, in order, each block one bash
//! script under `set -e`: `migrate` is the binary under test (with a home
//! of its own), `ssh://root@old` and `ssh://root@new` are the lab's src and
//! dst, and src holds a stand-in Nextcloud for cloud.example.net under
//! /var/www, as the examples assume. An example that drifts from the CLI
//! (a renamed flag, a command that moved) fails here. Only marked blocks
//! run: other sections are left to their own tests.

use std::process::Command;

use crate::support::cli::{migrate_bin, stderr, stdout};
use crate::support::fixtures::{target_dir, workspace_root};
use crate::support::lab::{self, Need, ok};

const MARKER: &str = "<!-- readme-test";

/// The marked blocks' texts, in README order, each with the exit codes its
/// `migrate` commands may end with: 0, or those its mark names
/// (`<!-- readme-test: exits 0 or 3 -->` for an example that shows a
/// refusal). A usage error (exit 2) is never among them unless named.
fn blocks(readme: &str) -> Vec<(String, Vec<i32>)> {
    let mut out = Vec::new();
    let mut lines = readme.lines();
    while let Some(l) = lines.next() {
        let Some(rest) = l.trim().strip_prefix(MARKER) else {
            continue;
        };
        let codes: Vec<i32> = rest
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        let codes = if codes.is_empty() { vec![0] } else { codes };
        let fence = lines.next().unwrap_or_default();
        assert!(
            fence.trim_start().starts_with("```"),
            "README.md: {MARKER} must be followed by a fenced block, found {fence:?}"
        );
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.trim_start().starts_with("```"))
            .collect();
        out.push((body.join("\n"), codes));
    }
    out
}

/// One stand-in Nextcloud for cloud.example.net on src.
struct World {
    base: String,
    db: String,
}

impl World {
    fn new() -> World {
        let pid = std::process::id();
        let w = World {
            base: format!("/var/www/readme-{pid}"),
            db: format!("readme_{pid}"),
        };
        let ex = workspace_root().join("examples/lab-nextcloud");
        lab::put_tree(&["src"], &ex, &["app"], &w.base, "true");
        lab::install(
            "src",
            &format!("bash -s -- {}/nextcloud {} cloud.example.net", w.base, w.db),
            &ex.join("install-source.sh"),
        );
        for h in ["src", "dst"] {
            ok(
                h,
                "test -e /usr/local/bin/php || { printf '#!/bin/sh\\nexec python3 \"$@\"\\n' > /usr/local/bin/php && chmod 755 /usr/local/bin/php && touch /usr/local/bin/.php-readme-shim; }",
            );
        }
        w
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = lab::sh(
            "src",
            &format!(
                "rm -rf {b}; cd / && runuser -u postgres -- psql -X -q -c 'DROP DATABASE IF EXISTS \"{d}\"' -c 'DROP ROLE IF EXISTS \"nc_{d}\"' >/dev/null 2>&1; rmdir /var/www 2>/dev/null; true",
                b = self.base,
                d = self.db
            ),
        );
        for h in ["src", "dst"] {
            let _ = lab::sh(
                h,
                "test -e /usr/local/bin/.php-readme-shim && rm -f /usr/local/bin/php /usr/local/bin/.php-readme-shim; true",
            );
        }
    }
}

#[test]
fn the_marked_readme_blocks_run_as_written() {
    let _lab = lab::enter(module_path!(), Need::Ssh);
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let found = blocks(&readme);
    // The marks themselves are checked: removing them must not make this
    // test pass by running nothing.
    assert!(
        found.len() >= 2,
        "README.md has {} blocks marked {MARKER}",
        found.len()
    );
    let _world = World::new();
    let home = tempfile::tempdir().expect("home");
    let bin_dir = migrate_bin()
        .parent()
        .expect("the binary's directory")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (n, (block, codes)) in found.iter().enumerate() {
        let script = block
            .replace("ssh://root@old", &lab::src_url())
            .replace("ssh://root@new", &lab::dst_url());
        // Every `migrate` of the block is judged by its exit code; the
        // first one outside the accepted codes ends the block.
        let ok_codes = codes
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let judge = format!(
            "migrate() {{ echo \"+ migrate $*\" >&2; command migrate \"$@\"; rc=$?; case ' {ok_codes} ' in *\" $rc \"*) return 0 ;; esac; echo \"migrate $* exited $rc\" >&2; exit 1; }}\n"
        );
        let o = Command::new("bash")
            .args(["-c", &format!("{judge}{script}")])
            .current_dir(home.path())
            .env("PATH", &path)
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_STATE_HOME", home.path().join("state"))
            .env("XDG_CACHE_HOME", target_dir().join("test-app-cache"))
            .env_remove("MIGRATE_PLUGIN_DIR")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("bash");
        assert!(
            o.status.success(),
            "README block {} (the {}th marked) failed:\n{block}\n--- stdout\n{}\n--- stderr\n{}",
            n + 1,
            n + 1,
            stdout(&o),
            stderr(&o)
        );
    }
    // The app examples did reach the lab: the plan names the stand-in.
    let o = Command::new(migrate_bin())
        .args([
            "app",
            "plan",
            "nextcloud",
            "--from",
            &lab::src_url(),
            "--to",
            &lab::dst_url(),
            "--domain",
            "cloud.example.net",
        ])
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CACHE_HOME", target_dir().join("test-app-cache"))
        .output()
        .expect("plan");
    assert!(
        stderr(&o).contains(&format!("/var/www/readme-{}/nextcloud", std::process::id())),
        "{}",
        stderr(&o)
    );
}

#[test]
fn blocks_are_extracted_only_where_marked() {
    let text = "a\n```sh\nnot me\n```\n<!-- readme-test -->\n```sh\nmigrate x \\\n  --y\n```\n```sh\nnor me\n```\n";
    assert_eq!(blocks(text), [("migrate x \\\n  --y".to_string(), vec![0])]);
    let text = "<!-- readme-test: exits 0 or 3 -->\n```sh\nmigrate y\n```\n";
    assert_eq!(blocks(text), [("migrate y".to_string(), vec![0, 3])]);
}
