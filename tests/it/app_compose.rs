//! `migrate app` into and between docker-compose projects in the two-server
//! lab: Nextcloud from a plain-directory install on src into a compose
//! project on dst (its files in the project's `html` volume, PostgreSQL in
//! the project's `db` container). The dst project is the one in
//! examples/lab-nextcloud/compose, run by dst's own dockerd on lab/debian:1.
//! Everything is checked with the servers' own tools: the volume's files,
//! psql inside the container, the web front through the production name.

use std::ops::Deref;

use crate::support;
use crate::support::cli::{Operator, stderr, stdout};
use crate::support::dns;
use crate::support::http;
use crate::support::lab::{self, Need, keys, ok, sq};
use crate::support::masto_compose::{MastoCompose, Spec};
use crate::support::nc_compose::NcCompose;

const DOMAIN: &str = "cloud.example.test";

/// One migration at a time: each checks that no temporary key is left on
/// either server, which another test's copy in flight would break.
static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Nextcloud installed plainly on src, an empty compose project directory
/// on dst, the migration file between them; everything removed on drop.
struct Fixture(NcCompose);

impl Deref for Fixture {
    type Target = NcCompose;
    fn deref(&self) -> &NcCompose {
        &self.0
    }
}

impl Fixture {
    fn new() -> Fixture {
        Fixture(NcCompose::install(
            "test-app-ncc",
            "mtncc",
            "Nextcloud from a plain directory on src into a compose project on dst",
        ))
    }

    fn volume(&self) -> String {
        ok(
            "dst",
            &format!(
                "docker volume inspect -f '{{{{.Mountpoint}}}}' {}_html",
                self.project
            ),
        )
        .trim()
        .to_string()
    }

    /// Every file under a directory: path, type, size, mtime, mode, owner, sha256.
    fn tree(host: &str, dir: &str) -> String {
        ok(
            host,
            &format!(
                "cd {dir} && find . -printf '%P %y %s %T@ %m %U:%G\\n' | grep -v '^config/config.php ' | sort && find . -type f ! -path ./config/config.php -print0 | sort -z | xargs -0 sha256sum"
            ),
        )
    }

    fn rows_sql(&self) -> String {
        format!(
            "for t in oc_users oc_storages oc_filecache oc_appconfig; do printf '%s ' $t; psql -X -Atqd {} -c \"select count(*), md5(string_agg(t::text, ',' order by t::text)) from $t t\"; done",
            self.db
        )
    }

    fn http(&self, addr: &str, path: &str) -> (u16, serde_json::Value) {
        let (code, body) = http::get(addr, self.port, DOMAIN, path);
        (code, serde_json::from_str(&body).unwrap_or_default())
    }
}

fn config_value(text: &str, key: &str) -> String {
    text.lines()
        .find(|l| l.contains(&format!("'{key}' =>")))
        .and_then(|l| l.split('\'').nth(3))
        .unwrap_or("")
        .to_string()
}

