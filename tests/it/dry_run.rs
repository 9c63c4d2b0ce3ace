//! `--dry-run` on the commands that change servers: each is run against the
//! two-server lab, and both servers' state (files under /srv, docker
//! volumes and their contents and owners, containers, their state and start
//! times, swarm services' replicas and labels, dockerd's pid, config and
//! saved command line, the host PostgreSQL's databases, root's
//! authorized_keys, the copy job directories, /var/backups/migrate) and the
//! operator's own state directory are
//! snapshotted before and after: a dry run must change none of it, and
//! must print the commands it would run.
//!
//! Without the lab these tests fail.

use std::path::Path;
use std::sync::Mutex;

use crate::support::cli::{migrate, run, stderr, stdout};
use crate::support::lab::{self, Cleanup, Need, ok};

/// The tests change the servers while setting up: one at a time.
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
  echo "$v $(find "$m" -printf '%P %y %s %T@ %m %U %G\n' 2>/dev/null | LC_ALL=C sort | sha256sum)"
done
# A swarm task's container is the orchestrator's to start and reap, on
# its own clock (a scaled-down service's exited tasks vanish later): the
# service's spec below is what a dry run could change, so tasks are left out.
own=$(docker ps -a --format '{{.ID}} {{.Label "com.docker.swarm.task.id"}}' | awk 'NF == 1 {print $1}')
echo '## containers'; for c in $own; do docker inspect -f '{{.Name}} {{.State.Status}} {{.State.StartedAt}} {{.State.FinishedAt}}' "$c"; done 2>&1 | LC_ALL=C sort
echo '## services'; docker service inspect -f '{{.Spec.Name}} {{.Version.Index}} {{.Spec.Mode.Replicated.Replicas}} {{json .Spec.Labels}}' $(docker service ls -q 2>/dev/null) 2>&1 | LC_ALL=C sort
echo '## daemon'; pidof dockerd; sha256sum /etc/docker/daemon.json 2>&1; ls -la --time-style=full-iso /var/lib/migrate 2>&1
echo '## job dirs'; find /root/.local/state/migrate -printf '%p %y %s %T@\n' 2>&1 | LC_ALL=C sort | sha256sum
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

/// Both servers and the operator's state, once they have stopped changing
/// by themselves (dockerd and the swarm settle after a real command just
/// before): two snapshots in a row agree. Only then can a change
/// afterwards be put down to the dry run.
fn settled(home: &Path) -> (String, String, String) {
    let take = || (snapshot("src"), snapshot("dst"), operator_state(home));
    let mut last = take();
    for _ in 0..30 {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let now = take();
        if now == last {
            return now;
        }
        last = now;
    }
    panic!(
        "the servers kept changing by themselves for 30 s; no dry run can be judged against them"
    );
}

