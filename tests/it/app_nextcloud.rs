//! `migrate plan` / `migrate app` for Nextcloud in the two-server lab: a
//! realistic plain-directory install on src (config.php with instanceid,
//! appdata_<instanceid>, user files with old mtimes, a PostgreSQL database
//! with users and file rows; a stand-in web front serving status.php from
//! those files and that database) moved to dst, killed in each phase and
//! rerun, a step failing mid-run and resumed; refusals before anything
//! changes. Everything the tool touches is real: files, databases, configs.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::support::cli::{Operator, stderr, stdout};
use crate::support::dns;
use crate::support::fixtures::{Ca, workspace_root};
use crate::support::http;
use crate::support::lab::{self, Need, keys, ok};

const DOMAIN: &str = "cloud.example.test";

/// One Nextcloud installation on src, its migration file, and cleanup of
/// everything it made (processes by their recorded PID, directories,
/// databases) on both servers. The progress test runs one migration too.
pub(crate) struct Fixture {
    name: String,
    base: String,
    pub(crate) root: String,
    db: String,
    port: u16,
    pub(crate) op: Operator,
}

/// The migrations that copy run one at a time: the first test checks that
/// no temporary key is left on either server, which a copy in flight in
/// another test would break.
static COPYING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_copy_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    COPYING.lock().unwrap_or_else(|p| p.into_inner())
}

impl Fixture {
    pub(crate) fn new(name: &str, extra: &str) -> Fixture {
        let pid = std::process::id();
        let name = format!("test-app-{name}-{pid}");
        let base = format!("/srv/{name}");
        let root = format!("{base}/nextcloud");
        let db = name.replace('-', "_");
        // Tests run in parallel and each server's ports are shared: one port per test.
        let port = lab::port();
        let ex = workspace_root().join("examples/lab-nextcloud");
        // The stand-in app and the php shim, on both servers.
        lab::put_tree(
            &["src", "dst"],
            &ex,
            &["app", "php"],
            &base,
            &format!("mkdir -p {base}/bin && mv -f {base}/php {base}/bin/php"),
        );
        lab::install(
            "src",
            &format!("bash -s -- {root} {db} {DOMAIN}"),
            &ex.join("install-source.sh"),
        );
        let f = Fixture {
            name: name.clone(),
            base: base.clone(),
            root: root.clone(),
            db,
            port,
            op: Operator::new(),
        };
        ok("src", &f.start_cmd("127.0.0.2"));
        let toml = format!(
            r#"# {name}: Nextcloud from a plain directory on src to one on dst
app = "nextcloud"
domain = "{DOMAIN}"
backup_dir = "{base}/backup"
# 7 minutes for sync clients is for production; the lab has none. The
# source's stop command below stops the web front.
skip_steps = ["nextcloud-wait-for-sync-clients", "nextcloud-stop-web"]
{top}
[source]
host = "{src}"
root = "{root}"
http = "127.0.0.2:{port}"
path = ["{base}/bin"]
stop = "kill $(cat {base}/app.pid) && rm -f {base}/app.pid"
start = {start_src:?}
[source.databases]
nextcloud = "{db}"

[destination]
host = "{dst}"
root = "{root}"
http = "127.0.0.3:{port}"
path = ["{base}/bin"]
start = {start_dst:?}
[destination.databases]
nextcloud = "{db}"
{table}"#,
            src = lab::src_url(),
            dst = lab::dst_url(),
            db = f.db,
            start_src = f.start_cmd("127.0.0.2"),
            start_dst = f.start_cmd("127.0.0.3"),
            top = if extra.starts_with('[') { "" } else { extra },
            table = if extra.starts_with('[') { extra } else { "" },
        );
        std::fs::write(&f.op.file, toml).expect("write migration file");
        f
    }

    /// Start the stand-in web front and wait until it answers.
    fn start_cmd(&self, addr: &str) -> String {
        let (b, r, p) = (&self.base, &self.root, self.port);
        format!(
            "cd {r} && (python3 status.py {addr}:{p} >> {b}/app.log 2>&1 < /dev/null & echo $! > {b}/app.pid) && for i in $(seq 1 100); do curl -s -o /dev/null http://{addr}:{p}/ && exit 0; sleep 0.1; done; exit 1"
        )
    }

    fn migrate(&self) -> Command {
        self.op.migrate()
    }

    fn app(&self, extra: &[&str]) -> Output {
        self.op.app(extra)
    }

