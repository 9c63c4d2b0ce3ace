//! `migrate copy` against the real two-server lab (lab/up.sh): sshd on
//! 127.0.0.2 (src) and 127.0.0.3 (dst), each with its own ext4 disk at /srv.
//! The tests compare the trees themselves (find + sha256sum + getfattr on
//! each server), never through the tool's own verification.
//!
//! Without the lab these tests fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::support::cli::{migrate, run, stderr, stdout};
use crate::support::lab::{self, Need, ok_bytes as on};

/// A fresh directory name on the servers for this test.
fn unique(name: &str) -> String {
    format!("/srv/e2e-copy/{name}-{}", std::process::id())
}

fn reset(path: &str) {
    for h in ["src", "dst"] {
        on(h, &format!("rm -rf '{path}' '{path}'.migrate-aside-*"));
    }
}

/// Everything a user cares about in a tree, computed on the server by
/// standard tools: per path type, size, mtime (ns), mode, owner, link
/// target, content hash, xattrs; plus which paths are hard links of each
/// other; plus allocated blocks of the named sparse file.
#[derive(Debug, PartialEq, Eq)]
struct Tree {
    entries: BTreeMap<Vec<u8>, String>,
    hashes: BTreeMap<Vec<u8>, String>,
    link_groups: BTreeSet<Vec<Vec<u8>>>,
    xattrs: String,
}

fn tree(host: &str, root: &str) -> Tree {
    let listing = on(
        host,
        &format!("cd '{root}' && find . -printf '%y %s %T@ %m %U %G\\0%p\\0%l\\0%i\\0'"),
    );
    let mut entries = BTreeMap::new();
    let mut inodes: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    let fields: Vec<&[u8]> = listing.split(|b| *b == 0).collect();
    for rec in fields.chunks(4).filter(|c| c.len() == 4) {
        let meta = String::from_utf8_lossy(rec[0]).into_owned();
        let path = rec[1].to_vec();
        let kind = meta.split(' ').next().unwrap_or("").to_string();
        // Directory sizes depend on the filesystem's history, not the data.
        let meta = if kind == "d" {
            let mut m: Vec<&str> = meta.split(' ').collect();
            m[1] = "-";
            m.join(" ")
        } else if kind == "l" {
            // A symlink's own mode is always 777; its mtime is not part of the data.
            let m: Vec<&str> = meta.split(' ').collect();
            format!("l {} {} {}", m[1], m[4], m[5])
        } else {
            meta
        };
        entries.insert(
            path.clone(),
            format!("{meta} -> {}", String::from_utf8_lossy(rec[2])),
        );
        if kind == "f" {
            inodes
                .entry(String::from_utf8_lossy(rec[3]).into_owned())
                .or_default()
                .push(path);
        }
    }
    let link_groups = inodes
        .into_values()
        .filter(|g| g.len() > 1)
        .map(|mut g| {
            g.sort();
            g
        })
        .collect();
    let sums = on(
        host,
        &format!("cd '{root}' && find . -type f -print0 | xargs -0 -r sha256sum -z --"),
    );
    let hashes = sums
        .split(|b| *b == 0)
        .filter(|r| r.len() > 66)
        .map(|r| {
            (
                r[66..].to_vec(),
                String::from_utf8_lossy(&r[..64]).into_owned(),
            )
        })
        .collect();
    let xattrs = String::from_utf8_lossy(&on(
        host,
        &format!("cd '{root}' && getfattr -R -h -d -m - . 2>/dev/null; getfacl -R -p -n . 2>/dev/null | grep -v '^#' | sort; true"),
    ))
    .into_owned();
    Tree {
        entries,
        hashes,
        link_groups,
        xattrs,
    }
}

fn assert_same_tree(src_root: &str, dst_root: &str) {
    let a = tree("src", src_root);
    let b = tree("dst", dst_root);
    for (p, m) in &a.entries {
        assert_eq!(
            b.entries.get(p),
            Some(m),
            "entry {} differs",
            String::from_utf8_lossy(p)
        );
    }
    assert_eq!(a.entries.len(), b.entries.len(), "extra entries on dst");
    assert_eq!(a.hashes, b.hashes, "file contents differ");
    assert_eq!(a.link_groups, b.link_groups, "hard links not preserved");
    assert_eq!(a.xattrs, b.xattrs, "xattrs/ACLs differ");
}

