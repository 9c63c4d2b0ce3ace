//! `--dry-run` on the commands that change servers: each is run against the
//! two-server lab, and both servers' state (files under /srv, docker
//! volumes and their contents, containers and whether dockerd runs, the
//! host PostgreSQL's databases and a table's rows, root's authorized_keys,
//! /var/backups/migrate) and the operator's own state directory are
//! snapshotted before and after: a dry run must change none of it, and
//! must print the commands it would run.
//!
//! Without the lab these tests fail.

use std::path::Path;
use std::sync::Mutex;

use crate::support::cli::{migrate, run, stderr, stdout};
use crate::support::lab::{self, Need, ok};

/// The two tests change the servers while setting up: one at a time.
static LOCK: Mutex<()> = Mutex::new(());

/// Everything a dry run could touch on one server, as text.
fn snapshot(host: &str) -> String {
    ok(
        host,
        r#"set -u
echo '## /srv'; find /srv -xdev -printf '%p %y %s %T@ %m %U\n' 2>/dev/null | LC_ALL=C sort | sha256sum
echo '## volumes'; docker volume ls -q | LC_ALL=C sort
for v in $(docker volume ls -q); do
  m=$(docker volume inspect -f '{{.Mountpoint}}' "$v")
  echo "$v $(find "$m" -printf '%P %y %s %T@ %m %U\n' 2>/dev/null | LC_ALL=C sort | sha256sum)"
done
echo '## containers'; docker ps -a --format '{{.Names}} {{.State}}' | LC_ALL=C sort
echo '## dockerd'; docker info --format '{{.DockerRootDir}}' 2>&1
echo '## mounts'; findmnt -rn -o TARGET,SOURCE | LC_ALL=C sort | sha256sum
echo '## databases'; runuser -u postgres -- psql -X -At -c 'SELECT datname FROM pg_database ORDER BY 1'
echo '## keys'; sha256sum /root/.ssh/authorized_keys 2>&1
echo '## backups'; ls -la /var/backups/migrate 2>&1
echo '## fstab'; sha256sum /etc/fstab
"#,
    )
}

fn operator_state(home: &Path) -> String {
    let mut v = Vec::new();
    for e in walk(home) {
        v.push(e);
    }
    v.sort();
    v.join("\n")
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            out.push(format!("{} {len}", p.display()));
            if p.is_dir() {
                out.extend(walk(&p));
            }
        }
    }
    out
}

/// Runs one dry run and checks that nothing changed and that `expect`
/// (commands it would run) was printed.
fn unchanged(home: &Path, args: &[&str], expect: &[&str]) -> String {
    let before = (snapshot("src"), snapshot("dst"), operator_state(home));
    let out = run(migrate(home).args(args));
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}\n{text}\n{}",
        stderr(&out)
    );
    let after = (snapshot("src"), snapshot("dst"), operator_state(home));
    assert_eq!(before.0, after.0, "{args:?} changed src");
    assert_eq!(before.1, after.1, "{args:?} changed dst");
    assert_eq!(before.2, after.2, "{args:?} changed the operator's state");
    for e in expect {
        assert!(text.contains(e), "{args:?} does not show {e:?}:\n{text}");
    }
    assert!(text.contains("nothing was changed (dry run)"), "{text}");
    // The same with --json: one envelope, with the commands in it.
    let mut j = args.to_vec();
    j.push("--json");
    let out = run(migrate(home).args(&j));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{j:?}: not one envelope ({e}): {}", stdout(&out)));
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["result"]["dry_run"], true, "{v}");
    text
}

