//! `migrate app` between two Discourse launcher installs in the two-server
//! lab: the stand-in of examples/lab-discourse (a `launcher`, app.yml, one
//! `app` container with real PostgreSQL 15 and Redis, run by each server's
//! own dockerd on lab/debian:1). Everything is checked from outside: psql
//! and redis-cli inside the containers, the uploads tree on disk, the web
//! front through the production name, app.yml's bytes.

use crate::support::cli::{Operator, stderr, stdout};
use crate::support::fixtures::workspace_root;
use crate::support::http;
use crate::support::lab::{self, Need, ok, put, put_tree};

const DOMAIN: &str = "forum.example.test";
const NEW_DOMAIN: &str = "talk.example.net";
const SMTP_SECRET: &str = "lab-smtp-s3cret-7f2a";

/// Every server has one container named `app` (the launcher's rule), so
/// this module's tests take turns.
static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the destination holds before the move.
enum Dst {
    /// A discourse_docker checkout, no forum yet (file-level moves), its
    /// templates naming another PostgreSQL major when given.
    Checkout { pg: Option<u32> },
    /// A bootstrapped empty forum at this version, its templates naming
    /// this PostgreSQL major (logical moves).
    Running { version: &'static str, pg: u32 },
}

struct Forum {
    base_src: String,
    base_dst: String,
    src: String,
    dst: String,
    port: u16,
    run: Operator,
}

fn app_yml(port: u16, domain: &str, version: &str) -> String {
    format!(
        r#"## this is the all-in-one, standalone Discourse Docker container template
templates:
  - "templates/postgres.template.yml"
  - "templates/redis.template.yml"
  - "templates/web.template.yml"

expose:
  - "{port}:80"

params:
  db_default_text_search_config: "pg_catalog.english"
  version: {version}

env:
  DISCOURSE_HOSTNAME: '{domain}'
  DISCOURSE_DEVELOPER_EMAILS: 'admin@example.org'
  DISCOURSE_SMTP_ADDRESS: smtp.example.org
  DISCOURSE_SMTP_USER_NAME: forum@example.org
  DISCOURSE_SMTP_PASSWORD: "{SMTP_SECRET}"
  LETSENCRYPT_ACCOUNT_EMAIL: admin@{domain}
"#
    )
}

impl Forum {
    /// A seeded forum on src at `version`; `dst` as asked, under
    /// `dst_base` (a path of its own by default).
    fn new(dst: Dst, dst_base: Option<String>, logical: bool, old_domain: bool) -> Forum {
        let pid = std::process::id();
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let base_src = format!("/srv/test-discourse-{pid}-{n}");
        let base_dst = dst_base.unwrap_or_else(|| base_src.clone());
        let f = Forum {
            src: format!("{base_src}/discourse"),
            dst: format!("{base_dst}/discourse"),
            base_src,
            base_dst,
            port: lab::port(),
            run: Operator::new(),
        };
        // Left over by an earlier run that died.
        for h in ["src", "dst"] {
            ok(h, "docker rm -f app >/dev/null 2>&1; true");
        }
        let ex = workspace_root().join("examples/lab-discourse");
        let domain = DOMAIN;
        put_tree(
            &["src"],
            &ex,
            &["launcher", "image", "templates"],
            &f.src,
            &format!("echo 127.0.0.2 > {}/lab-listen", f.src),
        );
        put(
            "src",
            &format!("{}/containers", f.src),
            &[(
                "app.yml",
                app_yml(f.port, domain, "v3.3.2").as_bytes(),
                "600",
            )],
        );
        ok(
            "src",
            &format!(
                "cd {} && ./launcher start app >/dev/null && docker exec app /var/www/discourse/bin/seed {domain} 7 12",
                f.src
            ),
        );
        put_tree(
            &["dst"],
            &ex,
            &["launcher", "image", "templates"],
            &f.dst,
            &format!("echo 127.0.0.3 > {}/lab-listen", f.dst),
        );
        let pg = match &dst {
            Dst::Checkout { pg } => *pg,
            Dst::Running { pg, .. } => Some(*pg),
        };
        if let Some(pg) = pg {
            ok(
                "dst",
                &format!(
                    "sed -i 's/pg_major: .*/pg_major: {pg}/' {d}/templates/postgres.template.yml",
                    d = f.dst
                ),
            );
        }
        if let Dst::Running { version, .. } = dst {
            put(
                "dst",
                &format!("{}/containers", f.dst),
                &[(
                    "app.yml",
                    app_yml(f.port, "fresh.example.invalid", version).as_bytes(),
                    "600",
                )],
            );
            ok(
                "dst",
                &format!("cd {} && ./launcher start app >/dev/null", f.dst),
            );
        }
        let toml = format!(
            r#"app = "discourse"
domain = "{domain_now}"
{old}{logical}
[source]
host = "{src}"
launcher = "{s}"
http = "127.0.0.2:{port}"

[destination]
host = "{dst}"
launcher = "{d}"
http = "127.0.0.3:{port}"
"#,
            domain_now = if old_domain { NEW_DOMAIN } else { DOMAIN },
            old = if old_domain {
                format!("old_domain = \"{DOMAIN}\"\n")
            } else {
                String::new()
            },
            logical = if logical { "logical = true\n" } else { "" },
            src = lab::src_url(),
            dst = lab::dst_url(),
            s = f.src,
            d = f.dst,
            port = f.port,
        );
        std::fs::write(&f.run.file, toml).expect("write migration file");
        f
    }

