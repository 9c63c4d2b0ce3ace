//! `migrate app mastodon --from src --to dst --domain …` with no layout
//! flags: a from-source Mastodon under /home/mastodon is found by its
//! `.env.production`, its database and Redis read from it, its systemd
//! units (upstream's three, installed as files) found by the directory
//! they name and used to stop it on the source and start it on the
//! destination, after their files are carried there and enabled.
//!
//! The lab runs no systemd: while this module runs, `systemctl` on both
//! servers is the stand-in in examples/lab-mastodon/systemd (its README
//! says what of systemd it copies). The test checks processes, files and
//! rows on the servers, not the tool's report.

use crate::support::cli::{Operator, stderr, stdout};
use crate::support::fixtures::workspace_root;
use crate::support::http;
use crate::support::lab::{self, Need, ok};

const UNITS: [&str; 3] = ["mastodon-sidekiq", "mastodon-streaming", "mastodon-web"];

struct Install {
    base: String,
    root: String,
    db: String,
    name: String,
    sock: String,
    domain: String,
    port: u16,
}

impl Install {
    fn new() -> Install {
        let pid = std::process::id();
        let name = format!("disco-masto-{pid}");
        let base = format!("/home/mastodon/{name}");
        let i = Install {
            root: format!("{base}/live"),
            base,
            db: format!("disco_masto_{pid}"),
            sock: format!("/run/redis-{name}/redis.sock"),
            domain: format!("m{pid}.discovery.test"),
            port: lab::port(),
            name,
        };
        let ex = workspace_root().join("examples/lab-mastodon");
        // The app's system user first (its home holds the install), with
        // the same ids on dst: a from-source install's files keep their uid.
        ok(
            "src",
            "id mastodon >/dev/null 2>&1 || useradd -r -m -d /home/mastodon -s /bin/sh mastodon",
        );
        let ids = ok("src", "id -u mastodon; id -g mastodon");
        let mut it = ids.split_whitespace();
        let (uid, gid) = (it.next().unwrap_or("0"), it.next().unwrap_or("0"));
        ok(
            "dst",
            &format!(
                "id mastodon >/dev/null 2>&1 || {{ groupadd -g {gid} mastodon; useradd -r -u {uid} -g {gid} -m -d /home/mastodon mastodon; }} || id mastodon >/dev/null"
            ),
        );
        for h in ["src", "dst"] {
            lab::install(h, &format!("bash -s -- {}", i.name), &ex.join("redis.sh"));
        }
        // Ruby's stand-ins on both servers (a destination has the app's
        // runtime installed before a move), the systemctl stand-in, and
        // where each server's web answers (the units' EnvironmentFile).
        let b = &i.base;
        lab::put_tree(
            &["src", "dst"],
            &ex,
            &["app", "bundle", "node", "systemd"],
            b,
            &format!(
                "mkdir -p {b}/bin && mv -f {b}/bundle {b}/node {b}/bin/ && chown -R mastodon: {b} && touch {b}/tootctl.log && chown mastodon {b}/tootctl.log && {{ test -e /usr/local/bin/systemctl || {{ cp {b}/systemd/systemctl /usr/local/bin/systemctl && touch /usr/local/bin/.systemctl-lab-shim; }}; }}"
            ),
        );
        for (h, addr) in [("src", "127.0.0.2"), ("dst", "127.0.0.3")] {
            ok(
                h,
                &format!(
                    "printf 'BIND={addr}\\nPORT={}\\n' > /etc/default/{}",
                    i.port, i.name
                ),
            );
        }
        lab::install(
            "src",
            &format!(
                "REDIS_SOCKET={} bash -s -- {} {} {}",
                i.sock, i.root, i.db, i.domain
            ),
            &ex.join("install-source.sh"),
        );
        // The units, as files, on the source only.
        for u in UNITS {
            ok(
                "src",
                &format!(
                    "sed -e 's#@ROOT@#{r}#g' -e 's#@BIN@#{b}/bin#g' -e 's#@NAME@#{n}#g' {b}/systemd/{u}.service > /etc/systemd/system/{u}.service",
                    r = i.root,
                    n = i.name
                ),
            );
        }
        ok(
            "src",
            &format!(
                "systemctl enable {0} && systemctl start {0}",
                UNITS.join(" ")
            ),
        );
        assert!(i.serves("127.0.0.2"), "the source's web unit did not start");
        i
    }

