//! `migrate app` for Mastodon in the two-server lab: a from-source install
//! (~mastodon/live: .env.production with 4.3 secrets, version.rb, the
//! public/system media hash tree, a PostgreSQL database with accounts,
//! statuses and media rows; a stand-in web process serving /health and
//! /api/v1/instance from those files and that database; a Redis with
//! Sidekiq's queued jobs and a stand-in Sidekiq processing them) moved from
//! src to dst, killed during the sync and rerun.

use std::path::PathBuf;
use std::process::Command;

use crate::support::cli::{Operator, stderr, stdout};
use crate::support::fixtures::workspace_root;
use crate::support::http;
use crate::support::lab::{self, Need, ok};

const DOMAIN: &str = "social.example.test";

pub(crate) struct Fixture {
    pub(crate) base: String,
    /// The app's Redis socket: the same path on both servers.
    sock: String,
    pub(crate) root: String,
    db: String,
    port: u16,
    pub(crate) op: Operator,
}

impl Fixture {
    /// `tag` keeps the module's tests, which run at once, apart.
    pub(crate) fn new(tag: &str) -> Fixture {
        let pid = std::process::id();
        let base = format!("/srv/test-app-masto{tag}-{pid}");
        let root = format!("{base}/live");
        let db = format!("test_app_masto{tag}_{pid}");
        let port = lab::port();
        let name = format!("test-app-masto{tag}-{pid}");
        let sock = format!("/run/redis-{name}/redis.sock");
        let ex = workspace_root().join("examples/lab-mastodon");
        // Each server runs its own Redis, as after Mastodon's install
        // guide: the source's holds the queues, the destination's is empty.
        for h in ["src", "dst"] {
            lab::install(h, &format!("bash -s -- {name}"), &ex.join("redis.sh"));
        }
        lab::put_tree(
            &["src", "dst"],
            &ex,
            &["app", "bundle"],
            &base,
            &format!("mkdir -p {base}/bin && mv -f {base}/bundle {base}/bin/bundle"),
        );
        lab::install(
            "src",
            &format!("REDIS_SOCKET={sock} bash -s -- {root} {db} {DOMAIN}"),
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
                "id mastodon >/dev/null 2>&1 || {{ groupadd -g {gid} mastodon; useradd -r -u {uid} -g {gid} -m -d /home/mastodon mastodon; }} || id mastodon >/dev/null"
            ),
        );
        // The stand-in tootctl writes what it ran here (see its source).
        ok(
            "dst",
            &format!("touch {base}/tootctl.log && chown mastodon {base}/tootctl.log"),
        );
        let f = Fixture {
            base: base.clone(),
            sock,
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
            "app = \"mastodon\"\ndomain = \"{DOMAIN}\"\nbackup_dir = \"{base}/backup\"\n# The lab has no nginx page to edit; the stop command below stops web,\n# streaming and sidekiq.\nskip_steps = [\"maintenance-page\", \"stop-app\"]\n\n[source]\n{}\n[destination]\n{}",
            side(
                &lab::src_url(),
                "127.0.0.2",
                &format!(
                    "stop = \"kill $(cat {base}/app.pid) && rm -f {base}/app.pid && {{ test ! -f {base}/worker.pid || kill -TERM $(cat {base}/worker.pid); }}\"\n"
                ),
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

    /// Start the stand-in Sidekiq on `host`; it appends each job it
    /// finishes to BASE/processed.log.
    fn start_worker(&self, host: &str) {
        ok(
            host,
            &format!(
                // setpriv execs the worker itself (runuser would stand
                // between it and the stop command's SIGTERM, and kill it
                // two seconds later).
                "touch {b}/processed.log && chown mastodon {b}/processed.log && cd {r} && (setpriv --reuid mastodon --regid mastodon --init-groups python3 worker.py run {b}/processed.log >> {b}/worker.log 2>&1 < /dev/null & echo $! > {b}/worker.pid)",
                r = self.root,
                b = self.base
            ),
        );
    }

    fn worker(&self, host: &str, args: &str) {
        ok(
            host,
            &format!(
                "cd {} && runuser -u mastodon -- python3 worker.py {args}",
                self.root
            ),
        );
    }

    /// redis-cli against the app's Redis on `host`.
    fn redis(&self, host: &str, args: &str) -> String {
        ok(host, &format!("redis-cli -s {} {args}", self.sock))
            .trim()
            .to_string()
    }

    /// Every key of the app's Redis with its type and size, sorted.
    fn redis_keys(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "r() {{ redis-cli -s {} \"$@\"; }}; r --scan | sort | while read -r k; do t=$(r type \"$k\"); case $t in list) n=$(r llen \"$k\");; zset) n=$(r zcard \"$k\");; set) n=$(r scard \"$k\");; hash) n=$(r hlen \"$k\");; *) n=$(r strlen \"$k\");; esac; echo \"$k $t $n\"; done",
                self.sock
            ),
        )
    }

