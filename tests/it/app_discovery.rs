//! `migrate plan` / `migrate app` for Nextcloud with no layout given: the
//! tool finds the installation on the source by itself (a plain directory
//! under /var/www, where no other test installs one), reads its database
//! out of config.php, refuses to guess between two, and says where it
//! looked when there is nothing, changing nothing.

use crate::support::cli::{Operator, stderr, stdout};
use crate::support::lab::{self, Need, ok};
use crate::support::nc_plain::{PhpShim, PlainNc};

/// The tests of this module look at whole servers: each must see only its
/// own installations.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The lab has no PHP; the stand-in's occ is Python. While this module
/// runs, `php` on both servers is the shim (removed afterwards), as it
/// would be the real PHP on a real server.
fn php_shim() -> PhpShim {
    PhpShim::install(".php-discovery-shim")
}

/// One stand-in Nextcloud under /var/www on src, removed (files, database,
/// process) from both servers afterwards.
type Install = PlainNc;

fn install(tag: &str) -> Install {
    let pid = std::process::id();
    PlainNc::install(
        &format!("/var/www/discovery-{tag}-{pid}"),
        &format!("discovery_{tag}_{pid}"),
        &format!("{tag}.discovery.test"),
    )
}

fn plan(op: &Operator, domain: &str, extra: &[&str]) -> std::process::Output {
    op.migrate()
        .args([
            "plan",
            "nextcloud",
            "--from",
            &lab::src_url(),
            "--to",
            &lab::dst_url(),
            "--domain",
            domain,
        ])
        .args(extra)
        .output()
        .expect("run migrate plan")
}

#[test]
fn a_plain_install_is_found_planned_and_moved_without_layout_flags() {
    let _lab = lab::enter(module_path!(), Need::Ssh);
    let _alone = alone();
    let _php = php_shim();
    let i = install("plain");
    let op = Operator::new();

    let o = plan(&op, &i.domain, &[]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        err.contains(&format!("Found nextcloud on {}: {} (plain directory), domain {}, pgsql database {} (user nc_{}, on localhost)", lab::src_url(), i.root, i.domain, i.db, i.db)),
        "{err}"
    );
    assert!(err.contains("stop/start: by hand"), "{err}");
    // The plan itself: both roots, the database, and the stop a person does.
    assert!(out.contains(&i.root), "{out}");
    assert!(
        out.contains(&format!(
            "database {db} on the source into a fresh database {db}",
            db = i.db
        )),
        "{out}"
    );
    assert!(
        out.contains("no stop command configured: do it by hand"),
        "{out}"
    );

    // The move: the file says only what discovery cannot know.
    let before_rows = i.rows("src");
    let before_tree = i.tree("src");
    i.file(&op);
    let o = op.app(&[]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "Found nextcloud on {}: {}",
            lab::src_url(),
            i.root
        )),
        "{}",
        stderr(&o)
    );
    assert_eq!(i.tree("dst"), before_tree, "the files on dst");
    assert_eq!(i.rows("dst"), before_rows, "the database rows on dst");
    let conf = |h: &str| {
        ok(
            h,
            &format!(
                "grep -E \"'(instanceid|dbname)'\" {}/config/config.php",
                i.root
            ),
        )
    };
    assert_eq!(conf("dst"), conf("src"));
}