/// A tree with everything that tends to break copies.
fn make_hostile_tree(root: &str) {
    on(
        "src",
        &format!(
            r#"set -e
mkdir -p '{root}' && cd '{root}'
mkdir -p a/b/c "with space" empty/nested secret
head -c 300000 /dev/urandom > a/data.bin
ln a/data.bin a/b/hardlink
ln a/data.bin "with space/third link"
ln -s ../a/data.bin a/b/c/rel-link
ln -s /nonexistent/target dangling
printf 'spaces' > "with space/file name.txt"
printf 'newline' > "$(printf 'new\nline')"
printf 'latin1' > "$(printf 'caf\xe9')"
printf 'tab' > "$(printf 'tab\there')"
printf -- 'dash' > ./-starts-with-dash
printf 'odd owner' > orphan && chown 4242:4343 orphan
printf 'secret' > secret/key && chmod 600 secret/key && chmod 700 secret
chmod 2775 a/b
truncate -s 64M sparse.img
printf 'middle' | dd of=sparse.img bs=1 seek=33554432 conv=notrunc status=none
printf 'attr' > xattr.txt && setfattr -n user.migrate -v hello xattr.txt
setfacl -m u:4242:r xattr.txt 2>/dev/null || true
mkfifo a/fifo
touch -h -d '2001-02-03 04:05:06.123456789' a/b/c/rel-link
touch -d '2020-05-06 07:08:09.987654321' a/data.bin orphan
touch -d '2019-01-01 00:00:00' empty/nested empty
"#
        ),
    );
}

fn copy_cmd(home: &Path, args: &[&str]) -> Command {
    let mut c = migrate(home);
    c.arg("copy").args(args);
    c
}

/// This test's job id and job dir on src (from its own operator state).
fn job(home: &Path) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(home.join("state/migrate/copy-jobs.json")).expect("a job was registered"),
    )
    .expect("registry is JSON");
    (
        v[0]["id"].as_str().unwrap_or_default().to_string(),
        v[0]["job_dir"].as_str().unwrap_or_default().to_string(),
    )
}

/// Temporary keys of this test's job still authorized on dst.
fn authorized_markers(home: &Path) -> usize {
    let (id, _) = job(home);
    let out = on(
        "dst",
        &format!("grep -c 'migrate-copy-tmp-{id}' ~/.ssh/authorized_keys || true"),
    );
    String::from_utf8_lossy(&out).trim().parse().unwrap_or(0)
}

/// Key files of this test's job left on src.
fn src_key_files(home: &Path) -> String {
    let (_, jd) = job(home);
    String::from_utf8_lossy(&on("src", &format!("ls '{jd}'/key* 2>/dev/null || true")))
        .trim()
        .to_string()
}

fn job_json(home: &Path) -> serde_json::Value {
    let out = run(migrate(home).args(["--json", "status"]));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    v["result"]["jobs"].clone()
}

