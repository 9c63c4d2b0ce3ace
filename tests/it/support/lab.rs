//! The two-server lab (lab/README.md): src on 127.0.0.2 and dst on
//! 127.0.0.3, each with its own sshd, dockerd, PostgreSQL and disk. Whose
//! turn it is to use them, commands and files on them, ports on them.
//!
//! # Turns
//!
//! All tests are one binary, so libtest runs tests of different modules at
//! the same time. The lab cannot take that: a migration test checks that no
//! temporary key is left in root's authorized_keys while a copy test adds
//! one, the docker-root tests stop both servers' dockerd under the compose
//! and stack tests, a swarm joined by one test is left by another. So the
//! tests of one module use the lab together (as they always have, with the
//! module's own locks for what its tests must not do at once), and the
//! tests of different modules take turns: [`enter`] waits until no test of
//! another module holds the lab. A module's tests run at most as many at
//! once as libtest runs tests by default (one a core), whatever
//! `--test-threads` says: more threads only serve tests without the lab.
//!
//! A test that needs the lab fails when the lab is not up: it never passes
//! without having run. Only a person who says so, with
//! `MIGRATE_TESTS_WITHOUT_LAB=1`, gets it skipped instead: the test returns
//! at once and says so on stderr (past libtest's capture), and
//! `scripts/test` counts it as skipped, not passed.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Condvar, Mutex};

use super::fixtures::free_port;

/// What a test needs of both servers.
#[derive(Clone, Copy, Debug)]
pub enum Need {
    /// ssh as root (and the servers' PostgreSQL, disks, each other).
    Ssh,
    /// Also each server's dockerd.
    Docker,
}

impl Need {
    fn probe(self) -> &'static str {
        match self {
            Need::Ssh => "true",
            Need::Docker => "docker info >/dev/null 2>&1",
        }
    }
}

/// Turns at something tests share: one module's tests hold it together,
/// up to a number at once; another module's wait until the last is done.
pub struct Turns {
    holders: Mutex<Holders>,
    changed: Condvar,
}

struct Holders {
    module: Option<&'static str>,
    count: usize,
    /// When the holding module took the lab.
    since: Option<std::time::Instant>,
}

/// The lab's turns.
static LAB: Turns = Turns::new();

/// A test's turn; the next module's tests may start once the last turn of
/// this module is dropped (also when the test panics).
#[must_use = "the turn lasts while the value lives: `let Some(_lab) = lab::enter(...) else { return; };`"]
pub struct Turn {
    turns: &'static Turns,
    module: &'static str,
}

impl Turns {
    pub const fn new() -> Turns {
        Turns {
            holders: Mutex::new(Holders {
                module: None,
                count: 0,
                since: None,
            }),
            changed: Condvar::new(),
        }
    }