    fn journal(&self) -> PathBuf {
        self.op.journal()
    }

    /// Run `migrate app` and kill it (SIGKILL) once `step` has started.
    fn kill_at(&self, step: &str) {
        self.op.kill_at(step)
    }

    /// GET with the production Host header; status 0 when nothing answers.
    fn http(&self, addr: &str, path: &str) -> (u16, serde_json::Value) {
        let (code, body) = http::get(addr, self.port, DOMAIN, path);
        (code, serde_json::from_str(&body).unwrap_or_default())
    }

    /// Every file under the root: path, size, mtime, mode, owner, sha256.
    fn tree(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "cd {} && find . -printf '%P %y %s %T@ %m %u:%g\\n' | grep -v '^config/config.php ' | sort && find . -type f ! -path ./config/config.php -print0 | sort -z | xargs -0 sha256sum",
                self.root
            ),
        )
    }

    fn rows(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "cd / && for t in oc_users oc_storages oc_filecache oc_appconfig; do printf '%s ' $t; runuser -u postgres -- psql -X -Atqd {} -c \"select count(*), md5(string_agg(t::text, ',' order by t::text)) from $t t\"; done",
                self.db
            ),
        )
    }

    fn config_value(&self, host: &str, key: &str) -> String {
        ok(
            host,
            &format!("grep \"'{key}' =>\" {}/config/config.php", self.root),
        )
        .split('\'')
        .nth(3)
        .unwrap_or("")
        .to_string()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let script = format!(
            "test -f {b}/app.pid && kill $(cat {b}/app.pid) 2>/dev/null; rm -rf {b} {b}.before-*; cd / && runuser -u postgres -- psql -X -q -c 'DROP DATABASE IF EXISTS \"{d}\"' -c 'DROP DATABASE IF EXISTS \"{d}_before_migrate\"' -c 'DROP ROLE IF EXISTS \"nc_{d}\"' >/dev/null 2>&1; true",
            b = self.base,
            d = self.db
        );
        for h in ["src", "dst"] {
            let _ = lab::sh(h, &script);
        }
        let _ = &self.name;
    }
}

/// The zone, served by a Knot primary and secondary started by the test:
/// the app's name points at src with a 20 s TTL.
const ZONE: &str = "$ORIGIN example.test.\n$TTL 3600\n@ 3600 IN SOA ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 5\n@ 3600 IN NS ns1.example.test.\n@ 3600 IN NS ns2.example.test.\nns1 3600 IN A 127.0.0.1\nns2 3600 IN A 127.0.0.2\ncloud 20 IN A 127.0.0.2\n";

fn dns_section(knot: &dns::KnotLab, key: &std::path::Path) -> String {
    format!(
        "[dns]\nprovider = \"rfc2136\"\nserver = \"{p}\"\nauthoritative = [\"{p}\", \"{s}\"]\nzone = \"example.test\"\nto = [\"127.0.0.3\"]\ntsig_key_file = \"{k}\"\nlowered_ttl = 2\n",
        p = knot.primary(),
        s = knot.secondary(),
        k = key.display()
    )
}