#[test]
fn nextcloud_moves_from_a_plain_directory_into_a_compose_project() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _one = serial();
    let f = Fixture::new();
    let keys_before = (keys("src"), keys("dst"));
    let src_tree = Fixture::tree("src", &f.root);
    let src_rows = ok(
        "src",
        &format!("cd / && runuser -u postgres -- sh -c {}", sq(&f.rows_sql())),
    );
    let src_conf = ok("src", &format!("cat {}/config/config.php", f.root));
    let iid = config_value(&src_conf, "instanceid");
    assert!(iid.starts_with("oc"), "{src_conf}");

    // The plan names the compose project's steps.
    let o = f
        .run
        .migrate()
        .args(["plan", "--file"])
        .arg(&f.run.file)
        .output()
        .expect("plan");
    let plan = stdout(&o);
    assert!(o.status.success(), "{plan}{}", stderr(&o));
    assert!(
        plan.contains(&format!(
            "Create the volume {p}_html on the destination (labelled for compose project \"{p}\"",
            p = f.project
        )),
        "{plan}"
    );
    assert!(
        plan.contains("Point datadirectory at /var/www/html/data"),
        "{plan}"
    );
    // A dry run shows the container commands and changes nothing.
    let o = f
        .run
        .migrate()
        .args(["app", "--dry-run", "--file"])
        .arg(&f.run.file)
        .output()
        .expect("dry run");
    assert!(o.status.success(), "{}", stderr(&o));
    let dry = stdout(&o);
    assert!(
        dry.contains("run --rm --no-deps -T -u www-data -w /var/www/html app php occ config:system:set datadirectory"),
        "{dry}"
    );
    assert_eq!(
        ok(
            "dst",
            &format!(
                "docker ps -aq --filter label=com.docker.compose.project={} | wc -l",
                f.project
            )
        )
        .trim(),
        "0"
    );

    // Killed while loading the database into the container, then rerun.
    f.run.kill_at("database-nextcloud");
    let o = f.run.app(&[]);
    let report = stdout(&o);
    assert!(
        o.status.success(),
        "{report}{}\n{}",
        stderr(&o),
        std::fs::read_to_string(f.run.journal()).unwrap_or_default()
    );

    // The files are in the project's volume, identical (owners numeric).
    let vol = f.volume();
    assert_eq!(Fixture::tree("dst", &vol), src_tree);
    // The database is in the project's db container, rows equal.
    let dst_rows = ok(
        "dst",
        &format!(
            "cd {} && docker-compose -p {} exec -T -u postgres db sh -c {}",
            f.compose_dir,
            f.project,
            sq(&f.rows_sql())
        ),
    );
    assert_eq!(dst_rows, src_rows);
    // The dump went from server to server, not through this machine.
    let journal = std::fs::read_to_string(f.run.journal()).expect("journal");
    assert!(
        journal.contains("of dump piped server to server"),
        "{journal}"
    );
    // config.php: the same instanceid and salt; datadirectory is the
    // container's; the appdata directory matches the instanceid.
    let dst_conf = ok("dst", &format!("cat {vol}/config/config.php"));
    assert_eq!(config_value(&dst_conf, "instanceid"), iid);
    assert_eq!(
        config_value(&dst_conf, "passwordsalt"),
        config_value(&src_conf, "passwordsalt")
    );
    assert_eq!(
        config_value(&dst_conf, "datadirectory"),
        "/var/www/html/data"
    );
    ok("dst", &format!("test -d {vol}/data/appdata_{iid}/preview"));
    // The project runs: app, cron, cache and db containers up.
    let running = ok(
        "dst",
        &format!(
            "docker ps --filter label=com.docker.compose.project={} --format '{{{{.Label \"com.docker.compose.service\"}}}}' | sort | tr '\\n' ' '",
            f.project
        ),
    );
    assert_eq!(running.trim(), "app cache cron db", "{running}");
    // Health through the production name on dst; the source stays stopped.
    let (code, status) = f.http("127.0.0.3", "/status.php");
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["installed"], true);
    assert_eq!(status["maintenance"], false);
    assert_eq!(f.http("127.0.0.2", "/status.php").0, 0);
    assert!(report.contains("VERDICT: PASS"), "{report}");
    assert!(
        !report.contains(&config_value(&src_conf, "secret")),
        "a secret reached the report"
    );
    assert_eq!((keys("src"), keys("dst")), keys_before);

    // A second migration into the same, now running, project is refused
    // before anything changes.
    let other = f.run.file.with_file_name("again.toml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&f.run.file).expect("file").replace(
            "backup_dir = ",
            "target_version = \"28.0.4\"\nbackup_dir = ",
        ),
    )
    .expect("write");
    let o = f
        .run
        .migrate()
        .args(["plan", "--file"])
        .arg(&other)
        .output()
        .expect("plan");
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("destination-not-empty"),
        "{}",
        stderr(&o)
    );
}

/// Mastodon as a compose project on src (upstream's layout: the compose
/// file, .env.production and public/system in one directory, PostgreSQL in
/// the `db` container with its data in a named volume), moved to the same
/// project on dst, whose docker has never seen it.
struct Masto(MastoCompose);