    /// Count and digest of a table's rows, by psql inside the container.
    fn rows(&self, host: &str, table: &str) -> String {
        ok(
            host,
            &format!(
                "docker exec -u postgres app psql -X -Atq -d discourse -c \"select count(*) || ' ' || md5(string_agg(t::text, ',' order by t::text)) from {table} t\""
            ),
        )
        .trim()
        .to_string()
    }

    fn all_rows(&self, host: &str) -> Vec<String> {
        ["users", "topics", "posts", "uploads"]
            .iter()
            .map(|t| format!("{t} {}", self.rows(host, t)))
            .collect()
    }

    fn sql(&self, host: &str, sql: &str) -> String {
        ok(
            host,
            &format!(
                "docker exec -u postgres app psql -X -Atq -d discourse -c {}",
                lab::sq(sql)
            ),
        )
        .trim()
        .to_string()
    }

    /// The uploads tree: paths, sizes, modes and contents.
    fn uploads(&self, host: &str, dir: &str) -> String {
        ok(
            host,
            &format!(
                "cd {dir}/shared/standalone/uploads && find . -printf '%P %y %s %m\\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum"
            ),
        )
    }

    fn get(&self, addr: &str, path: &str, domain: &str) -> (u16, String) {
        http::get(addr, self.port, domain, path)
    }

    fn about(&self, addr: &str, domain: &str) -> serde_json::Value {
        let (code, body) = self.get(addr, "/about.json", domain);
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).expect("about.json")
    }
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Drop for Forum {
    fn drop(&mut self) {
        for (h, b) in [("src", &self.base_src), ("dst", &self.base_dst)] {
            let _ = lab::sh(
                h,
                &format!("docker rm -f app >/dev/null 2>&1; rm -rf {b}; true"),
            );
        }
    }
}

#[test]
fn launcher_to_launcher_on_the_same_domain_copies_the_files() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _one = serial();
    file_level_move(&[]);
}

/// Killed once in each phase (prepare, sync, the window, after the
/// destination started), then run to the end: the same end state as the
/// uninterrupted move above, checked by the same assertions.
#[test]
fn a_file_level_move_killed_in_each_phase_ends_the_same() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _one = serial();
    file_level_move(&[
        "app-yml",
        "pre-sync",
        "final-sync",
        "readonly-off-destination",
    ]);
}