#[test]
fn nextcloud_moves_to_dst_surviving_kills_in_every_phase_and_a_failed_step() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    // The zone, served by a Knot primary and secondary started for this test:
    // the app's name points at src with a 20 s TTL.
    let knot = dns::KnotLab::start(ZONE);
    let key = tempfile::NamedTempFile::new().expect("key file");
    std::fs::write(key.path(), dns::TSIG_LINE).expect("key");
    let dns = dns_section(&knot, key.path());
    let _one = one_copy_at_a_time();
    let f = Fixture::new("nc", &dns);
    let keys_before = (keys("src"), keys("dst"));
    let src_tree = f.tree("src");
    let src_rows = f.rows("src");
    let iid = f.config_value("src", "instanceid");
    assert!(iid.starts_with("oc"), "{iid}");

    // The plan: probed version, sizes, phases; the runbook in Markdown.
    let o = f
        .migrate()
        .args(["plan", "--file"])
        .arg(&f.op.file)
        .output()
        .expect("plan");
    let plan = stdout(&o);
    assert!(o.status.success(), "{plan}{}", stderr(&o));
    assert!(plan.contains("Source runs Nextcloud 28.0.4"), "{plan}");
    assert!(
        plan.contains("[cutover] Put the source Nextcloud into maintenance mode"),
        "{plan}"
    );
    assert!(
        plan.contains("skipped by the migration file: nextcloud-wait-for-sync-clients"),
        "{plan}"
    );
    let o = f
        .migrate()
        .args(["plan", "--format", "markdown", "--file"])
        .arg(&f.op.file)
        .output()
        .expect("plan");
    let md = stdout(&o);
    assert!(
        md.starts_with(&format!("# Moving {DOMAIN} (Nextcloud)")),
        "{md}"
    );
    assert!(
        md.contains("## 4. Cutover (downtime)") && md.contains("- [ ] Move monitoring checks"),
        "{md}"
    );

    // A dry run prints commands and changes nothing.
    let o = f.app(&["--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("php occ maintenance:mode --on"),
        "{}",
        stdout(&o)
    );
    // With --json, the same commands in one JSON document.
    let o = f.app(&["--dry-run", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(v["command"], "app", "{v}");
    assert_eq!(v["result"]["dry_run"], true, "{v}");
    let commands: Vec<&str> = v["result"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .flat_map(|s| s["commands"].as_array().into_iter().flatten())
        .filter_map(|c| c["script"].as_str())
        .collect();
    assert!(
        commands
            .iter()
            .any(|c| c.contains("php occ maintenance:mode --on")),
        "{v}"
    );
    ok("dst", &format!("test ! -e {}", f.root));
    assert_eq!(f.http("127.0.0.2", "/status.php").1["maintenance"], false);
    // Compared at the end with what the run sent.
    let dry = v["result"].clone();
    // Unattended without --yes: refused before the first step that acts
    // (the backup writes on the source), nothing written anywhere.
    let o = f
        .migrate()
        .args(["app", "--file"])
        .arg(&f.op.file)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run migrate");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("stopped before step backup") && stderr(&o).contains("--yes"),
        "{}",
        stderr(&o)
    );
    ok("src", &format!("test ! -e {}/backup", f.base));
    ok("dst", &format!("test ! -e {}", f.root));

    // Killed in each phase, then a step failing mid-run (no php on dst).
    f.kill_at("backup");
    f.kill_at("pre-sync");
    f.kill_at("database-nextcloud");
    // TTLs are lowered on both servers; the name still points at src.
    for srv in [knot.primary(), knot.secondary()] {
        assert_eq!(
            knot.rrset(&srv, "cloud.example.test", "A"),
            (2, vec!["127.0.0.2".to_string()]),
            "{}",
            std::fs::read_to_string(f.journal()).unwrap_or_default()
        );
    }
    ok(
        "dst",
        &format!("mv {b}/bin/php {b}/bin/php.away", b = f.base),
    );
    let o = f.app(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("step nextcloud-trusted-domains failed") && err.contains("journal"),
        "{err}"
    );
    let st = f
        .migrate()
        .args(["app-status", "--file"])
        .arg(&f.op.file)
        .output()
        .expect("status");
    assert!(
        stdout(&st).contains("FAILED  [cutover] Trust the destination's hostname"),
        "{}",
        stdout(&st)
    );
    assert_eq!(f.tree("src"), src_tree, "the source's files changed");
    ok(
        "dst",
        &format!("mv {b}/bin/php.away {b}/bin/php", b = f.base),
    );
    f.kill_at("nextcloud-files-scan");
    let o = f.app(&[]);
    let report = stdout(&o);
    assert!(o.status.success(), "{report}{}", stderr(&o));
    assert!(stderr(&o).contains("(finished earlier)"), "{}", stderr(&o));

    // Data identical, database equal, instanceid and appdata consistent.
    assert_eq!(f.tree("dst"), src_tree);
    assert_eq!(f.rows("dst"), src_rows);
    assert_eq!(f.config_value("dst", "instanceid"), iid);
    assert_eq!(
        f.config_value("dst", "passwordsalt"),
        f.config_value("src", "passwordsalt")
    );
    ok(
        "dst",
        &format!("test -d {}/data/appdata_{iid}/preview", f.root),
    );
    // Health on dst through the production hostname; the source stays stopped.
    let (code, status) = f.http("127.0.0.3", "/status.php");
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["installed"], true);
    assert_eq!(status["maintenance"], false);
    assert_eq!(status["versionstring"], "28.0.4");
    assert_eq!(
        f.http("127.0.0.2", "/status.php").0,
        0,
        "the source app must stay stopped"
    );
    assert_eq!(f.config_value("src", "instanceid"), iid);
    // Backups with checksums on the source.
    let sums = ok(
        "src",
        &format!("cd {}/backup/*/ && sha256sum -c SHA256SUMS", f.base),
    );
    assert!(
        sums.contains("files.tar: OK") && sums.contains(".dump: OK"),
        "{sums}"
    );
    // The report: checks before and after, verdict, follow-ups.
    assert!(
        report.contains("VERDICT: PASS: 10 of 10 checks"),
        "{report}"
    );
    assert!(report.contains("| `address` | pass ("), "{report}");
    assert!(!report.contains("failing-before"), "{report}");
    assert!(report.contains("| `files` | pass ("), "{report}");
    assert!(
        report.contains("Downtime: ") && report.contains(" s measured (predicted "),
        "{report}"
    );
    assert!(
        report.contains("- [ ] Move monitoring checks (status.php) to the new server"),
        "{report}"
    );
    assert!(
        !report.contains(&f.config_value("src", "secret")),
        "a secret reached the report"
    );
    let journal = std::fs::read_to_string(f.journal()).expect("journal");
    assert!(
        !journal.contains(&f.config_value("src", "passwordsalt")),
        "a secret reached the journal"
    );
    // DNS points at dst on every authoritative server, TTLs restored.
    for srv in [knot.primary(), knot.secondary()] {
        assert_eq!(
            knot.rrset(&srv, "cloud.example.test", "A"),
            (20, vec!["127.0.0.3".to_string()])
        );
    }
    assert!(
        report.contains("- DNS TTLs restored: cloud.example.test. A TTL 20"),
        "{report}"
    );
    // No temporary keys left.
    assert_eq!((keys("src"), keys("dst")), keys_before);
    // What ran is what the dry run showed, step by step.
    let n = crate::support::cli::assert_ran_what_the_dry_run_showed(&dry, &f.journal());
    assert!(n > 20, "only {n} commands were logged");
    // Rerun: nothing left to do; abort is refused past the point of no return.
    let o = f.app(&[]);
    assert!(o.status.success());
    assert!(!stderr(&o).contains("start "), "{}", stderr(&o));
    let o = f
        .migrate()
        .args(["abort", "--file"])
        .arg(&f.op.file)
        .output()
        .expect("abort");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let st = f
        .migrate()
        .args(["app-status", "--json", "--file"])
        .arg(&f.op.file)
        .output()
        .expect("status");
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).expect("json");
    assert_eq!(v["command"], "app-status", "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["result"]["state"], "finished");
}

#[test]
fn refusals_come_before_anything_changes() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let f = Fixture::new("ncrefuse", "target_version = \"27.1.11\"");
    let o = f.app(&[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("refused (downgrade): no upgrade path from Nextcloud 28.0.4"),
        "{}",
        stderr(&o)
    );
    ok("dst", &format!("test ! -e {}", f.root));
    assert_eq!(f.http("127.0.0.2", "/status.php").1["maintenance"], false);

    // The same plan from flags: the version is read from version.php
    // when no HTTP address is given; a missing flag is named.
    let o = f
        .migrate()
        .args([
            "plan",
            "nextcloud",
            "--from",
            "src",
            "--to",
            "dst",
            "--domain",
            DOMAIN,
        ])
        .args([
            "--src-root",
            &f.root,
            "--dst-root",
            &format!("{}-flags", f.root),
        ])
        .output()
        .expect("plan");
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("refused (database-missing): the source database \"nextcloud\""),
        "{}",
        stderr(&o)
    );
    let o = f
        .migrate()
        .args([
            "plan",
            "nextcloud",
            "--from",
            "src",
            "--to",
            "dst",
            "--domain",
            DOMAIN,
        ])
        .args([
            "--src-root",
            &f.root,
            "--dst-root",
            &format!("{}-flags", f.root),
        ])
        .args(["--database", &format!("nextcloud={}", f.db)])
        .output()
        .expect("plan");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("probe version-php read \"28.0.4\""),
        "{}",
        stdout(&o)
    );
    let o = f
        .migrate()
        .args(["plan", "nextcloud", "--to", "dst"])
        .output()
        .expect("plan");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--from is required"), "{}", stderr(&o));

    // A file with an error: file, line, column, what was expected.
    let bad = f.op.home.path().join("bad.toml");
    let text = std::fs::read_to_string(&f.op.file)
        .expect("file")
        .replace("target_version = \"27.1.11\"", "target_version = 27");
    std::fs::write(&bad, text).expect("write");
    let o = f
        .migrate()
        .args(["plan", "--file"])
        .arg(&bad)
        .output()
        .expect("plan");
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("bad.toml:8:18: invalid type: integer `27`, expected a string"),
        "{e}"
    );

    // An unknown recipe.
    let text = std::fs::read_to_string(&f.op.file)
        .expect("file")
        .replace("app = \"nextcloud\"", "app = \"nextclod\"");
    std::fs::write(&bad, text).expect("write");
    let o = f
        .migrate()
        .args(["plan", "--file"])
        .arg(&bad)
        .output()
        .expect("plan");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no recipe named \"nextclod\" (did you mean \"nextcloud\"?)"),
        "{}",
        stderr(&o)
    );

    // Not enough space where the app would go (an 8 MiB tmpfs).
    let text = std::fs::read_to_string(&f.op.file)
        .expect("file")
        .replace("target_version = \"27.1.11\"", "")
        .replacen(
            &format!("root = \"{}\"\nhttp = \"127.0.0.3", f.root),
            "root = \"/mnt/tiny/nc\"\nhttp = \"127.0.0.3",
            1,
        );
    std::fs::write(&bad, text).expect("write");
    let o = f
        .migrate()
        .args(["plan", "--file"])
        .arg(&bad)
        .output()
        .expect("plan");
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("refused (no-space): the destination has"),
        "{}",
        stderr(&o)
    );

    // A destination that already holds the app: refused without --force.
    ok(
        "dst",
        &format!(
            "mkdir -p {r}/config && echo '<?php' > {r}/config/config.php",
            r = f.root
        ),
    );
    let text = std::fs::read_to_string(&f.op.file)
        .expect("file")
        .replace("target_version = \"27.1.11\"", "");
    std::fs::write(&bad, text).expect("write");
    let o = f
        .migrate()
        .args(["plan", "--file"])
        .arg(&bad)
        .output()
        .expect("plan");
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("already holds the app"),
        "{}",
        stderr(&o)
    );
    let o = f
        .migrate()
        .args(["plan", "--force", "--file"])
        .arg(&bad)
        .output()
        .expect("plan");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Move the destination's existing app aside"),
        "{}",
        stdout(&o)
    );
    ok("dst", &format!("test -f {}/config/config.php", f.root));
}

