//! `migrate app` for Mastodon in the two-server lab: a from-source install
//! (~mastodon/live: .env.production with 4.3 secrets, version.rb, the
//! public/system media hash tree, a PostgreSQL database with accounts,
//! statuses and media rows; a stand-in web process serving /health and
//! /api/v1/instance from those files and that database) moved from src to
//! dst, killed during the sync and rerun.

use std::path::PathBuf;
use std::process::Command;

use crate::support::cli::{Operator, stderr, stdout};
use crate::support::fixtures::workspace_root;
use crate::support::http;
use crate::support::lab::{self, Need, ok};

const DOMAIN: &str = "social.example.test";

struct Fixture {
    base: String,
    root: String,
    db: String,
    port: u16,
    op: Operator,
}

impl Fixture {
    fn new() -> Fixture {
        let pid = std::process::id();
        let base = format!("/srv/test-app-masto-{pid}");
        let root = format!("{base}/live");
        let db = format!("test_app_masto_{pid}");
        let port = lab::port();
        let ex = workspace_root().join("examples/lab-mastodon");
        lab::put_tree(
            &["src", "dst"],
            &ex,
            &["app", "bundle"],
            &base,
            &format!("mkdir -p {base}/bin && mv -f {base}/bundle {base}/bin/bundle"),
        );
        lab::install(
            "src",
            &format!("bash -s -- {root} {db} {DOMAIN}"),
            &ex.join("install-source.sh"),
        );
        // The same system user on dst, with the same numeric ids (a
        // from-source install runs as `mastodon`; files keep their uid).
        let ids = ok("src", "id -u mastodon; id -g mastodon");
        let mut it = ids.split_whitespace();
        let (uid, gid) = (it.next().unwrap_or("0"), it.next().unwrap_or("0"));
        ok(
            "dst",
            &format!(
                "id mastodon >/dev/null 2>&1 || {{ groupadd -g {gid} mastodon; useradd -r -u {uid} -g {gid} -m -d /home/mastodon mastodon; }}"
            ),
        );
        let f = Fixture {
            base: base.clone(),
            root: root.clone(),
            db: db.clone(),
            port,
            op: Operator::new(),
        };
        ok("src", &f.start_cmd("127.0.0.2"));
        let side = |host: &str, addr: &str, extra: &str| {
            format!(
                "host = \"{host}\"\nroot = \"{root}\"\nhttp = \"{addr}:{port}\"\npath = [\"{base}/bin\"]\n{extra}start = {start:?}\ndatabases = {{ mastodon_production = \"{db}\" }}\nservice_users = {{ web = \"mastodon\", db = \"mastodon\" }}\n",
                start = f.start_cmd(addr),
            )
        };
        let toml = format!(
            "app = \"mastodon\"\ndomain = \"{DOMAIN}\"\nbackup_dir = \"{base}/backup\"\n# The lab has no Redis (queues start empty) and no nginx page to edit; the\n# stop command below stops web, streaming and sidekiq.\nskip_steps = [\"maintenance-page\", \"stop-app\", \"redis-save\"]\n\n[source]\n{}\n[destination]\n{}",
            side(
                &lab::src_url(),
                "127.0.0.2",
                &format!("stop = \"kill $(cat {base}/app.pid) && rm -f {base}/app.pid\"\n"),
            ),
            side(&lab::dst_url(), "127.0.0.3", ""),
        );
        std::fs::write(&f.op.file, toml).expect("write migration file");
        f
    }

    fn start_cmd(&self, addr: &str) -> String {
        let (b, r, p) = (&self.base, &self.root, self.port);
        format!(
            "cd {r} && (runuser -u mastodon -- python3 server.py {addr}:{p} >> {b}/app.log 2>&1 < /dev/null & echo $! > {b}/app.pid) && for i in $(seq 1 100); do curl -s -o /dev/null http://{addr}:{p}/ && exit 0; sleep 0.1; done; exit 1"
        )
    }

    fn migrate(&self) -> Command {
        self.op.migrate()
    }

    fn journal(&self) -> PathBuf {
        self.op.journal()
    }

    fn tree(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "cd {} && find . ! -path './public/packs*' ! -path ./public -printf '%P %y %s %T@ %m %u:%g\\n' | sort && find . -type f ! -path './public/packs/*' -print0 | sort -z | xargs -0 sha256sum",
                self.root
            ),
        )
    }

    fn rows(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "cd / && for t in accounts statuses media_attachments schema_migrations; do printf '%s ' $t; runuser -u postgres -- psql -X -Atqd {} -c \"select count(*), md5(string_agg(t::text, ',' order by t::text)) from $t t\"; done",
                self.db
            ),
        )
    }

    fn get(&self, addr: &str, path: &str) -> (u16, String) {
        http::get(addr, self.port, DOMAIN, path)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let script = format!(
            "test -f {b}/app.pid && kill $(cat {b}/app.pid) 2>/dev/null; rm -rf {b}; cd / && runuser -u postgres -- psql -X -q -c 'DROP DATABASE IF EXISTS \"{d}\"' >/dev/null 2>&1; true",
            b = self.base,
            d = self.db
        );
        for h in ["src", "dst"] {
            let _ = lab::sh(h, &script);
        }
    }
}

#[test]
fn mastodon_moves_with_its_secrets_media_and_database() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let f = Fixture::new();
    let src_tree = f.tree("src");
    let src_rows = f.rows("src");
    let env_src = ok("src", &format!("cat {}/.env.production", f.root));

    let o = f
        .migrate()
        .args(["plan", "--file"])
        .arg(&f.op.file)
        .output()
        .expect("plan");
    let plan = stdout(&o);
    assert!(o.status.success(), "{plan}{}", stderr(&o));
    assert!(plan.contains("Source runs Mastodon 4.3.2"), "{plan}");
    assert!(
        plan.contains("Keep ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY"),
        "{plan}"
    );

    // Killed during the live copy, then rerun to the end.
    f.op.kill_at("pre-sync");
    let o = f
        .migrate()
        .args(["app", "--yes", "--file"])
        .arg(&f.op.file)
        .output()
        .expect("app");
    let report = stdout(&o);
    assert!(o.status.success(), "{report}{}", stderr(&o));

    // Media, config and database identical; secrets carried.
    assert_eq!(f.tree("dst"), src_tree);
    assert_eq!(f.rows("dst"), src_rows);
    assert_eq!(
        ok("dst", &format!("cat {}/.env.production", f.root)),
        env_src
    );
    ok(
        "dst",
        &format!("test -s {}/public/packs/manifest.json", f.root),
    );
    // Healthy on dst through the production hostname; the source stopped.
    let (code, body) = f.get("127.0.0.3", "/api/v1/instance");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["version"], "4.3.2");
    assert_eq!(v["stats"]["user_count"], 25);
    assert_eq!(f.get("127.0.0.3", "/health"), (200, "OK".to_string()));
    assert_eq!(f.get("127.0.0.2", "/health").0, 0);
    // The report: the accounts count equal before and after, verdict, follow-ups.
    assert!(
        report.contains("| `accounts` | pass (65) | pass (65) | same |"),
        "{report}"
    );
    assert!(report.contains("VERDICT: PASS"), "{report}");
    assert!(
        report.contains("- [ ] Update the nginx config and re-run Let's Encrypt"),
        "{report}"
    );
    let secret = env_src
        .lines()
        .find_map(|l| l.strip_prefix("SECRET_KEY_BASE="))
        .expect("secret");
    let journal = std::fs::read_to_string(f.journal()).expect("journal");
    assert!(
        !journal.contains(secret) && !report.contains(secret),
        "a secret leaked"
    );
}