#[test]
fn two_installs_are_listed_and_refused_until_one_is_picked() {
    let _lab = lab::enter(module_path!(), Need::Ssh);
    let _alone = alone();
    let one = install("one");
    let two = install("two");
    let op = Operator::new();
    let snapshot = || {
        ok(
            "dst",
            "ls -a /var/www 2>/dev/null; runuser -u postgres -- psql -X -Atqc 'select datname from pg_database order by 1'",
        )
    };
    let before = snapshot();

    // A domain neither has: both are listed, nothing is chosen.
    let o = plan(&op, "other.discovery.test", &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("2 nextcloud installations"), "{err}");
    let at = |root: &str| {
        err.find(root)
            .unwrap_or_else(|| panic!("{root} not listed: {err}"))
    };
    let (first, second) = if at(&one.root) < at(&two.root) {
        (&one, &two)
    } else {
        (&two, &one)
    };
    assert!(
        err.contains(&format!(
            "  1. {} (plain directory), domain {}",
            first.root, first.domain
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "  2. {} (plain directory), domain {}",
            second.root, second.domain
        )),
        "{err}"
    );
    assert!(err.contains("--pick N"), "{err}");
    assert_eq!(snapshot(), before, "a refusal changes nothing on dst");

    // --pick 2 plans the second.
    let o = plan(&op, "other.discovery.test", &["--pick", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(&second.root), "{}", stdout(&o));
    assert!(!stdout(&o).contains(&first.root), "{}", stdout(&o));
    assert!(
        stdout(&o).contains(&format!("fresh database {}", second.db)),
        "{}",
        stdout(&o)
    );

    // The domain of one of them picks it.
    let o = plan(&op, &first.domain, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(&first.root), "{}", stdout(&o));

    // A pick past the list is refused.
    let o = plan(&op, "other.discovery.test", &["--pick", "3"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--pick 3"), "{}", stderr(&o));
}

#[test]
fn nothing_to_find_is_a_clear_error_and_changes_nothing() {
    let _lab = lab::enter(module_path!(), Need::Ssh);
    let _alone = alone();
    let op = Operator::new();
    let snapshot = |h: &str| {
        ok(
            h,
            "find /srv /opt /home /var/www -maxdepth 3 -printf '%p %s %T@\\n' 2>/dev/null | sort; cd / && runuser -u postgres -- psql -X -Atqc 'select datname from pg_database order by 1'",
        )
    };
    let before = (snapshot("src"), snapshot("dst"));
    // dst holds no Nextcloud: look there as the source.
    let o = op
        .migrate()
        .args([
            "plan",
            "nextcloud",
            "--from",
            &lab::dst_url(),
            "--to",
            &lab::src_url(),
            "--domain",
            "none.discovery.test",
        ])
        .output()
        .expect("run migrate plan");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no nextcloud installation found"), "{err}");
    assert!(
        err.contains("looked in") && err.contains("/srv") && err.contains("/opt"),
        "{err}"
    );
    assert!(err.contains("--src-root"), "{err}");
    let o = op
        .migrate()
        .args([
            "app",
            "nextcloud",
            "--yes",
            "--from",
            &lab::dst_url(),
            "--to",
            &lab::src_url(),
            "--domain",
            "none.discovery.test",
        ])
        .output()
        .expect("run migrate app");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        (snapshot("src"), snapshot("dst")),
        before,
        "nothing changed"
    );
    assert!(
        !op.home.path().join("data/migrate/migrations").exists(),
        "no journal is started"
    );
}

/// The journal directory (in `op`'s home) whose stored plan is for `domain`.
fn journal_of(op: &Operator, domain: &str) -> Option<std::path::PathBuf> {
    let dir = op.home.path().join("data/migrate/migrations");
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let plan = std::fs::read_to_string(e.path().join("plan.json")).ok()?;
        plan.contains(&format!("\"domain\": \"{domain}\""))
            .then(|| e.path())
    })
}