#[test]
fn abort_in_the_downtime_window_brings_the_source_back() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    // DNS is part of this migration: its TTLs are lowered before the window
    // and must be back after the abort, still pointing at src.
    let knot = dns::KnotLab::start(ZONE);
    let key = tempfile::NamedTempFile::new().expect("key file");
    std::fs::write(key.path(), dns::TSIG_LINE).expect("key");
    let _one = one_copy_at_a_time();
    let f = Fixture::new("ncabort", &dns_section(&knot, key.path()));
    f.kill_at("final-sync");
    for srv in [knot.primary(), knot.secondary()] {
        assert_eq!(knot.rrset(&srv, "cloud.example.test", "A").0, 2);
    }
    assert_eq!(
        f.http("127.0.0.2", "/status.php").0,
        0,
        "the source should be stopped"
    );
    let conf = ok("src", &format!("cat {}/config/config.php", f.root));
    assert!(conf.contains("'maintenance' => true,"), "{conf}");
    let o = f
        .migrate()
        .args(["abort", "--file"])
        .arg(&f.op.file)
        .output()
        .expect("abort");
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("started the app on the source again"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("restored the original DNS TTLs"),
        "{}",
        stdout(&o)
    );
    for srv in [knot.primary(), knot.secondary()] {
        assert_eq!(
            knot.rrset(&srv, "cloud.example.test", "A"),
            (20, vec!["127.0.0.2".to_string()])
        );
    }
    let (code, st) = f.http("127.0.0.2", "/status.php");
    assert_eq!(code, 200);
    assert_eq!(
        st["maintenance"], false,
        "maintenance mode must be off again"
    );
    let o = f.app(&[]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "an aborted migration is not resumed"
    );
}