/// Runs one dry run and checks that nothing changed and that `expect`
/// (commands it would run) was printed.
fn unchanged(home: &Path, args: &[&str], expect: &[&str]) -> String {
    let before = settled(home);
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
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
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
    // The job script is shown exactly: it is the one the real pass then
    // writes into its job directory (but for the aside directory's time).
    let copy_args = [
        "copy",
        &src_tree,
        &dst_tree,
        "--final",
        "--force",
        "--exclude",
        "*.log",
    ];
    let out = run(migrate(home.path())
        .args(copy_args)
        .args(["--dry-run", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one envelope");
    let cmds: Vec<String> = v["result"]["plan"]["commands"]
        .as_array()
        .expect("commands")
        .iter()
        .map(|c| c.as_str().unwrap_or("").to_string())
        .collect();
    let (job_dir, shown) = cmds
        .iter()
        .find_map(|c| {
            let (head, body) = c.split_once('\n')?;
            let jd = head.strip_prefix("src: ")?.strip_suffix("/run.sh:")?;
            Some((jd.to_string(), body.to_string()))
        })
        .unwrap_or_else(|| panic!("no job script in {cmds:#?}"));
    for secret in ["PRIVATE KEY", "ssh-ed25519 AAAA"] {
        assert!(!shown.contains(secret), "key material shown:\n{shown}");
    }
    assert!(
        shown.contains(&format!("{job_dir}/key")),
        "the key is not shown by its path:\n{shown}"
    );
    let out = run(migrate(home.path()).args(copy_args));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written = ok("src", &format!("cat '{job_dir}/run.sh'"));
    let timeless = |s: &str| {
        let mut out = String::new();
        for (i, part) in s.split(".migrate-aside-").enumerate() {
            if i > 0 {
                out.push_str(".migrate-aside-TIME");
                out.push_str(part.get(15..).unwrap_or(""));
            } else {
                out.push_str(part);
            }
        }
        out
    };
    assert_eq!(
        timeless(shown.trim_end()),
        timeless(written.trim_end()),
        "the dry run's job script is not the one the pass ran"
    );
    ok("src", &format!("rm -rf '{job_dir}'"));

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
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
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

/// Where `needle` first appears in `text` (the test fails when it does not).
fn at(text: &str, needle: &str) -> usize {
    text.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} is not in:\n{text}"))
}

#[test]
fn lifecycle_owner_daemon_and_cleanup_dry_runs_change_nothing() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let home = tempfile::tempdir().unwrap();
    let id = std::process::id();
    let proj = format!("mtdry{id}");
    let (db, web, old) = (
        format!("{proj}_db"),
        format!("{proj}_web"),
        format!("{proj}_old"),
    );
    let vol = format!("mt_dry_own_{id}");
    let svc = format!("mt_dry_svc_{id}");
    let marker = format!("migrate-copy-tmp-dry{id}");
    let root = format!("/srv/e2e-dry-life/{id}");
    let was_swarm = ok("src", "docker info -f '{{.Swarm.LocalNodeState}}'").trim() == "active";
    // Undone even when an assertion fails: a left-over swarm would be copied
    // by the docker-root tests.
    let _src = Cleanup::on(
        "src",
        format!(
            "docker rm -f {web} {db} {old} >/dev/null 2>&1; docker volume rm {vol} >/dev/null 2>&1
docker service rm {svc} >/dev/null 2>&1; {}
rm -rf '{root}'; true",
            if was_swarm {
                "true"
            } else {
                "docker swarm leave --force >/dev/null 2>&1"
            }
        ),
    );
    let unplant = format!(
        "f=/root/.ssh/authorized_keys; grep -v ' {marker}$' \"$f\" > \"$f.t\"; cat \"$f.t\" > \"$f\"; rm -f \"$f.t\"; rm -rf '{root}'; true"
    );
    let _dst = Cleanup::on("dst", unplant.clone());

    // A compose project of two running containers (web depends on db) and
    // a stopped one; db mounts a volume whose files belong to uid 1000.
    ok(
        "src",
        &format!(
            "set -e
docker volume create {vol} >/dev/null
m=$(docker volume inspect -f '{{{{.Mountpoint}}}}' {vol})
echo a > \"$m/a\"; echo b > \"$m/b\"; chown 1000:1000 \"$m/a\" \"$m/b\"
docker run -d --name {db} --network host --label com.docker.compose.project={proj} \
  --label com.docker.compose.service=db -v {vol}:/data lab/busybox:latest sleep 3600 >/dev/null
docker run -d --name {web} --network host --label com.docker.compose.project={proj} \
  --label com.docker.compose.service=web --label com.docker.compose.depends_on=db:service_started:false \
  lab/busybox:latest sleep 3600 >/dev/null
docker create --name {old} --network host --label com.docker.compose.project={proj} \
  --label com.docker.compose.service=old lab/busybox:latest true >/dev/null"
        ),
    );

    let t = unchanged(
        home.path(),
        &["docker", "stop", "src", "--project", &proj, "-n"],
        &[&format!("POST /containers/{web}/stop?t=60"), &old],
    );
    assert!(
        at(&t, &format!("/containers/{web}/stop")) < at(&t, &format!("/containers/{db}/stop")),
        "dependents are not stopped first:\n{t}"
    );
    let t = unchanged(
        home.path(),
        &["docker", "start", "src", "--project", &proj, "--dry-run"],
        &[&format!("POST /containers/{db}/start"), "until healthy"],
    );
    assert!(
        at(&t, &format!("/containers/{db}/start")) < at(&t, &format!("/containers/{web}/start")),
        "dependencies are not started first:\n{t}"
    );
    unchanged(
        home.path(),
        &[
            "docker",
            "owners",
            "src",
            &vol,
            "--map-owner",
            "1000:1001",
            "-n",
        ],
        &[
            "2 entries would change",
            "-uid 1000 -exec chown -h 1001",
            "-gid 1000 -exec chgrp -h 1001",
        ],
    );
    // Nothing owned by the id: nothing to run.
    let t = unchanged(
        home.path(),
        &[
            "docker",
            "owners",
            "src",
            &vol,
            "--map-owner",
            "4242:1001",
            "-n",
        ],
        &["0 entries would change"],
    );
    assert!(!t.contains("chown"), "{t}");
    let init = ok(
        "src",
        "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then echo systemd; else echo manual; fi",
    );
    let (stop_cmd, start_cmd) = if init.trim() == "systemd" {
        (
            "systemctl stop docker.socket docker.service",
            "systemctl start docker.service",
        )
    } else {
        (
            "kill -TERM \"$pid\"",
            "xargs -0 -a /var/lib/migrate/dockerd.cmdline",
        )
    };
    unchanged(
        home.path(),
        &["docker", "daemon", "stop", "src", "-n"],
        &[stop_cmd],
    );
    unchanged(
        home.path(),
        &["docker", "daemon", "start", "dst", "-n"],
        &[start_cmd],
    );

    // Swarm services: scale-down's update, then (after a real scale-down)
    // scale-up's.
    if !was_swarm {
        ok(
            "src",
            "docker swarm init --advertise-addr 127.0.0.2 --listen-addr 127.0.0.2:2377 >/dev/null",
        );
    }
    ok(
        "src",
        &format!(
            "docker service create --detach --name {svc} --replicas 2 --network host \
             lab/busybox:latest sleep 3600 >/dev/null
             for i in $(seq 60); do [ \"$(docker service ps -q -f desired-state=running {svc} | wc -l)\" = 2 ] && exit 0; sleep 1; done; exit 1"
        ),
    );
    unchanged(
        home.path(),
        &["docker", "scale-down", "src", "--service", &svc, "-n"],
        &[
            &format!("POST /services/{svc}/update?version="),
            "\"Replicas\": 0",
            "\"migrate.replicas-before\": \"2\"",
            "(was 2 replicas)",
        ],
    );
    let o = run(migrate(home.path()).args(["docker", "scale-down", "src", "--service", &svc]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    unchanged(
        home.path(),
        &["docker", "scale-up", "src", "--service", &svc, "-n"],
        &[
            &format!("POST /services/{svc}/update?version="),
            "\"Replicas\": 2",
            "label migrate.replicas-before removed",
        ],
    );

    // copy cleanup: a finished copy in the operator's registry, and a
    // temporary key left in dst's authorized_keys (as a killed copy leaves it).
    ok("src", &format!("mkdir -p '{root}' && echo x > '{root}/x'"));
    let (s, d) = (format!("src:{root}"), format!("dst:{root}"));
    let o = run(migrate(home.path()).args(["copy", &s, &d]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    ok(
        "dst",
        &format!(
            "printf '%s\\n' 'restrict,command=\"false\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMigrateDryRunTestKeyNotARealKeyAAAAAAAAAAA {marker}' >> /root/.ssh/authorized_keys"
        ),
    );
    let t = unchanged(
        home.path(),
        &["copy", "cleanup", "--purge", "dst", "-n"],
        &[
            "remove job",
            "key from ~/.ssh/authorized_keys",
            "rm -rf -- ",
            "forget job",
            "dst: remove every migrate temporary key",
            "migrate-copy-tmp-[A-Za-z0-9_-]+$",
        ],
    );
    assert!(t.contains("/migrate/"), "no job directory shown:\n{t}");
    assert!(
        ok("dst", "cat /root/.ssh/authorized_keys").contains(&marker),
        "the planted key is gone"
    );
    ok("dst", &unplant);
    // The copy's job directory goes the way the tool removes it.
    let o = run(migrate(home.path()).args(["copy", "cleanup", "--purge"]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