fn file_level_move(kills: &[&str]) {
    let f = Forum::new(Dst::Checkout { pg: None }, None, false, false);
    let rows = f.all_rows("src");
    assert!(rows[2].starts_with("posts 42 "), "{rows:?}");
    let uploads = f.uploads("src", &f.src);
    assert!(uploads.contains(".png"), "{uploads}");
    let about = f.about("127.0.0.2", DOMAIN);
    let yml = ok("src", &format!("cat {}/containers/app.yml", f.src));

    let o = f.run.with_file(&["plan", "--format", "markdown"]);
    let plan = stdout(&o);
    assert!(o.status.success(), "{plan}{}", stderr(&o));
    assert!(
        plan.contains("File-level move: both sides run PostgreSQL 15"),
        "{plan}"
    );
    assert!(plan.contains("`discourse enable_readonly`"), "{plan}");
    assert!(
        plan.contains("the newest topic, GET /t/topic-number-12/12, answers 200"),
        "{plan}"
    );
    assert!(!plan.contains(SMTP_SECRET), "{plan}");

    for step in kills {
        f.run.kill_at(step);
    }
    let o = f.run.app(&[]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}{err}\n{}", f.run.journal_text());
    assert!(!out.contains(SMTP_SECRET) && !err.contains(SMTP_SECRET));
    assert!(!f.run.journal_text().contains(SMTP_SECRET));

    assert_eq!(f.all_rows("dst"), rows);
    assert_eq!(f.uploads("dst", &f.dst), uploads);
    assert_eq!(ok("dst", &format!("cat {}/containers/app.yml", f.dst)), yml);
    let (code, body) = f.get("127.0.0.3", "/srv/status", DOMAIN);
    assert_eq!((code, body.as_str()), (200, "ok"));
    assert_eq!(f.about("127.0.0.3", DOMAIN), about);
    // Read-only travelled in Redis's data and was lifted on the destination;
    // the source stays stopped, read-only.
    assert_eq!(
        ok(
            "dst",
            "docker exec app redis-cli -s /run/redis/redis.sock exists readonly_mode:user"
        )
        .trim(),
        "0"
    );
    assert_eq!(
        ok("src", "docker inspect -f '{{.State.Running}}' app").trim(),
        "false"
    );
}

#[test]
fn a_new_postgresql_major_moves_by_backup_and_restore_with_a_domain_change() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _one = serial();
    logical_move(&[]);
}

/// Killed in each phase of the logical path (preparing the destination,
/// the backup, the restore, the remap), then run to the end: the same end
/// state as the uninterrupted move above.
#[test]
fn a_logical_move_killed_in_each_phase_ends_the_same() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _one = serial();
    logical_move(&["destination-backup", "backup", "restore", "remap"]);
}