#[test]
fn https_checks_verify_the_certificate_for_the_production_name() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let certs = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(certs.path(), "lab CA");
    for n in [DOMAIN, "wrong.example.test"] {
        ca.leaf(n, &format!("DNS:{n}"));
    }
    let ca = ca.pem();
    let f = Fixture::new("nctls", &format!("tls_ca = {:?}", ca.display().to_string()));
    let tls_port = lab::port();
    for n in [DOMAIN, "wrong.example.test"] {
        for ext in ["pem", "key"] {
            let data = std::fs::read(certs.path().join(format!("{n}.{ext}"))).expect("cert");
            lab::put("src", &f.base, &[(&format!("{n}.{ext}"), &data, "600")]);
        }
    }
    let pidfile = format!("{}/tls.pid", f.base);
    // Stops the TLS front the test starts on src, by its recorded PID.
    let front = lab::Cleanup::on(
        "src",
        format!("test -f {pidfile} && kill $(cat {pidfile}) 2>/dev/null; rm -f {pidfile}"),
    );
    let serve = |name: &str| {
        let _ = lab::sh(
            "src",
            &format!("test -f {pidfile} && kill $(cat {pidfile}) 2>/dev/null; sleep 0.2; true"),
        );
        ok(
            "src",
            &format!(
                "cd {r} && (python3 status.py 127.0.0.2:{tls_port} {b}/{name}.pem {b}/{name}.key >> {b}/tls.log 2>&1 < /dev/null & echo $! > {pidfile}) && for i in $(seq 1 100); do curl -sk -o /dev/null https://127.0.0.2:{tls_port}/ && exit 0; sleep 0.1; done; exit 1",
                r = f.root,
                b = f.base
            ),
        );
    };
    serve(DOMAIN);
    // Only HTTPS answers on the source: the plain front is stopped.
    ok(
        "src",
        &format!("kill $(cat {b}/app.pid) && rm -f {b}/app.pid", b = f.base),
    );
    let toml = std::fs::read_to_string(&f.op.file).expect("file").replacen(
        &format!("http = \"127.0.0.2:{}\"", f.port),
        &format!("https = \"127.0.0.2:{tls_port}\""),
        1,
    );
    std::fs::write(&f.op.file, &toml).expect("write");
    let plan = |file: &std::path::Path| {
        f.migrate()
            .args(["plan", "--file"])
            .arg(file)
            .output()
            .expect("plan")
    };
    // The version is read over TLS, SNI and certificate for the domain.
    let o = plan(&f.op.file);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    assert!(
        text.contains("Source runs Nextcloud 28.0.4")
            && text.contains("(probe status-version read"),
        "{text}"
    );
    assert!(!text.contains("Version probe"), "{text}");

    // A certificate for another name: the HTTPS probe fails naming the
    // certificate problem (version.php still answers).
    serve("wrong.example.test");
    let o = plan(&f.op.file);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    assert!(text.contains("(probe version-php read"), "{text}");
    assert!(
        text.contains("Version probe status-version:")
            && text.contains("certificate")
            && text.contains("fix the certificate"),
        "{text}"
    );
    // The right name but a CA nobody named: the built-in roots refuse it.
    serve(DOMAIN);
    let no_ca = f.op.file.with_file_name("no-ca.toml");
    std::fs::write(&no_ca, toml.replacen("tls_ca = ", "# tls_ca = ", 1)).expect("write");
    let o = plan(&no_ca);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    assert!(text.contains("UnknownIssuer"), "{text}");
    ok("dst", &format!("test ! -e {}", f.root));
    drop(front);
}