const MASTO_DOMAIN: &str = "social.example.test";

impl Deref for Masto {
    type Target = MastoCompose;
    fn deref(&self) -> &MastoCompose {
        &self.0
    }
}

impl Masto {
    /// `extra`: more of the migration file (a [dns] section).
    fn new(extra: &str) -> Masto {
        Masto(MastoCompose::install(&Spec {
            stem: "mastoc",
            domain: MASTO_DOMAIN,
            install_env: "",
            head: "# Mastodon from a compose project on src to the same project on dst\napp = \"mastodon\"",
            tail: extra,
        }))
    }

    /// The jids waiting in the project's Redis (queue:default, schedule).
    fn queued_jids(&self, host: &str) -> Vec<String> {
        let text = self.dc(
            host,
            "exec -T redis sh -c 'redis-cli lrange queue:default 0 -1; redis-cli zrange schedule 0 -1'",
        );
        let mut jids: Vec<String> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["jid"].as_str().map(str::to_string))
            .collect();
        jids.sort();
        jids
    }

    fn tree(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "cd {} && find . ! -path './public/packs*' ! -path ./public -printf '%P %y %s %T@ %m %U:%G\\n' | sort && find . -type f ! -path './public/packs/*' -print0 | sort -z | xargs -0 sha256sum",
                self.root
            ),
        )
    }

    fn rows(&self, host: &str) -> String {
        let sql = format!(
            "for t in accounts statuses media_attachments schema_migrations; do printf '%s ' $t; psql -X -Atqd {} -c \"select count(*), md5(string_agg(t::text, ',' order by t::text)) from $t t\"; done",
            self.db
        );
        ok(
            host,
            &format!(
                "cd {} && docker-compose -p {} exec -T -u postgres db sh -c {}",
                self.root,
                self.project,
                sq(&sql)
            ),
        )
    }

    fn get(&self, addr: &str, path: &str) -> (u16, String) {
        http::get(addr, self.port, MASTO_DOMAIN, path)
    }
}

