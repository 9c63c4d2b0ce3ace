//! Temporary server-to-server trust ends by itself: a key left behind by a
//! killed copy is refused by dst's own sshd once its expiry has passed (the
//! test logs in with the key itself, before and after), and `migrate
//! cleanup` takes it out of authorized_keys. The lifetime is shortened with
//! `MIGRATE_KEY_LIFETIME`, the setting an operator has for it.
//!
//! Without the lab these tests fail.

use std::path::Path;
use std::process::Output;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::support::cli::{migrate, run, stderr, stdout};
use crate::support::lab::{self, Need, ok as on, sh};

/// The tests here compare dst's authorized_keys before and after: they run
/// one at a time, or one's temporary key shows up in the other's count.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

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

/// The one job this test's operator state knows: (id, job dir on src).
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

fn job_json(home: &Path) -> serde_json::Value {
    let out = run(migrate(home).args(["--json", "status"]));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    v["result"]["jobs"].clone()
}

/// The lines of dst's root authorized_keys that carry the job's marker.
fn key_lines(id: &str) -> Vec<String> {
    on(
        "dst",
        &format!("grep -- ' migrate-copy-tmp-{id}$' /root/.ssh/authorized_keys || true"),
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// Log in from src to dst with the job's own key and nothing else: no
/// ssh_config, no agent, no other identity; dst's host key as the job
/// pinned it; from src's own address, the one `from=` names.
fn login_with_the_key(id: &str, jd: &str) -> Output {
    sh(
        "src",
        &format!(
            "ssh -F /dev/null -o BindAddress=127.0.0.2 -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none \
             -i '{jd}/key' -o UserKnownHostsFile='{jd}/known_hosts' -o GlobalKnownHostsFile=/dev/null \
             -o HostKeyAlias=migrate-dst-{id} -o StrictHostKeyChecking=yes -o ConnectTimeout=10 \
             root@127.0.0.3 echo logged-in"
        ),
    )
}

/// dst's clock as sshd reads `expiry-time` (local time, YYYYMMDDHHMMSS).
fn dst_now() -> u64 {
    on("dst", "date +%Y%m%d%H%M%S").trim().parse().unwrap_or(0)
}

#[test]
fn a_killed_copys_key_is_refused_after_its_expiry_and_cleanup_removes_it() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let home = tempfile::tempdir().unwrap();
    let root = format!("/srv/e2e-trust/expiry-{}", std::process::id());
    for h in ["src", "dst"] {
        on(h, &format!("rm -rf '{root}'"));
    }
    let _gone = lab::Cleanup::on("src", format!("rm -rf '{root}'"));
    let _gone_dst = lab::Cleanup::on("dst", format!("rm -rf '{root}'"));
    on(
        "src",
        &format!(
            "set -e; mkdir -p '{root}'; cd '{root}'; for i in $(seq 1 8); do head -c 256K /dev/urandom > f$i; done"
        ),
    );
    let (s, d) = (format!("src:{root}"), format!("dst:{root}"));
    // Slow (2 MiB at 50 KiB/s), so it is still running when it is killed.
    let out = run(migrate(home.path())
        .env("MIGRATE_KEY_LIFETIME", "30s")
        .args(["copy", &s, &d, "--detach", "--bwlimit", "50k"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    wait_until("the detached job to run", 30, || {
        job_json(home.path())[0]["pid"].is_string()
    });
    let (id, jd) = job(home.path());
    let lines = key_lines(&id);
    assert_eq!(lines.len(), 1, "one temporary key on dst: {lines:?}");
    let line = &lines[0];
    assert!(line.starts_with("restrict,"), "{line}");
    assert!(line.contains(",from=\"127.0.0.2\""), "{line}");
    let expiry: u64 = line
        .split("expiry-time=\"")
        .nth(1)
        .and_then(|r| r.get(..14))
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("no expiry-time on the key: {line}"));

    // A crash of the job: its whole session, as a power cut would.
    let pid = job_json(home.path())[0]["pid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    on("src", &format!("kill -9 -- -{pid}"));
    wait_until("the job to be gone", 30, || {
        job_json(home.path())[0]["state"].as_str() == Some("interrupted")
    });

    // Before the expiry the key works: what refuses it later is the expiry.
    assert!(
        dst_now() < expiry,
        "the key expired before the test could try it (expiry {expiry}, now {})",
        dst_now()
    );
    let o = login_with_the_key(&id, &jd);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("logged-in"),
        "the key did not work before its expiry: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    // After it, dst's sshd refuses it, though the line is still there.
    wait_until("the expiry to pass on dst", 60, || dst_now() > expiry);
    sleep(Duration::from_secs(1));
    let o = login_with_the_key(&id, &jd);
    assert!(!o.status.success(), "the expired key still logs in");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Permission denied"),
        "not refused by sshd: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(key_lines(&id).len(), 1, "the line went away by itself");

    // `migrate cleanup` takes the line out, and the key off src.
    let out = run(migrate(home.path()).arg("cleanup"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("cleaned:"), "{}", stdout(&out));
    assert_eq!(key_lines(&id), Vec::<String>::new(), "cleanup left the key");
    assert_eq!(
        on("src", &format!("ls '{jd}'/key* 2>/dev/null || true")).trim(),
        "",
        "cleanup left the key files on src"
    );
}

#[test]
fn an_unusable_key_lifetime_is_refused_before_anything_happens() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let home = tempfile::tempdir().unwrap();
    let root = format!("/srv/e2e-trust/badlife-{}", std::process::id());
    on("src", &format!("mkdir -p '{root}' && echo x > '{root}/f'"));
    let _gone = lab::Cleanup::on("src", format!("rm -rf '{root}'"));
    let before = lab::keys("dst");
    let out = run(migrate(home.path())
        .env("MIGRATE_KEY_LIFETIME", "5s")
        .args(["copy", &format!("src:{root}"), &format!("dst:{root}")]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("MIGRATE_KEY_LIFETIME") && stderr(&out).contains("at least"),
        "{}",
        stderr(&out)
    );
    assert_eq!(lab::keys("dst"), before, "a key was added");
    assert_eq!(
        on("dst", &format!("ls -d '{root}' 2>/dev/null || true")).trim(),
        "",
        "the destination was created"
    );
}