#[test]
fn an_upgrade_hop_runs_in_the_window_and_waits_for_what_only_a_person_can_do() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let _one = one_copy_at_a_time();
    let f = Fixture::new("nchop", "target_version = \"28.0.14\"");
    let o = f
        .migrate()
        .args(["plan", "--file"])
        .arg(&f.op.file)
        .output()
        .expect("plan");
    let plan = stdout(&o);
    assert!(o.status.success(), "{plan}{}", stderr(&o));
    assert!(
        plan.contains("Upgrade hops: 28.0.4") && plan.contains(" -> 28.0.14"),
        "{plan}"
    );

    // The source was left in maintenance mode by its admin: its checks fail
    // before anything moves, which the run says up front and the report
    // does not blame on the migration.
    ok(
        "src",
        &format!(
            "cd {} && PATH={}/bin:$PATH php occ maintenance:mode --on",
            f.root, f.base
        ),
    );
    let src_tree = f.tree("src");

    // Unattended, the run stops where a person must put the new code in
    // place: everything before is done, nothing after has started.
    let o = f.app(&[]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("check status-maintenance already FAILS on the source, before anything moved"),
        "{err}"
    );
    let deploy = "hop1-nextcloud-28.0.14-deploy";
    assert!(
        err.contains("it needs a person") && err.contains(&format!("--done {deploy}")),
        "{err}"
    );
    let journal = std::fs::read_to_string(f.journal()).expect("journal");
    assert!(
        journal.contains("\"step\":\"database-nextcloud\",\"event\":\"done\""),
        "{journal}"
    );
    assert!(!journal.contains("occ-upgrade"), "{journal}");
    assert_eq!(f.config_value("dst", "version"), "28.0.4.1");

    // The person deploys 28.0.14's code on dst, and says so.
    ok(
        "dst",
        &format!(
            "sed -i -e 's/array(28,0,4,1)/array(28,0,14,1)/' -e \"s/'28.0.4'/'28.0.14'/\" {}/version.php",
            f.root
        ),
    );
    let o = f.app(&["--done", deploy]);
    let report = stdout(&o);
    assert!(o.status.success(), "{report}{}", stderr(&o));
    assert!(
        stderr(&o).contains("done by hand (--done)"),
        "{}",
        stderr(&o)
    );
    // occ upgrade moved the installed version to the code's; the app on dst
    // reports 28.0.14 and needs no database upgrade; the source is unchanged.
    assert_eq!(f.config_value("dst", "version"), "28.0.14.1");
    let (code, status) = f.http("127.0.0.3", "/status.php");
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["versionstring"], "28.0.14");
    assert_eq!(status["needsDbUpgrade"], false);
    assert_eq!(status["maintenance"], false);
    assert_eq!(f.tree("src"), src_tree);
    assert_eq!(f.config_value("src", "version"), "28.0.4.1");
    assert!(
        report.contains("VERDICT: PASS") && report.contains("| fixed |"),
        "{report}"
    );
}