#[test]
fn dry_runs_change_nothing_on_either_server_and_show_the_commands() {
    let _lab = lab::enter(module_path!(), Need::Docker);
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let home = tempfile::tempdir().unwrap();
    let id = std::process::id();
    let root = format!("/srv/e2e-dry/{id}");
    let vol = format!("mt_dry_{id}");
    let db = format!("mt_dry_{id}");
    let cleanup = format!(
        "rm -rf '{root}'; docker volume rm {vol} >/dev/null 2>&1; runuser -u postgres -- psql -X -q -c 'DROP DATABASE IF EXISTS {db}' >/dev/null 2>&1; true"
    );
    for h in ["src", "dst"] {
        ok(h, &cleanup);
    }
    ok(
        "src",
        &format!(
            "set -e; mkdir -p '{root}/tree/sub'; echo a > '{root}/tree/a.txt'; echo b > '{root}/tree/sub/b.log'
docker volume create {vol} >/dev/null
echo hello > \"$(docker volume inspect -f '{{{{.Mountpoint}}}}' {vol})/hello.txt\"
runuser -u postgres -- psql -X -q -c 'CREATE DATABASE {db}'
runuser -u postgres -- psql -X -q -d {db} -c 'CREATE TABLE t(i int); INSERT INTO t SELECT generate_series(1, 10)'"
        ),
    );
    // Something on dst that a real final pass would delete.
    ok(
        "dst",
        &format!("mkdir -p '{root}/tree' && echo old > '{root}/tree/gone.txt'"),
    );

    let src_tree = format!("src:{root}/tree");
    let dst_tree = format!("dst:{root}/tree");
    let t = unchanged(
        home.path(),
        &[
            "copy",
            &src_tree,
            &dst_tree,
            "--final",
            "--force",
            "--exclude",
            "*.log",
            "--dry-run",
        ],
        &[
            "send a.txt",
            "delete gone.txt",
            ".migrate-aside-",
            "ssh-keygen",
        ],
    );
    assert!(
        !t.contains("b.log"),
        "an excluded file is in the plan:\n{t}"
    );

    let (sv, dv) = (format!("src:{vol}"), format!("dst:{vol}"));
    unchanged(
        home.path(),
        &["volume", &sv, &dv, "--dry-run"],
        &["POST /volumes/create", &vol, "1 files"],
    );
    unchanged(
        home.path(),
        &[
            "docker",
            "db",
            "src",
            "dst",
            "--engine",
            "postgres",
            "--db",
            &db,
            "--dry-run",
        ],
        &["pg_dump", &db, "psql"],
    );
    unchanged(
        home.path(),
        &["docker", "root-move", "src", "dst", "--force", "--dry-run"],
        &[
            "dockerd",
            "copy src:/var/lib/docker",
            "/var/backups/migrate",
        ],
    );
    unchanged(
        home.path(),
        &[
            "docker",
            "root-relocate",
            "src",
            &format!("{root}/newroot"),
            "--fstab",
            "--dry-run",
        ],
        &["mount --bind", "/etc/fstab", "newroot"],
    );

    for h in ["src", "dst"] {
        ok(h, &cleanup);
    }
}

#[test]
fn a_dry_run_refuses_what_the_real_command_refuses() {
    let _lab = lab::enter(module_path!(), Need::Docker);
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let home = tempfile::tempdir().unwrap();
    // root-move onto a dst docker that holds a volume, without --force.
    let vol = format!("mt_dry_refuse_{}", std::process::id());
    ok("dst", &format!("docker volume create {vol} >/dev/null"));
    let before = snapshot("dst");
    let out = run(migrate(home.path()).args([
        "docker",
        "root-move",
        "src",
        "dst",
        "--dry-run",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one envelope");
    assert_eq!(v["ok"], false, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("--force"),
        "{v}"
    );
    assert_eq!(snapshot("dst"), before);
    ok("dst", &format!("docker volume rm {vol} >/dev/null"));
    // A volume that does not exist.
    let out =
        run(migrate(home.path()).args(["volume", "src:mt_no_such_volume_x", "dst", "--dry-run"]));
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("mt_no_such_volume_x"),
        "{}",
        stderr(&out)
    );
}