/// `migrate app --yes --file FILE`, killed (SIGKILL) once the migration
/// for `domain` has started `step`.
fn kill_at(op: &Operator, domain: &str, step: &str) {
    let mut child = op
        .migrate()
        .args(["app", "--yes", "--file"])
        .arg(&op.file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn migrate");
    let needle = format!("\"step\":\"{step}\",\"event\":\"start\"");
    let t = std::time::Instant::now();
    loop {
        let text = journal_of(op, domain)
            .and_then(|d| std::fs::read_to_string(d.join("journal.jsonl")).ok())
            .unwrap_or_default();
        if text.contains(&needle) {
            break;
        }
        if let Ok(Some(s)) = child.try_wait() {
            panic!("migrate exited ({s}) before step {step} started:\n{text}");
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(600),
            "step {step} never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("kill");
    let _ = child.wait();
}

fn serves(host: &str, i: &Install) -> bool {
    let addr = if host == "src" {
        "127.0.0.2"
    } else {
        "127.0.0.3"
    };
    lab::sh(
        host,
        &format!(
            "curl -sf -o /dev/null -H 'Host: {}' http://{addr}:{}/status.php",
            i.domain, i.port
        ),
    )
    .status
    .success()
}

#[test]
fn status_list_abort_and_resume_find_the_migration_in_the_journals() {
    let _lab = lab::enter(module_path!(), Need::Ssh);
    let _alone = alone();
    let _php = php_shim();
    let a = install("resumed");
    let b = install("aborted");
    let op = Operator::new();
    let before_rows = a.rows("src");
    let before_tree = a.tree("src");

    // Two discovered moves (the file names no layout), each interrupted in
    // its window: the source stopped, the copy under way.
    a.file(&op);
    kill_at(&op, &a.domain, "final-sync");
    b.file(&op);
    kill_at(&op, &b.domain, "final-sync");
    assert!(!serves("src", &b), "the interrupted source is stopped");
    let id = |i: &Install| {
        journal_of(&op, &i.domain)
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .expect("a journal")
    };
    let (id_a, id_b) = (id(&a), id(&b));

    // No definition at all: the newest (b) is the one shown.
    let o = op
        .migrate()
        .args(["app", "status"])
        .output()
        .expect("status");
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.starts_with(&format!("Migration {id_b}:")), "{out}");
    assert!(err.contains(&b.domain), "{err}");
    assert!(out.contains("RUNNING"), "{out}");
    // The domain picks the other.
    let o = op
        .migrate()
        .args(["app", "status", "--domain", &a.domain])
        .output()
        .expect("status");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with(&format!("Migration {id_a}:")),
        "{}",
        stdout(&o)
    );

    // The list: both, newest first, with their state and journal.
    let o = op.migrate().args(["app", "list"]).output().expect("list");
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    let (pa, pb) = (
        out.find(&id_a).expect("a listed"),
        out.find(&id_b).expect("b listed"),
    );
    assert!(pb < pa, "newest first: {out}");
    for (i, jid) in [(&a, &id_a), (&b, &id_b)] {
        assert!(
            out.contains(&format!(
                "{jid}  nextcloud {}  {} → {}  running or interrupted",
                i.domain,
                lab::src_url(),
                lab::dst_url()
            )),
            "{out}"
        );
    }
    assert!(out.contains("last: final-sync start at "), "{out}");

    // Abort by domain only: b's source serves again, a's stays stopped.
    let o = op
        .migrate()
        .args(["app", "abort", "--domain", &b.domain])
        .output()
        .expect("abort");
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(&format!("Migration {id_b} aborted")),
        "{}",
        stdout(&o)
    );
    assert!(serves("src", &b), "the aborted source serves again");
    assert!(!serves("src", &a), "the other migration is untouched");
    let maint = |i: &Install| {
        ok(
            "src",
            &format!(
                "grep -c \"'maintenance' => true\" {}/config/config.php || true",
                i.root
            ),
        )
    };
    assert_eq!(maint(&b).trim(), "0", "maintenance mode off again");

    // Resume by domain only: a finishes from its stored plan.
    let o = op
        .migrate()
        .args(["app", "run", "--resume", "--yes", "--domain", &a.domain])
        .output()
        .expect("resume");
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains(&format!("Resuming migration {id_a}")),
        "{}",
        stderr(&o)
    );
    assert_eq!(a.tree("dst"), before_tree, "the files on dst");
    assert_eq!(a.rows("dst"), before_rows, "the database rows on dst");
    assert!(serves("dst", &a), "the destination serves the app");

    // An aborted one is not resumed; a domain nobody migrated is named.
    let o = op
        .migrate()
        .args(["app", "--resume", "--yes", "--domain", &b.domain])
        .output()
        .expect("resume aborted");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("was aborted"), "{}", stderr(&o));
    let o = op
        .migrate()
        .args(["app", "--resume", "--domain", "nowhere.discovery.test"])
        .output()
        .expect("resume nothing");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "no migration journaled on this machine matches domain nowhere.discovery.test"
        ),
        "{}",
        stderr(&o)
    );
    let o = op.migrate().args(["app", "list"]).output().expect("list");
    let out = stdout(&o);
    assert!(
        out.contains(&format!("{id_a}  nextcloud {}", a.domain)),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with(&id_a) && l.contains("  done, ")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with(&id_b) && l.contains("  aborted, ")),
        "{out}"
    );
}