/// Attended, the run asks before anything acts and once more before the
/// window opens; that last prompt shows every command the window will run
/// and names the steps only a person can do inside it (here: starting the
/// app on the destination, for which no command is configured). Declining
/// it leaves the source app running.
#[test]
fn the_window_prompt_shows_its_commands_and_the_steps_left_to_a_person() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let _one = one_copy_at_a_time();
    let f = Fixture::new("ncwindow", "");
    // No start command for the destination: starting it is a person's step.
    let toml = std::fs::read_to_string(&f.op.file).expect("migration file");
    let (head, dst) = toml.split_once("[destination]").expect("destination table");
    let dst: String = dst
        .lines()
        .filter(|l| !l.starts_with("start = "))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&f.op.file, format!("{head}[destination]{dst}")).expect("rewrite");
    let h = f.op.home.path();
    let script = format!(
        "cd / && env XDG_DATA_HOME={h}/data XDG_CACHE_HOME={cache} XDG_CONFIG_HOME={h}/config XDG_STATE_HOME={h}/state \
         {bin} app --file {file}; echo EXIT=$?; sleep 600",
        h = h.display(),
        cache = crate::support::fixtures::target_dir()
            .join("test-app-cache")
            .display(),
        bin = crate::support::cli::migrate_bin().display(),
        file = f.op.file.display(),
    );
    let term = crate::support::tmux::Tmux::start(h, &script);
    term.wait_for(
        "Run the plan's changing steps",
        std::time::Duration::from_secs(120),
    );
    term.answer("y");
    let pane = term.wait_for(
        "Start the downtime window now",
        std::time::Duration::from_secs(300),
    );
    let window = pane
        .split("The downtime window runs these steps")
        .nth(1)
        .unwrap_or_else(|| panic!("no list of the window's commands:\n{pane}"));
    // The source's stop command, verbatim, and the final pass are in it.
    assert!(
        window.contains(&format!("kill $(cat {}/app.pid)", f.base)),
        "{window}"
    );
    assert!(window.contains("final"), "{window}");
    assert!(
        window.contains("only you can do, by hand, while the app is down")
            && window.contains("Start the app on the destination"),
        "the person's step inside the window is not announced:\n{window}"
    );
    term.answer("n");
    let end = term.wait_for("EXIT=", std::time::Duration::from_secs(60));
    assert!(
        !end.contains("EXIT=0"),
        "declining must not succeed:\n{end}"
    );
    // Seen from outside: the source app still answers, out of maintenance.
    let (code, st) = f.http("127.0.0.2", "/status.php");
    assert_eq!(code, 200, "the source app must still run");
    assert_eq!(st["maintenance"], false);
}
