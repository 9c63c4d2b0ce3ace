//! `migrate copy` without `--streams` chooses how many tar streams to run
//! from the link it measures between the servers: on the lab's bare
//! loopback the cores decide; over a link shaped to 1 Gbit/s with a 50 ms
//! round trip (lab/shape.sh: HTB and NFQUEUE delay between src and dst),
//! one ssh stream's 2 MiB window cannot carry what the cores feed, and more
//! streams run. The test counts the ssh connections from src to dst's sshd
//! itself (`ss`, every 20 ms while the copy runs) and compares the trees
//! with sha256sum on both servers.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use crate::support::cli::{migrate, run_json, stderr};
use crate::support::fixtures::workspace_root as repo;
use crate::support::lab::{self, Cleanup, Need, ok};

const DIR: &str = "/srv/e2e-streams";

/// Undoes the shaping however the test ends.
struct Shaped;

impl Shaped {
    fn on(rate: &str, one_way: &str) -> Shaped {
        let out = Command::new("bash")
            .arg(repo().join("lab/shape.sh"))
            .args(["on", "--rate", rate, "--delay", one_way, "--link", "s2s"])
            .output()
            .expect("lab/shape.sh");
        assert!(
            out.status.success(),
            "lab/shape.sh on failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Shaped
    }
}

impl Drop for Shaped {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo().join("lab/shape.sh"))
            .arg("off")
            .output();
    }
}

/// The port the operator's ssh (and so src's job) reaches dst's sshd on.
fn dst_ssh_port() -> String {
    let out = Command::new("ssh")
        .args(["-G", "dst"])
        .output()
        .expect("ssh -G");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("port ").map(str::to_string))
        .unwrap_or_else(|| "22".into())
}

/// Established TCP connections from src's address to dst's sshd, as the
/// kernel lists them (all lab hosts share one network namespace).
fn src_to_dst_ssh() -> usize {
    let out = Command::new("ss")
        .args(["-Htn", "state", "established"])
        .output()
        .expect("ss");
    let dst = format!("127.0.0.3:{}", dst_ssh_port());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 4 && f[2].starts_with("127.0.0.2:") && f[3] == dst
        })
        .count()
}

/// Copy `name` from src to dst without `--streams`; return the streams the
/// tool says it ran, its reason, and the most connections `ss` saw at once.
fn copy(name: &str) -> (u64, String, usize) {
    let home = tempfile::tempdir().expect("home");
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (stop, peak) = (stop.clone(), peak.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(src_to_dst_ssh(), Ordering::Relaxed);
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let (code, v, out) = run_json(migrate(home.path()).args([
        "copy",
        &format!("src:{DIR}/tree"),
        &format!("dst:{DIR}/{name}"),
        "--json",
    ]));
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    assert_eq!(code, 0, "copy to {name} failed: {}", stderr(&out));
    let d = &v["result"];
    let streams = d["streams"].as_u64().unwrap_or_else(|| panic!("{v}"));
    let why = d["streams_why"].as_str().unwrap_or_default().to_string();
    let tree = |h: &str, root: &str| {
        ok(
            h,
            &format!("cd {root} && find . -type f -print0 | sort -z | xargs -0 sha256sum"),
        )
    };
    assert_eq!(
        tree("src", &format!("{DIR}/tree")),
        tree("dst", &format!("{DIR}/{name}")),
        "the tree on dst differs from src"
    );
    (streams, why, peak.load(Ordering::Relaxed))
}

#[test]
fn a_long_fat_link_gets_more_streams_than_the_bare_loopback() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let _clean = [
        Cleanup::on("src", format!("rm -rf {DIR}")),
        Cleanup::on("dst", format!("rm -rf {DIR}")),
    ];
    ok("dst", &format!("rm -rf {DIR}"));
    // 400 files of 256 KiB: long enough on the shaped link for every stream
    // to be connected at once.
    ok(
        "src",
        &format!(
            "rm -rf {DIR} && mkdir -p {DIR}/tree && cd {DIR}/tree && for i in $(seq 400); do head -c 262144 /dev/urandom > f$i; done"
        ),
    );

    let (bare, bare_why, _) = copy("bare");
    assert!(
        bare_why.contains("ms round trip") && !bare_why.contains("not measured"),
        "the bare copy did not measure the round trip: {bare_why}"
    );

    let (long, long_why, peak) = {
        let _s = Shaped::on("1gbit", "25ms");
        copy("long")
    };
    assert!(
        long > bare,
        "over 1 Gbit/s at 50 ms the copy ran {long} stream(s) ({long_why}), no more than the {bare} on the bare loopback ({bare_why})"
    );
    assert!(
        long_why.contains("window"),
        "the reason does not name the ssh window: {long_why}"
    );
    // Each stream is its own ssh connection from src to dst; the probe's
    // sessions are closed before the streams start.
    assert!(
        peak as u64 >= long && peak as u64 <= long + 1,
        "ss saw at most {peak} connection(s) from src to dst's sshd at once; the copy said it ran {long} stream(s)"
    );
}