    fn serves(&self, addr: &str) -> bool {
        (0..100).any(|_| {
            let ok = http::get(addr, self.port, &self.domain, "/health").0 == 200;
            if !ok {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            ok
        })
    }

    /// The user each unit's process runs as on `host` (empty: not running).
    fn processes(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "for u in {}; do p=$(cat /run/lab-systemctl/$u.service.pid 2>/dev/null); printf '%s %s\\n' $u \"$(test -n \"$p\" && ps -o user= -p $p)\"; done",
                UNITS.join(" ")
            ),
        )
    }

    fn tree(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "cd {} && find . ! -path './public/packs*' ! -path ./public -printf '%P %y %s %m %u:%g\\n' | sort && find . -type f ! -path './public/packs/*' -print0 | sort -z | xargs -0 sha256sum",
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

    fn units(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "cd /etc/systemd/system && for u in {}; do sha256sum $u.service; readlink multi-user.target.wants/$u.service; done",
                UNITS.join(" ")
            ),
        )
    }

    fn args(&self) -> Vec<String> {
        [
            "mastodon",
            "--from",
            &lab::src_url(),
            "--to",
            &lab::dst_url(),
            "--domain",
            &self.domain,
            "--src-http",
            &format!("127.0.0.2:{}", self.port),
            "--dst-http",
            &format!("127.0.0.3:{}", self.port),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

impl Drop for Install {
    fn drop(&mut self) {
        let units = UNITS.join(" ");
        let script = format!(
            "systemctl stop {units} >/dev/null 2>&1; for u in {units}; do rm -f /etc/systemd/system/$u.service /etc/systemd/system/multi-user.target.wants/$u.service; done; redis-cli -s {s} shutdown nosave >/dev/null 2>&1; rm -rf {b} /etc/default/{n} /var/lib/redis/{n} /etc/redis/{n}.conf /run/redis-{n}; cd / && runuser -u postgres -- psql -X -q -c 'DROP DATABASE IF EXISTS \"{d}\"' >/dev/null 2>&1; test -e /usr/local/bin/.systemctl-lab-shim && rm -f /usr/local/bin/systemctl /usr/local/bin/.systemctl-lab-shim; true",
            s = self.sock,
            b = self.base,
            n = self.name,
            d = self.db
        );
        for h in ["src", "dst"] {
            let _ = lab::sh(h, &script);
        }
    }
}

#[test]
fn a_source_mastodon_is_found_with_its_units_and_moved_without_layout_flags() {
    let _lab = lab::enter(module_path!(), Need::Ssh);
    let i = Install::new();
    let op = Operator::new();
    let running = |host: &str| {
        UNITS
            .iter()
            .map(|u| format!("{u} mastodon\n"))
            .collect::<String>()
            == i.processes(host)
    };
    assert!(running("src"), "{}", i.processes("src"));
    let src_units = i.units("src");
    let (tree, rows) = (i.tree("src"), i.rows("src"));

    // The plan: everything found on the source, nothing named by a flag.
    let o = op
        .migrate()
        .args(["app", "plan"])
        .args(i.args())
        .output()
        .expect("plan");
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "Found mastodon on {}: {} (plain directory), domain {}, postgresql database {} (user mastodon, on /var/run/postgresql), Redis unix://{}, systemd units mastodon-sidekiq.service, mastodon-streaming.service, mastodon-web.service",
            lab::src_url(),
            i.root,
            i.domain,
            i.db,
            i.sock
        )),
        "{err}"
    );
    assert!(
        err.contains("stop/start: its systemd units (systemctl stop mastodon-sidekiq.service mastodon-streaming.service mastodon-web.service"),
        "{err}"
    );
    assert!(
        out.contains("Carry the app's systemd units (mastodon-sidekiq.service, mastodon-streaming.service, mastodon-web.service)"),
        "{out}"
    );
    assert!(out.contains("Carry Redis with its queued jobs"), "{out}");
    // The plugin's "stop it by hand" is what the units do now.
    assert!(
        out.contains("skipped by the migration file: stop-app ("),
        "{out}"
    );
    assert!(
        !op.home.path().join("data/migrate/migrations").exists(),
        "a plan starts no journal"
    );

    // The move.
    let o = op
        .migrate()
        .args(["app", "--yes"])
        .args(i.args())
        // What discovery cannot do: the maintenance page is a person's.
        .args(["--done", "maintenance-page"])
        .output()
        .expect("app");
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));

    // The source's units stopped, the destination's running as the units'
    // user, from the carried and enabled unit files.
    assert_eq!(
        i.processes("src"),
        UNITS.iter().map(|u| format!("{u} \n")).collect::<String>(),
        "the source's units are stopped"
    );
    assert!(running("dst"), "{}", i.processes("dst"));
    assert_eq!(i.units("dst"), src_units, "unit files carried and enabled");
    assert!(i.serves("127.0.0.3"), "the destination answers");
    let (code, body) = http::get("127.0.0.3", i.port, &i.domain, "/api/v1/instance");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(&i.domain), "{body}");
    assert_eq!(i.tree("dst"), tree, "the files on dst");
    assert_eq!(i.rows("dst"), rows, "the database rows on dst");
    // The app's Redis moved: the destination's answers, the source's is
    // stopped for the window.
    assert_eq!(
        ok("dst", &format!("redis-cli -s {} ping", i.sock)).trim(),
        "PONG"
    );
}