    /// Wait until no other module holds a turn and fewer than `at_once` of
    /// this module's tests do.
    pub fn take(&'static self, module: &'static str, at_once: usize) -> Turn {
        let mut h = self.holders.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let free = match h.module {
                None => true,
                Some(m) => m == module && h.count < at_once,
            };
            if free {
                if h.module.is_none() {
                    h.since = Some(std::time::Instant::now());
                }
                h.module = Some(module);
                h.count += 1;
                return Turn {
                    turns: self,
                    module,
                };
            }
            h = self.changed.wait(h).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut h = self.turns.holders.lock().unwrap_or_else(|p| p.into_inner());
        debug_assert_eq!(h.module, Some(self.module));
        h.count -= 1;
        if h.count == 0 {
            h.module = None;
            // How long each module held the lab, for scripts/test's list of
            // the slowest: straight to stderr, which libtest does not
            // capture.
            if let Some(t) = h.since.take() {
                let line = format!(
                    "\nmigrate-lab-turn: {} {:.1}\n",
                    self.module,
                    t.elapsed().as_secs_f64()
                );
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
        self.turns.changed.notify_all();
    }
}

/// Wait for the lab: `module` is the calling test's `module_path!()`.
/// Panics, failing the test, when either server does not answer `need`;
/// `None` (the test returns, skipped) only with
/// `MIGRATE_TESTS_WITHOUT_LAB=1`:
///
/// ```ignore
/// let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else { return };
/// ```
#[must_use = "the turn lasts while the value lives: `let Some(_lab) = lab::enter(...) else { return }`"]
pub fn enter(module: &'static str, need: Need) -> Option<Turn> {
    // libtest's default: one test a core.
    let at_once = std::thread::available_parallelism().map_or(1, usize::from);
    let turn = LAB.take(module, at_once);
    // Probed in turn: many tests probing at once would be refused by sshd
    // (MaxStartups) and fail for nothing.
    match down(need) {
        None => Some(turn),
        Some(why) => {
            skip_or_fail(&why);
            None
        }
    }
}

/// The variable that lets a test skip when the lab is down.
pub const WITHOUT_LAB: &str = "MIGRATE_TESTS_WITHOUT_LAB";

/// What a missing server does to a test: it fails, unless the person
/// running the tests set `MIGRATE_TESTS_WITHOUT_LAB=1`; then it is
/// skipped, and says so where `scripts/test` counts it: a line
/// `migrate-test-skipped: NAME` written straight to the process's stderr,
/// which libtest does not capture.
pub fn skip_or_fail(why: &str) {
    if std::env::var(WITHOUT_LAB).as_deref() != Ok("1") {
        panic!("{why}\n(to skip the tests that need it instead, set {WITHOUT_LAB}=1)");
    }
    let name = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_string();
    let line = format!("\nmigrate-test-skipped: {name} ({why})\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Why the lab cannot serve `need`, or `None` when both servers answer it
/// over ssh.
fn down(need: Need) -> Option<String> {
    let probe = need.probe();
    let down: Vec<&str> = ["src", "dst"]
        .into_iter()
        .filter(|h| {
            !Command::new("ssh")
                .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", h, probe])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    (!down.is_empty()).then(|| {
        format!(
            "the two-server lab is not ready (`ssh {} {probe:?}` fails): start it with scripts/services \
             (or `bash .ci/setup-lab.sh`; lab/README.md)",
            down.join("|")
        )
    })
}

/// The ssh URL of src and of dst (`LAB_SRC_URL`, `LAB_DST_URL` from
/// `lab/env.sh --export`), or their ssh aliases.
pub fn src_url() -> String {
    std::env::var("LAB_SRC_URL").unwrap_or_else(|_| "src".into())
}

pub fn dst_url() -> String {
    std::env::var("LAB_DST_URL").unwrap_or_else(|_| "dst".into())
}

/// A port free on both servers' addresses for a test's web front.
pub fn port() -> u16 {
    free_port(&["127.0.0.2", "127.0.0.3"])
}

/// Run a shell script on a lab server (`src`, `dst`, `deploy@src`) through
/// the operator's ssh; never panics on a non-zero exit.
pub fn sh(host: &str, script: &str) -> Output {
    Command::new("ssh")
        .args(["-o", "BatchMode=yes", host, "bash", "-s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            if let Some(mut i) = c.stdin.take() {
                i.write_all(script.as_bytes())?;
            }
            c.wait_with_output()
        })
        .expect("run ssh")
}

/// Run a script on a lab server; its stdout, or a panic with its output.
pub fn ok_bytes(host: &str, script: &str) -> Vec<u8> {
    let o = sh(host, script);
    assert!(
        o.status.success(),
        "on {host}: {script}\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// [`ok_bytes`] as text.
pub fn ok(host: &str, script: &str) -> String {
    String::from_utf8_lossy(&ok_bytes(host, script)).into_owned()
}

/// Runs a script on a lab server when dropped, so a failed assertion still
/// cleans up; its exit status is ignored.
pub struct Cleanup {
    host: &'static str,
    script: String,
}

impl Cleanup {
    pub fn on(host: &'static str, script: impl Into<String>) -> Cleanup {
        Cleanup {
            host,
            script: script.into(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = sh(self.host, &self.script);
    }
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

/// Copy `entries` of a local directory (an example app) into `dir` on each
/// of `hosts`, as tar keeps them (modes, trees), then run `then` there.
pub fn put_tree(hosts: &[&str], from: &Path, entries: &[&str], dir: &str, then: &str) {
    let tar = Command::new("tar")
        .arg("-C")
        .arg(from)
        .arg("-cf")
        .arg("-")
        .args(entries)
        .output()
        .expect("tar");
    assert!(tar.status.success(), "tar of {}", from.display());
    for h in hosts {
        let mut c = Command::new("ssh")
            .args([
                "-o",
                "BatchMode=yes",
                h,
                &format!("mkdir -p {dir} && tar -C {dir} -xf - && {then}"),
            ])
            .stdin(Stdio::piped())
            .spawn()
            .expect("ssh");
        c.stdin
            .take()
            .expect("stdin")
            .write_all(&tar.stdout)
            .expect("tar");
        assert!(
            c.wait().expect("wait").success(),
            "unpacking into {dir} on {h}"
        );
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

#[cfg(test)]
mod tests {
    use super::Turns;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn modules_take_turns_and_share_their_own_up_to_the_limit() {
        static T: Turns = Turns::new();
        let a1 = T.take("a", 2);
        let a2 = T.take("a", 2);
        let (tx, rx) = mpsc::channel();
        let waiter = |module: &'static str, tx: mpsc::Sender<&'static str>| {
            std::thread::spawn(move || {
                let turn = T.take(module, 2);
                tx.send(module).expect("send");
                drop(turn);
            })
        };
        let a3 = waiter("a", tx.clone());
        let b = waiter("b", tx);
        let wait = Duration::from_millis(300);
        assert!(rx.recv_timeout(wait).is_err(), "a third of a's, or b, ran");
        drop(a1);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok("a"),
            "a's third takes the place a's first left"
        );
        a3.join().expect("a3");
        assert!(rx.recv_timeout(wait).is_err(), "b ran beside a");
        drop(a2);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("b"));
        b.join().expect("b");
    }
}
