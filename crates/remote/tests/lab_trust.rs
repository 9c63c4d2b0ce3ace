//! A pipe's temporary key against the lab's real sshd (src 127.0.0.2, dst
//! 127.0.0.3): authorized with `command=`, it runs the load it was made
//! for, whatever its holder asks dst to run. Fails when the lab is not
//! reachable; run it under the lab lock:
//! `flock /tmp/migrate-lab.lock cargo test -p migrate-remote --test lab_trust`.

use std::io::Write;
use std::time::Duration;

use migrate_remote::jobdir::{self, JobId};
use migrate_remote::{Host, HostSpec, trust};

/// A lab server; a test that needs it fails without it, unless the person
/// running the tests set `MIGRATE_TESTS_WITHOUT_LAB=1`: then it is skipped,
/// and says so on stderr (past libtest's capture) in the line
/// `scripts/test` counts.
async fn lab(name: &str) -> Option<Host> {
    let spec = HostSpec::parse(name).expect("the lab's host alias");
    match Host::connect(&spec).await {
        Ok(h) => Some(h),
        Err(e) if std::env::var("MIGRATE_TESTS_WITHOUT_LAB").as_deref() == Ok("1") => {
            let test = std::thread::current()
                .name()
                .unwrap_or("unnamed")
                .to_string();
            let line = format!(
                "\nmigrate-test-skipped: {test} (the lab's {name} is not reachable: {e})\n"
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
        Err(e) => panic!(
            "the lab's {name} server is not reachable ({e}); start it with scripts/services \
             (to skip the tests that need it instead, set MIGRATE_TESTS_WITHOUT_LAB=1)"
        ),
    }
}

async fn on(h: &Host, script: &str) -> String {
    String::from_utf8_lossy(&h.sh("a test's check", script, None).await.unwrap()).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipe_key_runs_its_load_and_nothing_else() {
    let Some(src) = lab("src").await else { return };
    let Some(dst) = lab("dst").await else { return };
    let n = std::process::id();
    let id = JobId::new(&format!("lab-forced-{n}")).unwrap();
    let jd = jobdir::find(&src, &id).await.unwrap();
    let (got, pwned) = (
        format!("/tmp/migrate-forced-{n}"),
        format!("/tmp/migrate-pwned-{n}"),
    );
    let load = format!("cat > {got}");
    let t = trust::setup_for_command(
        &src,
        &dst,
        "dst",
        &jd,
        id.as_str(),
        Duration::from_secs(600),
        &load,
    )
    .await
    .unwrap();
    assert!(t.expires.is_some(), "the lab's sshd takes expiry-time");
    let line = on(
        &dst,
        &format!(
            "grep -- ' {}$' /root/.ssh/authorized_keys",
            trust::marker_for(id.as_str())
        ),
    )
    .await;
    assert!(
        line.starts_with("restrict,expiry-time=\"") && line.contains(",command=\""),
        "{line}"
    );

    // The key's holder asks for something else; dst runs the load.
    let asked = on(
        &src,
        &format!(
            "printf hello | ssh -F /dev/null -o BindAddress=127.0.0.2 -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none \
             -i {jd}/key -o UserKnownHostsFile={jd}/known_hosts -o GlobalKnownHostsFile=/dev/null \
             -o HostKeyAlias=migrate-dst-{id} -o StrictHostKeyChecking=yes \
             root@127.0.0.3 'touch {pwned}; echo asked-ran' 2>&1; echo rc=$?"
        ),
    )
    .await;
    let after = on(
        &dst,
        &format!("cat {got} 2>/dev/null; echo; ls {pwned} 2>/dev/null || echo no-pwned"),
    )
    .await;
    trust::teardown(&src, &dst, &jd, id.as_str()).await.unwrap();
    let left = on(
        &dst,
        &format!(
            "grep -c -- ' {}$' /root/.ssh/authorized_keys || true; rm -f {got} {pwned}",
            trust::marker_for(id.as_str())
        ),
    )
    .await;
    let _ = on(&src, &format!("rm -rf {jd}")).await;

    assert!(
        asked.contains("rc=0") && !asked.contains("asked-ran"),
        "{asked}"
    );
    assert_eq!(after, "hello\nno-pwned\n", "what dst ran");
    assert_eq!(left.trim(), "0", "teardown left the key");
}
