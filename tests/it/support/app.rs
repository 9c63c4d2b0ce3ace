//! Helpers for the `migrate app` tests (tests/app_*.rs): the operator's
//! side of one migration (its home, journal, a run killed at a step), the
//! web fronts' answers through the production name, and files and install
//! scripts put on the lab's servers.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `migrate` with its own home; compiled plugins are shared between tests.
pub fn migrate_in(home: &Path) -> Command {
    let mut c = super::migrate(home);
    c.env("XDG_CACHE_HOME", super::target_dir().join("test-app-cache"));
    c
}

/// The journal of the (one) migration run from `home`.
pub fn journal(home: &Path) -> PathBuf {
    let dir = home.join("data/migrate/migrations");
    std::fs::read_dir(&dir)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.path().join("journal.jsonl"))
        .unwrap_or_else(|| dir.join("none"))
}

/// Run `migrate app --yes --file FILE` and kill it (SIGKILL) once `step`
/// has started; if it ends before, panic with what it said.
pub fn kill_at(home: &Path, file: &Path, step: &str) {
    let err = home.join("killed-run.stderr");
    let mut child = migrate_in(home)
        .args(["app", "--yes", "--file"])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("spawn migrate");
    let needle = format!("\"step\":\"{step}\",\"event\":\"start\"");
    let t = Instant::now();
    loop {
        if std::fs::read_to_string(journal(home)).is_ok_and(|j| j.contains(&needle)) {
            break;
        }
        if let Ok(Some(s)) = child.try_wait() {
            panic!(
                "migrate exited ({s}) before step {step} started:\n{}{}",
                std::fs::read_to_string(&err).unwrap_or_default(),
                std::fs::read_to_string(journal(home)).unwrap_or_default()
            );
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "step {step} never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill");
    let _ = child.wait();
}

/// GET with the production Host header; status 0 when nothing answers.
pub fn http_get(addr: &str, port: u16, domain: &str, path: &str) -> (u16, String) {
    let Ok(mut s) = std::net::TcpStream::connect((addr, port)) else {
        return (0, String::new());
    };
    let req = format!("GET {path} HTTP/1.0\r\nHost: {domain}\r\n\r\n");
    let mut text = String::new();
    if s.write_all(req.as_bytes()).is_err() || s.read_to_string(&mut text).is_err() {
        return (0, String::new());
    }
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_string())
}

/// Run a script on a lab server; its stdout, or a panic with its output.
pub fn ok(host: &str, script: &str) -> String {
    let o = super::on_server_raw(host, script);
    assert!(
        o.status.success(),
        "on {host}: {script}\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Write files (name, bytes, mode) into `dir` on a lab server.
pub fn put(host: &str, dir: &str, files: &[(&str, &[u8], &str)]) {
    for (name, data, mode) in files {
        let mut c = Command::new("ssh")
            .args([
                "-o",
                "BatchMode=yes",
                host,
                &format!("mkdir -p {dir} && cat > {dir}/{name} && chmod {mode} {dir}/{name}"),
            ])
            .stdin(Stdio::piped())
            .spawn()
            .expect("ssh");
        c.stdin.take().expect("stdin").write_all(data).expect("put");
        assert!(c.wait().expect("wait").success(), "put {name} on {host}");
    }
}

/// Run an example's install script on a lab server: `command` is the
/// remote command line (e.g. `VAR=x bash -s -- ARGS`), the script its stdin.
pub fn install(host: &str, command: &str, script: &Path) -> Output {
    let text = std::fs::read(script).expect("install script");
    let o = Command::new("ssh")
        .args([host, command])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(&text)?;
            c.wait_with_output()
        })
        .expect("install");
    assert!(
        o.status.success(),
        "install on {host}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Shell single quotes.
pub fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A digest of root's authorized_keys on a lab server (temporary keys left
/// behind change it).
pub fn keys(host: &str) -> String {
    ok(
        host,
        "cat /root/.ssh/authorized_keys 2>/dev/null | sha256sum",
    )
}