#[test]
fn mastodon_moves_from_one_compose_project_to_another() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _one = serial();
    // The instance's name, served by a Knot primary and secondary started
    // for this test, points at src with a 20 s TTL.
    let knot = dns::KnotLab::start(
        "$ORIGIN example.test.\n$TTL 3600\n@ 3600 IN SOA ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 5\n@ 3600 IN NS ns1.example.test.\n@ 3600 IN NS ns2.example.test.\nns1 3600 IN A 127.0.0.1\nns2 3600 IN A 127.0.0.2\nsocial 20 IN A 127.0.0.2\n",
    );
    let key = tempfile::NamedTempFile::new().expect("key file");
    std::fs::write(key.path(), dns::TSIG_LINE).expect("key");
    let f = Masto::new(&format!(
        "\n[dns]\nprovider = \"rfc2136\"\nserver = \"{p}\"\nauthoritative = [\"{p}\", \"{s}\"]\nzone = \"example.test\"\nto = [\"127.0.0.3\"]\ntsig_key_file = \"{k}\"\nlowered_ttl = 2\n",
        p = knot.primary(),
        s = knot.secondary(),
        k = key.path().display()
    ));
    let keys_before = (keys("src"), keys("dst"));
    let src_tree = f.tree("src");
    let src_rows = f.rows("src");
    assert!(src_rows.contains("accounts 65|"), "{src_rows}");
    let env_src = ok("src", &format!("cat {}/.env.production", f.root));
    // Sidekiq's jobs in the project's Redis: 50 queued, one scheduled.
    f.dc(
        "src",
        "exec -T sidekiq sh -c 'python3 /mastodon/worker.py enqueue 50 && python3 /mastodon/worker.py schedule 20'",
    );
    let jids = f.queued_jids("src");
    assert_eq!(jids.len(), 51, "{jids:?}");

    let o = f
        .run
        .migrate()
        .args(["plan", "--file"])
        .arg(&f.run.file)
        .output()
        .expect("plan");
    let plan = stdout(&o);
    assert!(o.status.success(), "{plan}{}", stderr(&o));
    assert!(plan.contains("Source runs Mastodon 4.3.2"), "{plan}");
    assert!(
        plan.contains("Sidekiq queues: default 50; schedule 1, retry 0, dead 0"),
        "{plan}"
    );
    // Stop means the app's containers, not the database's.
    let o = f
        .run
        .migrate()
        .args(["app", "--dry-run", "--file"])
        .arg(&f.run.file)
        .output()
        .expect("dry run");
    let dry = stdout(&o);
    assert!(o.status.success(), "{dry}{}", stderr(&o));
    assert!(
        dry.contains(&format!("-p {} stop web streaming sidekiq", f.project)),
        "{dry}"
    );

    // Killed in each phase (preparing, syncing, in the window, finishing),
    // then run to the end.
    for step in ["backup", "pre-sync", "final-sync", "tootctl-cache-clear"] {
        f.run.kill_at(step);
    }
    let o = f.run.app(&[]);
    let report = stdout(&o);
    assert!(
        o.status.success(),
        "{report}{}\n{}",
        stderr(&o),
        std::fs::read_to_string(f.run.journal()).unwrap_or_default()
    );

    // Media, compose file and .env.production identical; the database,
    // loaded into dst's own db container, has the same rows.
    assert_eq!(f.tree("dst"), src_tree);
    assert_eq!(f.rows("dst"), src_rows);
    assert_eq!(
        ok("dst", &format!("cat {}/.env.production", f.root)),
        env_src
    );
    // On dst the project runs; on src its app containers are stopped and
    // its database still runs (nothing beyond stopping the app).
    let services = |h: &str| {
        ok(
            h,
            &format!(
                "docker ps --filter label=com.docker.compose.project={} --format '{{{{.Label \"com.docker.compose.service\"}}}}' | sort | tr '\\n' ' '",
                f.project
            ),
        )
    };
    assert_eq!(
        services("dst").trim(),
        "db redis sidekiq streaming web",
        "dst"
    );
    // Redis too was stopped on src: its data travelled.
    assert_eq!(services("src").trim(), "db", "src");
    // The destination's Redis volume holds the jobs; its Sidekiq runs them.
    assert_eq!(
        f.dc("dst", "exec -T redis redis-cli llen queue:default")
            .trim(),
        "50"
    );
    assert_eq!(f.queued_jids("dst"), jids);
    f.dc(
        "dst",
        "exec -T -d sidekiq python3 /mastodon/worker.py run /run/redis/processed.log",
    );
    let mut done = Vec::new();
    for _ in 0..600 {
        done = f
            .dc(
                "dst",
                "exec -T redis sh -c 'cat /run/redis/processed.log 2>/dev/null; true'",
            )
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect::<Vec<_>>();
        if done.len() >= 51 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    done.sort();
    assert_eq!(done, jids);
    let (code, body) = f.get("127.0.0.3", "/api/v1/instance");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["version"], "4.3.2");
    assert_eq!(v["stats"]["user_count"], 25);
    assert_eq!(f.get("127.0.0.2", "/health").0, 0);
    assert!(
        report.contains("| `accounts` | pass (65) | pass (65) | same |"),
        "{report}"
    );
    assert!(report.contains("VERDICT: PASS"), "{report}");
    // DNS points at dst on every authoritative server, its TTL restored.
    for srv in [knot.primary(), knot.secondary()] {
        assert_eq!(
            knot.rrset(&srv, "social.example.test", "A"),
            (20, vec!["127.0.0.3".to_string()])
        );
    }
    let secret = env_src
        .lines()
        .find_map(|l| l.strip_prefix("SECRET_KEY_BASE="))
        .expect("secret");
    let journal = std::fs::read_to_string(f.run.journal()).expect("journal");
    assert!(
        !journal.contains(secret) && !report.contains(secret),
        "a secret leaked"
    );
    assert_eq!((keys("src"), keys("dst")), keys_before);
}