fn logical_move(kills: &[&str]) {
    let f = Forum::new(
        Dst::Running {
            version: "v3.3.2",
            pg: 16,
        },
        None,
        false,
        true,
    );
    let rows = f.all_rows("src");
    let uploads = f.uploads("src", &f.src);
    let naming = f.sql(
        "src",
        &format!("select count(*) from posts where raw like '%{DOMAIN}%'"),
    );
    assert_eq!(naming, "36");

    let o = f.run.with_file(&["plan", "--format", "markdown"]);
    let plan = stdout(&o);
    assert!(o.status.success(), "{plan}{}", stderr(&o));
    assert!(
        plan.contains("the source's data is PostgreSQL 15 and the destination runs PostgreSQL 16"),
        "{plan}"
    );
    assert!(plan.contains(&format!("36 posts named {DOMAIN}")), "{plan}");
    // The runbook reads as Discourse's admin guide: each step, why, how long.
    for s in [
        "`discourse backup`",
        "`discourse enable_restore`",
        "pauses Sidekiq and waits for its jobs (a restore beside running jobs can deadlock)",
        "`discourse disable_restore`",
        "disable_emails to 'non-staff'",
        &format!("`discourse remap {DOMAIN} {NEW_DOMAIN}`"),
        "`rake posts:rebake`",
        "(minutes)",
    ] {
        assert!(plan.contains(s), "{s}: {plan}");
    }
    assert!(!plan.contains(SMTP_SECRET), "{plan}");

    for step in kills {
        f.run.kill_at(step);
    }
    let o = f.run.app(&[]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}{err}\n{}", f.run.journal_text());
    // Reported when it happens (a run killed after the setting changed
    // finds it already 'no' and says so).
    let journal = f.run.journal_text();
    assert!(
        journal.contains("disable_emails was 'non-staff', now 'no'"),
        "{journal}"
    );
    assert!(!out.contains(SMTP_SECRET) && !err.contains(SMTP_SECRET));

    // The posts name the new domain, none the old.
    let like = |d: &str| {
        f.sql(
            "dst",
            &format!("select count(*) from posts where raw like '%{d}%' or cooked like '%{d}%'"),
        )
    };
    assert_eq!(like(DOMAIN), "0");
    assert_eq!(like(NEW_DOMAIN), "36");
    for (i, t) in [(0, "users"), (1, "topics"), (3, "uploads")] {
        assert_eq!(format!("{t} {}", f.rows("dst", t)), rows[i]);
    }
    assert_eq!(
        f.rows("dst", "posts").split(' ').next(),
        rows[2].split(' ').nth(1)
    );
    assert_eq!(f.uploads("dst", &f.dst), uploads);
    assert_eq!(
        f.sql(
            "dst",
            "select value from site_settings where name = 'disable_emails'"
        ),
        "no"
    );
    assert_eq!(
        f.sql(
            "dst",
            "select value from site_settings where name = 'allow_restore'"
        ),
        "f"
    );
    // app.yml: the new hostname and Let's Encrypt address, the SMTP
    // password unchanged.
    let yml = ok("dst", &format!("cat {}/containers/app.yml", f.dst));
    assert!(
        yml.contains(&format!("DISCOURSE_HOSTNAME: '{NEW_DOMAIN}'")),
        "{yml}"
    );
    assert!(
        yml.contains(&format!("LETSENCRYPT_ACCOUNT_EMAIL: admin@{NEW_DOMAIN}")),
        "{yml}"
    );
    assert!(yml.contains(SMTP_SECRET), "{yml}");
    // The destination serves, not read-only; the old forum stays read-only.
    let (code, body) = f.get("127.0.0.3", "/srv/status", NEW_DOMAIN);
    assert_eq!((code, body.as_str()), (200, "ok"));
    assert_eq!(
        ok(
            "dst",
            "docker exec app redis-cli -s /run/redis/redis.sock exists readonly_mode:user"
        )
        .trim(),
        "0"
    );
    assert_eq!(
        ok(
            "src",
            "docker exec app redis-cli -s /run/redis/redis.sock exists readonly_mode:user"
        )
        .trim(),
        "1"
    );
    let about = f.about("127.0.0.3", NEW_DOMAIN);
    assert_eq!(about["about"]["stats"]["post_count"], 42, "{about}");
    assert_eq!(about["about"]["stats"]["user_count"], 7, "{about}");
}

impl Forum {
    /// What a refused move must leave as it was on one server: the
    /// container's state, app.yml, the forum's rows, Redis's read-only flag,
    /// the backups and the install tree (PostgreSQL's and Redis's own files
    /// and the logs change by themselves and are left out).
    fn snapshot(&self, host: &str, dir: &str) -> String {
        let running = ok(
            host,
            "docker inspect -f '{{.State.Running}} {{.Id}}' app 2>/dev/null || echo none",
        );
        let mut s = format!("container {running}");
        s.push_str(&ok(
            host,
            &format!(
                "cd {dir} && find . -path ./shared/standalone/postgres_data -prune -o -path ./shared/standalone/redis_data -prune -o -path ./shared/standalone/log -prune -o -printf '%P %y %s %m\\n' | sort; cat containers/app.yml 2>/dev/null | sha256sum"
            ),
        ));
        if running.starts_with("true") {
            s.push_str(&self.all_rows(host).join("\n"));
            s.push_str(&self.sql(
                host,
                "select string_agg(name || '=' || value, ',' order by name) from site_settings",
            ));
            s.push_str(&ok(
                host,
                "docker exec app redis-cli -s /run/redis/redis.sock exists readonly_mode:user",
            ));
        }
        s
    }