    /// The jids waiting in queue:default and the schedule.
    fn queued_jids(&self, host: &str) -> Vec<String> {
        let text = format!(
            "{}\n{}",
            self.redis(host, "lrange queue:default 0 -1"),
            self.redis(host, "zrange schedule 0 -1")
        );
        let mut jids: Vec<String> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["jid"].as_str().map(str::to_string))
            .collect();
        jids.sort();
        jids
    }

    /// The jids the stand-in Sidekiq finished on `host`, with their class.
    fn processed(&self, host: &str) -> Vec<String> {
        let mut v: Vec<String> = ok(
            host,
            &format!("cat {}/processed.log 2>/dev/null; true", self.base),
        )
        .lines()
        .map(str::to_string)
        .collect();
        v.sort();
        v
    }

    /// A media file only its owner, another user than the app's, can read
    /// (as uploads written with a 0077 umask arrive); its path.
    fn private_media(&self) -> String {
        let path = format!(
            "{}/public/system/media_attachments/files/109/000/000/000/007/919/original/private.png",
            self.root
        );
        ok(
            "src",
            &format!(
                "head -c 4000 /dev/urandom > {path} && chown daemon:daemon {path} && chmod 0600 {path}"
            ),
        );
        path
    }

    pub(crate) fn migrate(&self) -> Command {
        self.op.migrate()
    }

    pub(crate) fn journal(&self) -> PathBuf {
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

    pub(crate) fn get(&self, addr: &str, path: &str) -> (u16, String) {
        http::get(addr, self.port, DOMAIN, path)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let name = self.base.trim_start_matches("/srv/");
        let script = format!(
            "test -f {b}/app.pid && kill $(cat {b}/app.pid) 2>/dev/null; test -f {b}/worker.pid && kill $(cat {b}/worker.pid) 2>/dev/null; redis-cli -s {s} shutdown nosave >/dev/null 2>&1; rm -rf {b} /var/lib/redis/{name} /etc/redis/{name}.conf /run/redis-{name}; cd / && runuser -u postgres -- psql -X -q -c 'DROP DATABASE IF EXISTS \"{d}\"' >/dev/null 2>&1; true",
            b = self.base,
            s = self.sock,
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
    let f = Fixture::new("");
    let private = f.private_media();
    let src_tree = f.tree("src");
    let src_rows = f.rows("src");
    let env_src = ok("src", &format!("cat {}/.env.production", f.root));
    // Sidekiq on the source: a long job running, 50 deliveries queued
    // behind it and one job scheduled for later.
    f.start_worker("src");
    f.worker("src", "enqueue 1 LabLongJob");
    let busy = (0..100).any(|_| {
        let ids = f.redis("src", "smembers processes");
        let b = ids
            .lines()
            .any(|id| f.redis("src", &format!("hget {id} busy")) == "1");
        if !b {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        b
    });
    assert!(busy, "the stand-in Sidekiq did not start the long job");
    f.worker("src", "enqueue 50");
    f.worker("src", "schedule 20");
    let jids = f.queued_jids("src");
    assert_eq!(jids.len(), 51, "{jids:?}");
    assert_eq!(f.redis("src", "llen queue:default"), "50");

    let o = f
        .migrate()
        .args(["plan", "--file"])
        .arg(&f.op.file)
        .output()
        .expect("plan");
    let plan = stdout(&o);
    assert!(o.status.success(), "{plan}{}", stderr(&o));
    assert!(plan.contains("Source runs Mastodon 4.3.2"), "{plan}");
    assert!(plan.contains("Carry Redis with its queued jobs"), "{plan}");
    assert!(
        plan.contains("Step \"tootctl-feeds-build\" is left out: Redis travels"),
        "{plan}"
    );
    // The unreadable media file is named, and left alone without the flag.
    assert!(
        plan.contains("Permissions: on the source, 1 path(s)")
            && plan.contains("f 600 daemon public/system/media_attachments/files/109/000/000/000/007/919/original/private.png")
            && plan.contains("plan and run with --fix-permissions"),
        "{plan}"
    );
    // Sidekiq's queue lengths, read before the window.
    assert!(
        plan.contains("Sidekiq queues: default 50; schedule 1, retry 0, dead 0"),
        "{plan}"
    );
    assert!(
        plan.contains("Keep ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY"),
        "{plan}"
    );
    // The database is rehearsed into a scratch database before the window.
    assert!(
        plan.contains("Rehearse the database move")
            && plan.contains(&format!("{}_migrate_rehearsal", f.db)),
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

    // Redis carried: the 50 queued jobs and the scheduled one are in the
    // destination's Redis; the long job finished on the source first.
    let name = f.base.trim_start_matches("/srv/");
    let dst_keys = f.redis_keys("dst");
    assert!(dst_keys.contains("queue:default list 50\n"), "{dst_keys}");
    assert!(dst_keys.contains("schedule zset 1\n"), "{dst_keys}");
    assert!(!dst_keys.contains("processes"), "{dst_keys}");
    assert_eq!(f.queued_jids("dst"), jids);
    let src_done = f.processed("src");
    assert!(
        src_done.len() == 1 && src_done[0].ends_with(" LabLongJob"),
        "{src_done:?}"
    );
    // The append-only files came too, and the destination's own were kept.
    ok(
        "dst",
        &format!(
            "cd /var/lib/redis/{name} && test -d appendonlydir && ls -d dump.rdb.before-* appendonlydir.before-*"
        ),
    );
    // The source's Redis, started again from its own files, holds what the
    // destination holds.
    ok(
        "src",
        &format!(
            "runuser -u redis -- redis-server /etc/redis/{name}.conf && for i in $(seq 100); do redis-cli -s {s} ping | grep -q PONG && exit 0; sleep 0.1; done; exit 1",
            s = f.sock
        ),
    );
    assert_eq!(f.redis_keys("src"), dst_keys);
    // The destination's Sidekiq processes every one of them, the scheduled
    // job once it is due.
    f.start_worker("dst");
    let mut done = Vec::new();
    for _ in 0..600 {
        done = f.processed("dst");
        if done.len() >= 51 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut done_jids: Vec<String> = done
        .iter()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    done_jids.sort();
    assert_eq!(done_jids, jids, "{done:?}");
    assert_eq!(f.redis("dst", "llen queue:default"), "0");
    assert_eq!(f.redis("dst", "zcard schedule"), "0");

    // Media, config and database identical; secrets carried.
    assert_eq!(f.tree("dst"), src_tree);
    assert_eq!(f.rows("dst"), src_rows);
    // The rehearsal ran before the window and left no scratch database.
    let scratch = format!("{}_migrate_rehearsal", f.db);
    assert_eq!(
        ok(
            "dst",
            &format!(
                "cd / && runuser -u postgres -- psql -X -Atq -c \"select count(*) from pg_database where datname = '{scratch}'\""
            )
        )
        .trim(),
        "0",
        "the rehearsal's database is still on dst"
    );
    let journal = std::fs::read_to_string(f.journal()).unwrap_or_default();
    let at = |step: &str, event: &str| {
        journal.lines().position(|l| {
            l.contains(&format!("\"step\":\"{step}\""))
                && l.contains(&format!("\"event\":\"{event}\""))
        })
    };
    let rehearsed = at("rehearse-database-mastodon_production", "done");
    assert!(
        rehearsed.is_some() && rehearsed < at("stop-source", "start"),
        "the rehearsal did not finish before the window:\n{journal}"
    );
    assert!(
        report.contains("Downtime: ") && report.contains(" s measured (predicted "),
        "{report}"
    );
    assert_eq!(
        ok("dst", &format!("cat {}/.env.production", f.root)),
        env_src
    );
    // No upgrade: the assets are not compiled again, and the feeds, which
    // travelled in Redis, are not rebuilt.
    ok(
        "dst",
        &format!("test ! -e {}/public/packs/manifest.json", f.root),
    );
    // tootctl on dst cleared the cache; it did not rebuild the feeds, nor
    // deploy search, which .env.production leaves off (ES_ENABLED=false).
    assert_eq!(
        ok("dst", &format!("cat {}/tootctl.log", f.base)).trim(),
        "cache clear"
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
    assert_eq!(
        ok("dst", &format!("stat -c '%a %U' {private}")).trim(),
        "600 daemon"
    );
    assert!(report.contains("left as they came: 1 path(s)"), "{report}");
    assert!(
        report.contains("- Sidekiq: queues: default 50; schedule 1, retry 0, dead 0 on the source before the window, queues: default 50; schedule 1, retry 0, dead 0 on the destination after"),
        "{report}"
    );
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

/// With --fix-permissions, a media file the web server cannot read arrives
/// on the destination owned by the app's user with mode 0644; the source's
/// stays as it was.
#[test]
fn media_the_web_server_cannot_read_is_fixed_with_the_flag() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let f = Fixture::new("-perm");
    let private = f.private_media();
    let o = f
        .migrate()
        .args(["app", "--yes", "--fix-permissions", "--file"])
        .arg(&f.op.file)
        .output()
        .expect("app");
    let report = stdout(&o);
    assert!(o.status.success(), "{report}{}", stderr(&o));
    assert_eq!(
        ok("dst", &format!("stat -c '%a %U:%G' {private}")).trim(),
        "644 mastodon:mastodon"
    );
    assert_eq!(
        ok("src", &format!("stat -c '%a %U' {private}")).trim(),
        "600 daemon"
    );
    assert!(report.contains("fixed (owner the app's user"), "{report}");
    // Nothing else under public/system was touched.
    let others = |h: &str| {
        ok(
            h,
            &format!(
                "cd {} && find public/system ! -name private.png -printf '%P %m %u\\n' | sort",
                f.root
            ),
        )
    };
    assert_eq!(others("dst"), others("src"));
}

/// Interrupted once Redis has moved, then aborted: the source's Redis runs
/// again with its queued jobs, started the way it ran, and the app answers
/// on the source.
#[test]
fn an_aborted_move_starts_the_sources_redis_again() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let f = Fixture::new("-abort");
    f.worker("src", "enqueue 5");
    f.op.kill_at("start-destination");
    let down = lab::sh("src", &format!("redis-cli -s {} ping", f.sock));
    assert!(
        !String::from_utf8_lossy(&down.stdout).contains("PONG"),
        "the source's Redis still runs after the redis step"
    );
    let o = f
        .migrate()
        .args(["abort", "--file"])
        .arg(&f.op.file)
        .output()
        .expect("abort");
    let out = format!("{}{}", stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}");
    assert!(out.contains("started Redis on the source again"), "{out}");
    assert_eq!(f.redis("src", "llen queue:default"), "5");
    assert_eq!(f.get("127.0.0.2", "/health"), (200, "OK".to_string()));
}
