//! Upgrade paths for Mastodon, Hometown and Discourse through the real
//! `migrate` binary: the built-in plugins are the compiled wasm components
//! loaded by the host, so these cases exercise parse, the SDK's Co-op Cloud
//! handling and the upgrade rules exactly as users reach them.

use crate::support::cli::{migrate, run_json};

use serde_json::Value;

/// What the envelope says happened: a path (ok, exit 0), a refusal
/// (exit 3) or bad input (exit 2).
fn outcome_of(json: &Value) -> &'static str {
    if json["command"] != "upgrade-path" {
        return "?";
    }
    match (json["ok"].as_bool(), json["exit_code"].as_u64()) {
        (Some(true), Some(0)) => "path",
        (Some(false), Some(3)) => "refused",
        (Some(false), Some(2)) => "bad-input",
        _ => "?",
    }
}

/// What one `migrate upgrade-path ... --json` call returned.
struct Answer {
    code: i32,
    json: Value,
}

impl Answer {
    fn outcome(&self) -> &str {
        outcome_of(&self.json)
    }

    fn hop_targets(&self) -> Vec<String> {
        self.json["result"]["hops"]
            .as_array()
            .map(|hops| {
                hops.iter()
                    .map(|h| h["to"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn kind(&self) -> &str {
        self.json["error"]["kind"].as_str().unwrap_or("")
    }

    fn message(&self) -> &str {
        self.json["error"]["message"].as_str().unwrap_or("")
    }

    fn step_ids(&self, hop: usize) -> Vec<String> {
        self.json["result"]["hops"][hop]["steps"]
            .as_array()
            .map(|s| {
                s.iter()
                    .map(|s| s["id"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The whole step with this id in hop `hop`, as JSON text.
    fn step(&self, hop: usize, id: &str) -> String {
        self.json["result"]["hops"][hop]["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["id"] == id))
            .map(Value::to_string)
            .unwrap_or_default()
    }

    fn caveats(&self) -> String {
        self.json["result"]["caveats"].to_string()
    }

    fn precondition(&self, what: &str) -> Value {
        self.json["result"]["preconditions"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["what"] == what).cloned())
            .unwrap_or(Value::Null)
    }
}

struct Cli {
    home: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli {
            home: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, app: &str, from: &str, to: &str, extra: &[&str]) -> Answer {
        let mut cmd = migrate(self.home.path());
        cmd.args(["upgrade-path", app, from, to])
            .args(extra)
            .arg("--json");
        let (code, json, _) = run_json(&mut cmd);
        Answer { code, json }
    }

    /// Assert a path with exactly these hop targets (exit 0).
    fn hops(&self, app: &str, from: &str, to: &str, extra: &[&str], want: &[&str]) -> Answer {
        let a = self.path(app, from, to, extra);
        assert_eq!(a.code, 0, "{app} {from} -> {to} {extra:?}: {}", a.json);
        assert_eq!(a.outcome(), "path", "{}", a.json);
        assert_eq!(a.hop_targets(), want, "{app} {from} -> {to} {extra:?}");
        a
    }

    /// Assert a refusal of this kind (exit 3).
    fn refused(&self, app: &str, from: &str, to: &str, extra: &[&str], kind: &str) -> Answer {
        let a = self.path(app, from, to, extra);
        assert_eq!(a.code, 3, "{app} {from} -> {to} {extra:?}: {}", a.json);
        assert_eq!(a.outcome(), "refused", "{}", a.json);
        assert_eq!(a.kind(), kind, "{app} {from} -> {to}: {}", a.message());
        assert!(!a.message().is_empty());
        a
    }

    /// Assert bad input of this kind (exit 2).
    fn bad(&self, app: &str, from: &str, to: &str, kind: &str) -> Answer {
        let a = self.path(app, from, to, &[]);
        assert_eq!(a.code, 2, "{app} {from} -> {to}: {}", a.json);
        assert_eq!(a.outcome(), "bad-input", "{}", a.json);
        assert_eq!(a.kind(), kind, "{app} {from} -> {to}: {}", a.message());
        assert!(!a.message().is_empty());
        a
    }
}

#[test]
fn mastodon_paths() {
    let cli = Cli::new();

    // Skipping 4.3 and 4.4 on the way to 4.5: one hop, a step per skipped
    // line, the encryption secrets generated, the contested rule said.
    let a = cli.hops("mastodon", "4.2.10", "4.5.11", &[], &["4.5.11"]);
    let ids = a.step_ids(0);
    for id in [
        "hop1-notes-4.3",
        "hop1-notes-4.4",
        "hop1-notes-4.5",
        "hop1-ar-encryption-init",
        "hop1-migrate",
    ] {
        assert!(ids.contains(&id.to_string()), "{id} missing from {ids:?}");
    }
    assert!(!ids.contains(&"hop1-notes-4.2".to_string()));
    assert!(
        a.caveats().contains("documentation#1356"),
        "{}",
        a.caveats()
    );
    assert_eq!(a.json["result"]["from"]["canonical"], "4.2.10");
    assert_eq!(a.json["result"]["to"]["series"], "4.5");

    // Zero-downtime from 4.2 on: two-phase migrations.
    let a = cli.hops(
        "mastodon",
        "v4.3.13",
        "v4.4.8",
        &["--zero-downtime"],
        &["4.4.8"],
    );
    let pre = a.json["result"]["hops"][0]["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == "hop1-migrate-pre").cloned())
        .expect("pre-deployment migration step");
    assert_eq!(
        pre["action"]["exec"]["env"],
        serde_json::json!([
            {"name": "RAILS_ENV", "value": "production"},
            {"name": "SKIP_POST_DEPLOYMENT_MIGRATIONS", "value": "true"}
        ])
    );
    assert_eq!(
        pre["action"]["exec"]["shell"],
        "env RAILS_ENV=production SKIP_POST_DEPLOYMENT_MIGRATIONS=true bundle exec rails db:migrate"
    );
    assert!(a.step_ids(0).contains(&"hop1-migrate-post".to_string()));
    assert!(
        !a.step_ids(0).iter().any(|s| s.contains("encryption")),
        "already past 4.3"
    );

    // Same version: no hops, not a refusal.
    cli.hops("mastodon", "4.3.17", "4.3.17", &[], &[]);
    // Without zero-downtime, from 4.1 is fine.
    cli.hops("mastodon", "4.1.25", "4.3.21", &[], &["4.3.21"]);
    // Old lines to the newest: 4.7's notes, and its minimums are unverified.
    let a = cli.hops("mastodon", "3.5.19", "4.7.4", &[], &["4.7.4"]);
    assert!(a.step_ids(0).contains(&"hop1-notes-4.7".to_string()));
    assert!(a.caveats().contains("were not captured"), "{}", a.caveats());
    // Prereleases and fork metadata.
    let a = cli.hops("mastodon", "4.3.0-beta.2", "4.3.0", &[], &["4.3.0"]);
    assert_eq!(a.json["result"]["from"]["prerelease"], true);
    let a = cli.hops("mastodon", "v4.3.0-beta2+my-fork", "4.4.8", &[], &["4.4.8"]);
    assert!(a.caveats().contains("my-fork"), "{}", a.caveats());
    // Co-op Cloud recipe versions: the recipe part is split off.
    let a = cli.hops("mastodon", "2.0.1+v4.2.1", "2.1.0+v4.3.0", &[], &["4.3.0"]);
    assert!(a.caveats().contains("Co-op Cloud"), "{}", a.caveats());
    // The legacy recipe scheme (UPSTREAM_N) orders before X.Y.Z+UPSTREAM.
    let a = cli.hops("mastodon", "4.2.10_1", "2.0.0+v4.3.21", &[], &["4.3.21"]);
    assert!(a.caveats().contains("legacy"), "{}", a.caveats());
}

/// The text a person pastes from: every command with its environment,
/// so the zero-downtime pre-deployment step cannot be run as a plain
/// `db:migrate` (which would run the post-deployment migrations too).
#[test]
fn upgrade_path_text_shows_each_command_with_its_environment() {
    let home = tempfile::tempdir().expect("tempdir");
    let out = migrate(home.path())
        .args([
            "upgrade-path",
            "mastodon",
            "4.2.10",
            "4.3.2",
            "--zero-downtime",
        ])
        .output()
        .expect("run migrate");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let pre = text
        .lines()
        .find(|l| l.contains("pre-deployment"))
        .unwrap_or_else(|| panic!("no pre-deployment step:\n{text}"));
    assert!(
        pre.contains(
            "$ env RAILS_ENV=production SKIP_POST_DEPLOYMENT_MIGRATIONS=true bundle exec rails db:migrate"
        ),
        "{pre}"
    );
    let post = text
        .lines()
        .find(|l| l.contains("post-deployment migrations now"))
        .unwrap_or_else(|| panic!("no post-deployment step:\n{text}"));
    assert!(
        post.contains("$ env RAILS_ENV=production bundle exec rails db:migrate"),
        "{post}"
    );
}

#[test]
fn mastodon_refusals() {
    let cli = Cli::new();
    cli.refused("mastodon", "4.5.11", "4.4.8", &[], "downgrade");
    cli.refused("mastodon", "2.1.0+v4.3.0", "2.0.1+v4.2.1", &[], "downgrade");
    let a = cli.refused(
        "mastodon",
        "4.1.25",
        "4.3.21",
        &["--zero-downtime"],
        "zero-downtime-unsupported",
    );
    assert!(
        a.message().contains("without --zero-downtime"),
        "{}",
        a.message()
    );
    assert!(a.message().contains("SKIP_POST_DEPLOYMENT_MIGRATIONS"));

    // PostgreSQL 14.0–14.3 are excluded for 4.3; 14.4 passes.
    let a = cli.refused(
        "mastodon",
        "4.2.10",
        "4.3.21",
        &["--fact", "postgresql-version=14.2"],
        "precondition-failed",
    );
    assert!(a.message().contains("PostgreSQL"), "{}", a.message());
    let a = cli.hops(
        "mastodon",
        "4.2.10",
        "4.3.21",
        &[
            "--fact",
            "postgresql-version=14.4",
            "--fact",
            "redis-version=7.2.4",
        ],
        &["4.3.21"],
    );
    assert_eq!(a.precondition("PostgreSQL")["met"], true);
    assert_eq!(a.precondition("Redis")["met"], true);
    assert_eq!(
        a.precondition("Ruby")["met"],
        Value::Null,
        "a missing fact is unknown"
    );
    // Node 20.19+ for 4.5.
    cli.refused(
        "mastodon",
        "4.2.10",
        "4.5.11",
        &["--fact", "node-version=20.11.1"],
        "precondition-failed",
    );
}

#[test]
fn mastodon_bad_input() {
    let cli = Cli::new();
    cli.bad("mastodon", "4.2.1.1", "4.3.0", "malformed-version");
    cli.bad("mastodon", "4.2.10", "latest", "malformed-version");
    cli.bad("mastodon", "4.2", "4.3.0", "malformed-version");
    cli.bad("mastodon", "4.3.0-nightly", "4.4.0", "malformed-version");
    let a = cli.bad("mastodon", "4.2.10", "4.9.0", "unknown-version");
    assert!(
        !a.json["error"]["suggestions"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    let a = cli.bad("mastodon", "4.2.99", "4.3.0", "unknown-version");
    assert!(
        a.json["error"]["suggestions"]
            .to_string()
            .contains("4.2.27"),
        "{}",
        a.json
    );
    cli.bad("mastodon", "2024.06.1", "4.3.0", "unknown-version");
    let a = cli.bad(
        "mastodon",
        "4.5.0+hometown-1.1.2",
        "4.5.11",
        "unknown-version",
    );
    assert!(a.message().contains("hometown"), "{}", a.message());
}

#[test]
fn hometown_paths() {
    let cli = Cli::new();
    let a = cli.hops(
        "hometown",
        "4.2.17+hometown-1.1.2",
        "4.5.11+hometown-1.2.1",
        &[],
        &["4.5.11+hometown-1.2.1"],
    );
    assert!(
        a.step(0, "hop1-deploy")
            .contains("git checkout v4.5.11+hometown-1.2.1"),
        "{}",
        a.json
    );
    assert!(
        a.step_ids(0)
            .contains(&"hop1-ar-encryption-init".to_string())
    );
    // 4.0 → 4.5 passes through the newest 4.2 Hometown release.
    let a = cli.hops(
        "hometown",
        "v4.0.15+hometown-1.1.1",
        "v4.5.11+hometown-1.2.1",
        &[],
        &["4.2.17+hometown-1.1.2", "4.5.11+hometown-1.2.1"],
    );
    assert_eq!(a.json["result"]["hops"][1]["from"], "4.2.17+hometown-1.1.2");
    // Old-style tags: Hometown number first.
    let a = cli.hops(
        "hometown",
        "v1.0.5+3.2.0",
        "v4.0.6+hometown-1.1.1",
        &[],
        &["3.5.5+hometown-1.0.8", "4.0.6+hometown-1.1.1"],
    );
    assert_eq!(
        a.json["result"]["from"]["canonical"],
        "3.2.0+hometown-1.0.5"
    );
    // 1.0.x releases are tagged Hometown number first.
    assert!(
        a.step(0, "hop1-deploy")
            .contains("git checkout v1.0.8+3.5.5"),
        "{}",
        a.json
    );
    assert_eq!(a.json["result"]["from"]["series"], "3.2");
    // Mastodon-first without the word "hometown-", as old release notes wrote.
    cli.hops(
        "hometown",
        "v4.0.4+1.1.1",
        "v4.0.6+hometown-1.1.1",
        &[],
        &["4.0.6+hometown-1.1.1"],
    );
    // Plain 4.0.10: Hometown maybe not checked out; said as a caveat.
    let a = cli.hops(
        "hometown",
        "4.0.10",
        "4.2.12+hometown-1.1.1",
        &[],
        &["4.2.12+hometown-1.1.1"],
    );
    assert!(a.caveats().contains("#1335"), "{}", a.caveats());
    assert!(
        a.step_ids(0)
            .contains(&"hop1-initial-migration".to_string())
    );
    // Same Hometown line, ordered by Mastodon base then Hometown number.
    cli.hops(
        "hometown",
        "4.5.10+hometown-1.2.0",
        "4.5.11+hometown-1.2.1",
        &[],
        &["4.5.11+hometown-1.2.1"],
    );
    cli.hops(
        "hometown",
        "4.5.11+hometown-1.2.1",
        "4.5.11+hometown-1.2.1",
        &["--zero-downtime"],
        &[],
    );
    // Co-op Cloud recipe version wrapping a Hometown one.
    cli.hops(
        "hometown",
        "1.0.0+v4.2.12+hometown-1.1.1",
        "1.1.0+v4.2.17+hometown-1.1.2",
        &[],
        &["4.2.17+hometown-1.1.2"],
    );
}

#[test]
fn hometown_refusals_and_bad_input() {
    let cli = Cli::new();
    cli.refused(
        "hometown",
        "4.5.11+hometown-1.2.1",
        "4.2.17+hometown-1.1.2",
        &[],
        "downgrade",
    );
    // Same Hometown number, older Mastodon base: still a downgrade.
    cli.refused(
        "hometown",
        "4.2.12+hometown-1.1.1",
        "4.0.15+hometown-1.1.1",
        &[],
        "downgrade",
    );
    cli.refused(
        "hometown",
        "4.0.15+hometown-1.1.1",
        "4.2.17+hometown-1.1.2",
        &["--zero-downtime"],
        "zero-downtime-unsupported",
    );
    let a = cli.refused(
        "hometown",
        "4.2.12+hometown-1.1.1",
        "4.5.11",
        &[],
        "no-path",
    );
    assert!(
        a.json["error"]["suggestions"]
            .to_string()
            .contains("4.5.11+hometown-1.2.1"),
        "{}",
        a.json
    );
    // Bases Hometown never shipped.
    let a = cli.bad(
        "hometown",
        "4.2.12+hometown-1.1.1",
        "4.3.5+hometown-1.1.2",
        "unknown-version",
    );
    assert!(
        a.message().contains("4.0.x → 4.2.x → 4.5.x"),
        "{}",
        a.message()
    );
    cli.bad(
        "hometown",
        "4.4.8",
        "4.5.11+hometown-1.2.1",
        "unknown-version",
    );
    cli.bad(
        "hometown",
        "4.2.12+hometown-9.9.9",
        "4.5.11+hometown-1.2.1",
        "unknown-version",
    );
    cli.bad(
        "hometown",
        "4.2.12+hometown-1.1",
        "4.5.11+hometown-1.2.1",
        "malformed-version",
    );
    cli.bad(
        "hometown",
        "hometown",
        "4.5.11+hometown-1.2.1",
        "malformed-version",
    );
}

#[test]
fn discourse_paths() {
    let cli = Cli::new();
    // Across the switch to date-based versions.
    let a = cli.hops(
        "discourse",
        "3.1.0.beta6",
        "2026.3.0-latest",
        &[],
        &["2026.3.0-latest"],
    );
    assert_eq!(a.json["result"]["from"]["prerelease"], true);
    assert!(a.caveats().contains("development build"), "{}", a.caveats());
    assert!(a.step_ids(0).contains(&"hop1-rebuild".to_string()));
    let a = cli.hops(
        "discourse",
        "v3.4.7",
        "v3.5.4",
        &["--zero-downtime"],
        &["3.5.4"],
    );
    assert!(a.step_ids(0).contains(&"hop1-zd-1-bootstrap".to_string()));
    assert!(a.step_ids(0).contains(&"hop1-zd-2-bootstrap".to_string()));
    cli.hops("discourse", "2026.2.0", "2026.2.0", &[], &[]);
    cli.hops("discourse", "3.2.0.beta2-dev", "3.2.0", &[], &["3.2.0"]);
    cli.hops("discourse", "2026.02.1", "2026.3.0", &[], &["2026.3.0"]);
    cli.hops(
        "discourse",
        "1.0.0+3.4.7",
        "1.1.0+2025.12.1",
        &[],
        &["2025.12.1"],
    );

    // PostgreSQL major upgrade on rebuild: free space must be twice the data.
    let a = cli.refused(
        "discourse",
        "3.4.7",
        "2026.2.0",
        &[
            "--fact",
            "source-postgresql-version=13",
            "--fact",
            "free-disk-bytes=10G",
            "--fact",
            "database-bytes=6G",
        ],
        "precondition-failed",
    );
    assert!(
        a.message().contains("postgres.15.template.yml"),
        "{}",
        a.message()
    );
    let a = cli.hops(
        "discourse",
        "3.4.7",
        "2026.2.0",
        &[
            "--fact",
            "source-postgresql-version=13",
            "--fact",
            "free-disk-bytes=13G",
            "--fact",
            "database-bytes=6G",
        ],
        &["2026.2.0"],
    );
    assert_eq!(
        a.precondition("Disk space for the PostgreSQL upgrade")["met"],
        true
    );
    assert!(a.step_ids(0).contains(&"hop1-postgres-upgrade".to_string()));
    // No major change: no disk rule, no second rebuild.
    let a = cli.hops(
        "discourse",
        "2026.1.1",
        "2026.2.0",
        &["--fact", "source-postgresql-version=18"],
        &["2026.2.0"],
    );
    assert_eq!(
        a.precondition("Disk space for the PostgreSQL upgrade"),
        Value::Null
    );
    assert!(!a.step_ids(0).contains(&"hop1-postgres-upgrade".to_string()));
}

#[test]
fn discourse_refusals_and_bad_input() {
    let cli = Cli::new();
    cli.refused("discourse", "2026.3.0", "2026.3.0-latest", &[], "downgrade");
    let a = cli.refused("discourse", "2025.11.0", "3.5.4", &[], "downgrade");
    assert!(
        a.message().contains("more recent version of the schema"),
        "{}",
        a.message()
    );
    cli.refused(
        "discourse",
        "3.2.0",
        "2026.2.0",
        &["--zero-downtime"],
        "zero-downtime-unsupported",
    );
    // A backup from a newer schema cannot be restored onto older code.
    cli.refused(
        "discourse",
        "3.4.7",
        "3.4.7",
        &[
            "--fact",
            "backup-schema-version=20250520015508",
            "--fact",
            "destination-schema-version=20250103134013",
        ],
        "precondition-failed",
    );
    cli.bad("discourse", "3.1.0.rc1", "3.2.0", "malformed-version");
    cli.bad("discourse", "3.1.0-beta6", "3.2.0", "malformed-version");
    cli.bad("discourse", "3.1.0.0", "3.2.0", "malformed-version");
    cli.bad("discourse", "2026.13.0", "2026.3.0", "malformed-version");
    cli.bad("discourse", "3.1.0-latest", "3.2.0", "malformed-version");
    let a = cli.bad("discourse", "3.5.4", "2027.1.0", "unknown-version");
    assert!(
        !a.json["error"]["suggestions"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    let a = cli.bad("discourse", "3.5.9", "2026.2.0", "unknown-version");
    assert!(
        a.json["error"]["suggestions"].to_string().contains("3.5.4"),
        "{}",
        a.json
    );
    cli.bad("discourse", "2024.6.0", "2026.2.0", "unknown-version");
}

/// Each plugin's declared examples pass when the host runs them.
#[test]
fn declared_examples_pass_through_the_host() {
    let cli = Cli::new();
    for app in ["mastodon", "hometown", "discourse"] {
        let mut cmd = migrate(cli.home.path());
        cmd.args(["plugin", "test", app, "--json"]);
        let (code, v, _) = run_json(&mut cmd);
        assert_eq!(code, 0, "{app}: {v}");
        assert_eq!(v["ok"], true, "{app}: {v}");
        assert_eq!(v["result"]["failed"], 0, "{app}: {v}");
        assert!(
            v["result"]["passed"].as_u64().unwrap_or(0) >= 6,
            "{app}: {v}"
        );
    }
}

/// The built-in plugins in one host, for the calls that take the
/// migration's context (the real components, as a plan calls them).
fn builtin(id: &str) -> migrate::plugin::LoadedPlugin {
    let engine = migrate::plugin::PluginEngine::new(None, Default::default()).expect("engine");
    migrate::plugin::Registry::discover(std::sync::Arc::new(engine), &[], &[])
        .expect("registry")
        .load(id)
        .expect("built-in plugin")
}

fn context(domain: &str, old_domain: Option<&str>) -> migrate::plugin::Context {
    use migrate::plugin::{LayoutKind, SideContext};
    let side = SideContext {
        layout: LayoutKind::Directory,
        stack: None,
        app_dir: "/var/discourse/shared/standalone".into(),
    };
    migrate::plugin::Context {
        domain: domain.into(),
        old_domain: old_domain.map(str::to_string),
        source: side.clone(),
        destination: side,
        target_version: None,
    }
}

#[test]
fn discourse_remaps_and_rebakes_only_when_the_domain_changes() {
    use migrate::plugin::Action;
    let discourse = builtin("discourse");
    let argv = |steps: &[migrate::plugin::Step], id: &str| {
        steps.iter().find(|s| s.id == id).map(|s| match &s.action {
            Action::Exec(c) => c.argv.join(" "),
            Action::Manual(t) => t.clone(),
            other => format!("{other:?}"),
        })
    };

    let moved = context("forum.example.net", Some("talk.example.org"));
    let post = discourse.post_copy(&moved).expect("post-copy");
    let hostname = argv(&post, "hostname").expect("hostname step");
    assert!(
        hostname.contains("DISCOURSE_HOSTNAME: forum.example.net"),
        "{hostname}"
    );
    let clears = discourse.cache_clears(&moved).expect("cache clears");
    assert_eq!(
        argv(&clears, "remap-domain").as_deref(),
        Some("discourse remap talk.example.org forum.example.net")
    );
    assert_eq!(
        argv(&clears, "rebake").as_deref(),
        Some("rake posts:rebake")
    );

    // The same domain (or none named before): nothing is rewritten.
    for ctx in [
        context("forum.example.net", None),
        context("forum.example.net", Some("forum.example.net")),
    ] {
        let clears = discourse.cache_clears(&ctx).expect("cache clears");
        assert!(argv(&clears, "remap-domain").is_none(), "{clears:?}");
        assert!(argv(&clears, "rebake").is_none(), "{clears:?}");
        let post = discourse.post_copy(&ctx).expect("post-copy");
        assert!(
            argv(&post, "hostname")
                .expect("hostname step")
                .starts_with("Check that DISCOURSE_HOSTNAME")
        );
    }
}