    fn snapshots(&self) -> (String, String) {
        (
            self.snapshot("src", &self.src),
            self.snapshot("dst", &self.dst),
        )
    }

    /// `migrate app` refuses with `kind`, naming `why`, and nothing moved.
    fn refuses(&self, kind: &str, why: &str) {
        let before = self.snapshots();
        let o = self.run.app(&[]);
        let (out, err) = (stdout(&o), stderr(&o));
        assert!(!o.status.success(), "{out}{err}");
        assert!(err.contains(&format!("refused ({kind})")), "{out}{err}");
        assert!(err.contains(why), "{out}{err}");
        assert!(
            !self.run.journal_text().contains("\"event\":\"start\""),
            "{}",
            self.run.journal_text()
        );
        assert_eq!(self.snapshots(), before);
    }
}

#[test]
fn a_postgresql_major_change_without_twice_the_database_free_is_refused() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _one = serial();
    // /mnt/tiny: an 8 MiB tmpfs on each lab server.
    let pid = std::process::id();
    let f = Forum::new(
        Dst::Checkout { pg: Some(16) },
        Some(format!("/mnt/tiny/test-discourse-{pid}")),
        false,
        false,
    );
    f.refuses("disk-space", "needs twice the database's size free");
}

#[test]
fn a_destination_older_than_the_backup_is_refused() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _one = serial();
    let f = Forum::new(
        Dst::Running {
            version: "v3.2.5",
            pg: 16,
        },
        None,
        false,
        false,
    );
    f.refuses(
        "destination-older",
        "Discourse restores a backup only into the same or a newer version",
    );
}

/// Named by flags only, the source's launcher install is found through its
/// running container (wherever its directory is), and the plan is the
/// launcher one; nothing changes.
#[test]
fn a_launcher_install_is_discovered_from_its_container() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _one = serial();
    let f = Forum::new(Dst::Checkout { pg: None }, None, false, false);
    let before = f.snapshots();
    let o = f
        .run
        .migrate()
        .args(["app", "plan", "discourse", "--format", "markdown"])
        .args(["--from", &lab::src_url(), "--to", &lab::dst_url()])
        .args([
            "--src-http",
            &format!("127.0.0.2:{}", f.port),
            "--dst-http",
            &format!("127.0.0.3:{}", f.port),
        ])
        .output()
        .expect("plan");
    let (plan, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{plan}{err}");
    assert!(
        err.contains(&format!(
            "Found discourse on {}: a launcher install in {}",
            lab::src_url(),
            f.src
        )),
        "{err}"
    );
    // The domain came from app.yml's DISCOURSE_HOSTNAME.
    assert!(
        plan.contains(&format!("# Moving {DOMAIN} (Discourse)")),
        "{plan}"
    );
    assert!(
        plan.contains("File-level move: both sides run PostgreSQL 15"),
        "{plan}"
    );
    assert!(
        plan.contains(&format!("cd {} && ./launcher stop app", f.src)),
        "{plan}"
    );
    assert_eq!(f.snapshots(), before);
}

#[test]
fn a_file_level_move_onto_a_running_forum_is_refused() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _one = serial();
    let f = Forum::new(
        Dst::Running {
            version: "v3.3.2",
            pg: 15,
        },
        None,
        false,
        false,
    );
    f.refuses("destination-running", "a file-level move needs it stopped");
}