#[test]
fn hostile_tree_arrives_identical_then_final_pass_mirrors_changes() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let root = unique("hostile");
    reset(&root);
    make_hostile_tree(&root);
    let spec_src = format!("src:{root}");
    let spec_dst = format!("dst:{root}");

    let out = run(&mut copy_cmd(
        home.path(),
        &[&spec_src, &spec_dst, "--verify"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("copy looks good:"),
        "{}",
        stdout(&out)
    );
    assert_same_tree(&root, &root);
    let du = on("dst", &format!("du -k '{root}/sparse.img' | cut -f1"));
    let kib: u64 = String::from_utf8_lossy(&du).trim().parse().unwrap();
    assert!(kib < 1024, "the 64 MiB sparse file takes {kib} KiB on dst");
    assert_eq!(
        authorized_markers(home.path()),
        0,
        "temporary key left on dst"
    );
    assert_eq!(src_key_files(home.path()), "", "temporary key left on src");

    // Live changes, then the final pass: changed, added, removed (file,
    // directory, hard link), type change.
    on(
        "src",
        &format!(
            r#"set -e; cd '{root}'
printf 'changed' > "with space/file name.txt"
printf 'new file' > a/b/new.txt
rm -rf empty
rm "with space/third link"
rm dangling && mkdir dangling && printf x > dangling/inside
"#
        ),
    );
    let before = tree("src", &root);
    let out = run(&mut copy_cmd(
        home.path(),
        &[&spec_src, &spec_dst, "--final", "--verify", "--json"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&v["ok"], &v["exit_code"]),
        (&true.into(), &0.into()),
        "{v}"
    );
    let v = &v["result"];
    assert_eq!(v["verified"]["identical"], true, "{v}");
    assert!(
        v["files_sent"].as_u64().unwrap() < 10,
        "the final pass resent everything: {v}"
    );
    assert_same_tree(&root, &root);
    assert_eq!(
        before,
        tree("src", &root),
        "the final pass changed the source"
    );
    // One more change, the pass checked by what it sent only: one file,
    // hashed on both servers.
    on("src", &format!("printf 'again' > '{root}/a/b/new.txt'"));
    let out = run(&mut copy_cmd(
        home.path(),
        &[&spec_src, &spec_dst, "--final", "--verify-sent", "--json"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verified = &v["result"]["verified"];
    assert_eq!(
        (
            &verified["scope"],
            &verified["identical"],
            &verified["files"]
        ),
        (&"sent".into(), &true.into(), &1.into()),
        "{v}"
    );
    assert_same_tree(&root, &root);
    assert_eq!(authorized_markers(home.path()), 0);

    // A difference made behind the tool's back is reported with exit 6.
    on("dst", &format!("printf tampered > '{root}/orphan'"));
    let out = run(&mut copy_cmd(
        home.path(),
        &[&spec_src, &spec_dst, "--final", "--verify"],
    ));
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("orphan"), "{}", stdout(&out));
    // --force compares with the destination itself and repairs it.
    let out = run(&mut copy_cmd(
        home.path(),
        &[&spec_src, &spec_dst, "--final", "--verify", "--force"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_same_tree(&root, &root);
    reset(&root);
}

#[test]
fn relay_mode_copies_through_the_operator() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let root = unique("relay");
    reset(&root);
    make_hostile_tree(&root);
    let out = run(&mut copy_cmd(
        home.path(),
        &[
            &format!("src:{root}"),
            &format!("dst:{root}"),
            "--relay",
            "--verify",
        ],
    ));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("warning: --relay"),
        "{}",
        stderr(&out)
    );
    assert_same_tree(&root, &root);
    assert_eq!(authorized_markers(home.path()), 0);
    reset(&root);
}

fn make_bulk_tree(root: &str, files: usize, kib: usize) {
    on(
        "src",
        &format!(
            "set -e; mkdir -p '{root}'; cd '{root}'; for i in $(seq 1 {files}); do d=d$((i % 7)); mkdir -p $d; head -c {kib}K /dev/urandom > $d/f$i; done"
        ),
    );
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        sleep(Duration::from_millis(200));
    }
}

/// Files a job's streams have sent so far.
fn progress(jd: &str) -> usize {
    let n = on(
        "src",
        &format!("cat '{jd}'/s0.idx '{jd}'/s1.idx 2>/dev/null | wc -l"),
    );
    String::from_utf8_lossy(&n)
        .trim()
        .parse::<usize>()
        .unwrap_or(0)
}

/// A 40-file tree being copied slowly (2 streams at 1 MB/s each), once its
/// job directory is known: (operator home, tree, migrate process, job dir).
fn slow_copy_started(name: &str) -> (tempfile::TempDir, String, std::process::Child, String) {
    let home = tempfile::tempdir().unwrap();
    let root = unique(name);
    reset(&root);
    make_bulk_tree(&root, 40, 256);
    let (s, d) = (format!("src:{root}"), format!("dst:{root}"));
    let child = copy_cmd(home.path(), &[&s, &d, "--streams", "2", "--bwlimit", "1m"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the registry", 30, || {
        home.path().join("state/migrate/copy-jobs.json").exists()
    });
    let (_, jd) = job(home.path());
    (home, root, child, jd)
}

#[test]
fn a_dropped_stream_connection_is_retried_and_the_copy_finishes() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let (home, root, child, jd) = slow_copy_started("linkdrop");
    // One cut of every src→dst stream connection, once files flow.
    wait_until("some progress", 60, || progress(&jd) >= 8);
    on(
        "src",
        &format!("for p in $(pgrep -f -- '-i {jd}/key'); do kill $p; done"),
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("dropped and were started again"),
        "{}",
        stderr(&out)
    );
    assert_same_tree(&root, &root);
    assert_eq!(authorized_markers(home.path()), 0);
    reset(&root);
}

#[test]
fn killed_link_resumes_without_recopying_finished_files() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let (home, root, child, jd) = slow_copy_started("linkkill");
    let (s, d) = (format!("src:{root}"), format!("dst:{root}"));
    // Let a few files arrive, then keep cutting every src→dst ssh
    // connection of this job for 12 s: longer than a stream's retries.
    wait_until("some progress", 60, || progress(&jd) >= 8);
    on(
        "src",
        &format!(
            "for i in $(seq 1 60); do for p in $(pgrep -f -- '-i {jd}/key'); do kill $p; done; sleep 0.2; done"
        ),
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("run the same command again"),
        "{}",
        stderr(&out)
    );
    let partial = String::from_utf8_lossy(&on("dst", &format!("find '{root}' -type f | wc -l")))
        .trim()
        .parse::<u64>()
        .unwrap();
    assert!(partial > 0 && partial < 40, "{partial} files on dst");

    let out = run(&mut copy_cmd(home.path(), &[&s, &d, "--verify", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["command"], "copy", "{v}");
    let v = &v["result"];
    assert_eq!(v["verified"]["identical"], true, "{v}");
    let resent = v["files_sent"].as_u64().unwrap();
    assert!(resent < 40, "the rerun resent all {resent} files");
    assert!(
        resent + partial >= 40,
        "resent {resent} + {partial} present"
    );
    assert_same_tree(&root, &root);
    assert_eq!(authorized_markers(home.path()), 0);
    reset(&root);
}

#[test]
fn operator_death_does_not_stop_the_copy_and_status_shows_it() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let root = unique("opkill");
    reset(&root);
    make_bulk_tree(&root, 12, 256);
    let (s, d) = (format!("src:{root}"), format!("dst:{root}"));
    let mut child = copy_cmd(
        home.path(),
        &[&s, &d, "--streams", "2", "--bwlimit", "500k"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    wait_until("the job to run", 60, || {
        job_json(home.path())[0]["state"].as_str() == Some("running")
    });
    child.kill().unwrap();
    let _ = child.wait();
    let v = job_json(home.path());
    assert_eq!(v[0]["state"], "running", "{v}");
    let out = run(migrate(home.path()).args(["status", "--wait"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(": done"), "{}", stdout(&out));
    assert_same_tree(&root, &root);
    assert_eq!(
        authorized_markers(home.path()),
        0,
        "the job did not remove its key"
    );
    reset(&root);
}

#[test]
fn killed_job_keys_are_removed_by_cleanup_and_the_rerun_finishes() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let root = unique("cleanup");
    reset(&root);
    make_bulk_tree(&root, 8, 256);
    let (s, d) = (format!("src:{root}"), format!("dst:{root}"));
    // Slow enough (2 files of 256 KiB a stream at 50 KiB/s: about 10 s) that
    // the job is still running when the test kills it, however long a busy
    // machine takes to show its pid (at 200 KiB/s it had once finished).
    let out = run(&mut copy_cmd(
        home.path(),
        &[&s, &d, "--detach", "--bwlimit", "50k"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("running detached"),
        "{}",
        stdout(&out)
    );
    wait_until("the detached job to run", 30, || {
        job_json(home.path())[0]["pid"].is_string()
    });
    let v = job_json(home.path());
    let pid = v[0]["pid"].as_str().unwrap_or_default().to_string();
    assert!(
        authorized_markers(home.path()) >= 1,
        "no temporary key while the copy runs"
    );
    // A crash of the job itself: kill its whole session (setsid made it a group).
    on("src", &format!("kill -9 -- -{pid}"));
    wait_until("the job to be gone", 30, || {
        job_json(home.path())[0]["state"].as_str() == Some("interrupted")
    });
    assert!(authorized_markers(home.path()) >= 1);
    let out = run(migrate(home.path()).arg("cleanup"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("cleaned:"), "{}", stdout(&out));
    assert_eq!(
        authorized_markers(home.path()),
        0,
        "cleanup left the key on dst"
    );
    assert_eq!(
        src_key_files(home.path()),
        "",
        "cleanup left the key on src"
    );

    let out = run(&mut copy_cmd(home.path(), &[&s, &d, "--verify"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_same_tree(&root, &root);
    reset(&root);
}

#[test]
fn full_destination_disk_is_refused_and_the_rerun_succeeds_after_freeing_space() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let root = unique("diskfull");
    let mnt = format!("/mnt/e2e-small-{}", std::process::id());
    reset(&root);
    make_bulk_tree(&root, 20, 256);
    on(
        "dst",
        &format!("mkdir -p {mnt} && mount -t tmpfs -o size=2m tmpfs {mnt}"),
    );
    let before = tree("src", &root);
    let (s, d) = (format!("src:{root}"), format!("dst:{mnt}/copy"));
    let out = run(&mut copy_cmd(home.path(), &[&s, &d]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not enough space"),
        "{}",
        stderr(&out)
    );
    assert_eq!(before, tree("src", &root), "the source was touched");

    // Room for the bytes but not for the files: the preflight passes and
    // the extractor hits ENOSPC mid-copy.
    on(
        "dst",
        &format!("mount -o remount,size=64m,nr_inodes=12 {mnt}"),
    );
    let out = run(&mut copy_cmd(home.path(), &[&s, &d]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the destination disk filled up"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("the source is untouched"),
        "{}",
        stderr(&out)
    );
    assert_eq!(before, tree("src", &root), "the source was touched");
    assert_eq!(authorized_markers(home.path()), 0);

    on("dst", &format!("mount -o remount,nr_inodes=10000 {mnt}"));
    let out = run(&mut copy_cmd(home.path(), &[&s, &d, "--verify"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("copy looks good: 20 files"),
        "{}",
        stdout(&out)
    );
    assert_eq!(before, tree("src", &root));
    on("dst", &format!("umount {mnt} && rmdir {mnt}"));
    reset(&root);
}

#[test]
fn bad_inputs_get_clear_errors_and_touch_nothing() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let root = unique("bad");
    reset(&root);
    make_bulk_tree(&root, 2, 4);
    let s = format!("src:{root}");
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            vec![s.clone(), "root@127.0.0.9:/srv/x".into()],
            5,
            "cannot reach root@127.0.0.9",
        ),
        (
            vec![s.clone(), "nobody@dst:/srv/x".into()],
            5,
            "nobody@dst refused the login",
        ),
        (
            vec![s.clone(), "root@127.3:/srv/x".into()],
            5,
            "host key is not known",
        ),
        (
            vec!["src:/srv/does/not/exist".into(), format!("dst:{root}")],
            2,
            "src:/srv/does/not/exist does not exist",
        ),
        (vec![s.clone(), "dst".into()], 2, "no ':PATH'"),
        (vec![s.clone(), "dst:relative".into()], 2, "absolute"),
        (
            vec![
                s.clone(),
                format!("dst:{root}"),
                "--streams".into(),
                "0".into(),
            ],
            2,
            "streams",
        ),
    ];
    for (args, code, msg) in cases {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&mut copy_cmd(home.path(), &argv));
        assert_eq!(out.status.code(), Some(code), "{argv:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(msg), "{argv:?}: {}", stderr(&out));
    }
    // A destination with someone else's data is not overwritten.
    on(
        "dst",
        &format!("mkdir -p '{root}' && printf mine > '{root}/precious'"),
    );
    let out = run(&mut copy_cmd(home.path(), &[&s, &format!("dst:{root}")]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refusing to overwrite"),
        "{}",
        stderr(&out)
    );
    assert_eq!(on("dst", &format!("cat '{root}/precious'")), b"mine");
    reset(&root);
}