/// Nextcloud with MariaDB as a compose project on src, moved to the same
/// project on dst: the app's files in its `html` volume, the database with
/// the app's own MariaDB account (password hash and grants), which the web
/// front logs in with on dst.
struct NcMaria {
    nc: support::nc_maria::NcMaria,
    run: Operator,
}

impl Deref for NcMaria {
    type Target = support::nc_maria::NcMaria;
    fn deref(&self) -> &support::nc_maria::NcMaria {
        &self.nc
    }
}

impl NcMaria {
    fn new() -> NcMaria {
        let pid = std::process::id();
        let f = NcMaria {
            nc: support::nc_maria::NcMaria::install(
                &format!("/srv/test-app-ncm-{pid}"),
                &format!("test_app_ncm_{pid}"),
                &format!("mtncm{pid}"),
                DOMAIN,
            ),
            run: Operator::new(),
        };
        let (compose, project, port, db) = (f.compose_dir(), &f.project, f.port, &f.db);
        let side = |host: &str, addr: &str| {
            format!(
                "host = \"{host}\"\ncompose = \"{compose}\"\nproject = \"{project}\"\nvolume = \"html\"\nhttp = \"{addr}:{port}\"\ndatabases = {{ nextcloud = \"{db}\" }}\n"
            )
        };
        let toml = format!(
            "app = \"nextcloud\"\ndomain = \"{DOMAIN}\"\nbackup_dir = \"{b}/backup\"\nskip_steps = [\"nextcloud-wait-for-sync-clients\", \"nextcloud-stop-web\"]\n\n[source]\n{}\n[destination]\n{}",
            side(&lab::src_url(), "127.0.0.2"),
            side(&lab::dst_url(), "127.0.0.3"),
            b = f.base,
        );
        std::fs::write(&f.run.file, toml).expect("write migration file");
        f
    }

    fn get(&self, addr: &str, path: &str) -> (u16, String) {
        http::get(addr, self.port, DOMAIN, path)
    }
}

#[test]
fn nextcloud_with_mariadb_moves_between_compose_projects() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _one = serial();
    let f = NcMaria::new();
    let keys_before = (keys("src"), keys("dst"));
    let src_vol = f.volume("src");
    let src_tree = Fixture::tree("src", &src_vol);
    let src_rows = f.rows("src");
    assert!(src_rows.contains("oc_users\t3\t"), "{src_rows}");
    let (code, body) = f.get("127.0.0.2", "/status.php");
    assert_eq!(code, 200, "the source must answer before the move: {body}");

    f.run.kill_at("database-nextcloud");
    let o = f.run.app(&[]);
    let report = stdout(&o);
    assert!(
        o.status.success(),
        "{report}{}\n{}",
        stderr(&o),
        std::fs::read_to_string(f.run.journal()).unwrap_or_default()
    );
    assert_eq!(Fixture::tree("dst", &f.volume("dst")), src_tree);
    assert_eq!(f.rows("dst"), src_rows);
    // The web front logs in with the app's own account on dst: the
    // account, its password hash and its grants moved with the database.
    let (code, body) = f.get("127.0.0.3", "/status.php");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["installed"], true);
    assert_eq!(v["maintenance"], false);
    assert!(report.contains("VERDICT: PASS"), "{report}");
    // The backup on the source holds the SQL dump, checksummed.
    let sums = ok(
        "src",
        &format!("cd {}/backup/*/ && sha256sum -c SHA256SUMS", f.base),
    );
    assert!(
        sums.contains("files.tar: OK") && sums.contains(".sql: OK"),
        "{sums}"
    );
    // No password or hash of the app's account reached the journal.
    let conf = ok("src", &format!("cat {src_vol}/config/config.php"));
    let pass = config_value(&conf, "dbpassword");
    assert!(!pass.is_empty(), "{conf}");
    let journal = std::fs::read_to_string(f.run.journal()).expect("journal");
    assert!(!journal.contains(&pass), "the password reached the journal");
    assert!(
        !journal.contains("PASSWORD"),
        "a password hash reached the journal"
    );
    assert_eq!((keys("src"), keys("dst")), keys_before);
}
