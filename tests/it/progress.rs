//! Progress as a person at a terminal and a log see it, against the real
//! two-server lab: bars with rate and ETA on a terminal (a tmux pane on a
//! private socket), plain lines that keep coming off a terminal, JSON lines
//! on stderr with `--json`, nothing with `--quiet`. The figures are checked
//! against totals this test computes from the trees and data it made, and
//! no counter shown anywhere may pass its total. The results themselves are
//! checked on the servers (file counts and sizes, rows).
//!
//! Without the lab these tests fail.

use std::process::Output;
use std::thread::sleep;
use std::time::{Duration, Instant};

use migrate_units::human_bytes;

use crate::support::cli::{migrate, migrate_bin, run, stderr, stdout};
use crate::support::lab::{self, Cleanup, Need, ok as on};
use crate::support::progress::{
    assert_no_counter_passes_its_total, counted_on_dst, counters, lines_of, make_tree,
};
use crate::support::tmux::Tmux;

#[test]
fn copy_on_a_terminal_draws_bars_that_end_at_the_copy_totals() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let root = format!("/srv/e2e-progress/tty-{}", std::process::id());
    let _c1 = Cleanup::on("src", format!("rm -rf {root}"));
    let _c2 = Cleanup::on("dst", format!("rm -rf {root}"));
    on("dst", &format!("rm -rf {root}"));
    let (files, bytes) = make_tree(&root, 40);
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // 2 streams at 1 MiB/s each: about 20 s, long enough to watch the bars.
    let script = format!(
        "env XDG_DATA_HOME={d} XDG_CACHE_HOME={d} XDG_CONFIG_HOME={d} XDG_STATE_HOME={d} {bin} copy \
         src:{root} dst:{root} --streams 2 --bwlimit 1m; echo EXIT=$?; sleep 600",
        d = h.display(),
        bin = migrate_bin().display(),
    );
    let tmux = Tmux::start(h, &script);
    let started = Instant::now();
    let mut seen = Vec::new();
    let last = loop {
        let pane = tmux.capture();
        if pane.contains("EXIT=") {
            break pane;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the copy did not end; the pane shows:\n{pane}"
        );
        seen.push(pane);
        sleep(Duration::from_millis(500));
    };
    assert!(last.contains("EXIT=0"), "{last}");
    // While it ran: a bar that has moved, with its rate and time left (the
    // first captures may show it still empty while the streams connect).
    let bar = seen.iter().flat_map(|p| p.lines()).find(|l| {
        l.starts_with("copy ")
            && l.contains('[')
            && l.contains("/s")
            && l.contains("ETA ")
            && (l.contains('#') || l.contains('>'))
    });
    assert!(
        bar.is_some(),
        "no bar with a rate and an ETA was drawn; the last capture:\n{}",
        seen.last().cloned().unwrap_or_default()
    );
    // At the end: the copy's own totals, as this test made them.
    let total = last
        .lines()
        .find(|l| l.starts_with("copy [") || l.starts_with("copy  ["))
        .unwrap_or_else(|| panic!("no total bar at the end:\n{last}"));
    let want = format!("{} / {} (100%)", human_bytes(bytes), human_bytes(bytes));
    assert!(total.contains(&want), "want {want}, got: {total}");
    assert!(
        total.contains(&format!("{files}/{files} files")),
        "want {files}/{files} files, got: {total}"
    );
    for pane in seen.iter().chain([&last]) {
        assert_no_counter_passes_its_total(pane);
    }
    assert_eq!(counted_on_dst(&root), (files, bytes));
}

#[test]
fn copy_off_a_terminal_keeps_the_log_going_and_json_and_quiet_behave() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let root = format!("/srv/e2e-progress/log-{}", std::process::id());
    let _c1 = Cleanup::on("src", format!("rm -rf {root}"));
    let _c2 = Cleanup::on("dst", format!("rm -rf {root} {root}-json {root}-quiet"));
    on("dst", &format!("rm -rf {root} {root}-json {root}-quiet"));
    // 60 MiB through 2 streams of 1 MiB/s: about 30 s.
    let (files, bytes) = make_tree(&root, 60);
    let home = tempfile::tempdir().unwrap();
    let copy = |dst: &str, extra: &[&str]| -> Output {
        run(migrate(home.path())
            .args(["copy", &format!("src:{root}"), &format!("dst:{dst}")])
            .args(["--streams", "2", "--bwlimit", "1m"])
            .args(extra)
            .env_remove("MIGRATE_PROGRESS_EVERY"))
    };

    // With -v: the tracing logs too must carry no colour codes in a log.
    let o = copy(&root, &["-v"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let lines = lines_of(&err, "copy");
    let (running, end): (Vec<&str>, Vec<&str>) =
        lines.iter().partition(|l| !l.contains("(done in "));
    assert!(
        running.len() >= 2,
        "fewer than two progress lines before the end:\n{err}"
    );
    assert!(running.iter().any(|l| l.contains("/s, ETA ")), "{err}");
    assert!(
        running.iter().any(|l| l.contains(" of ")),
        "no total shown while running:\n{err}"
    );
    let want = format!("copy: {b} of {b} (100%)", b = human_bytes(bytes));
    assert!(
        end.len() == 1
            && end[0].starts_with(&want)
            && end[0].contains(&format!("{files}/{files} files")),
        "the last line is not the copy's totals ({want}, {files} files):\n{err}"
    );
    assert!(!err.contains('\x1b'), "escape codes in a log:\n{err}");
    assert_no_counter_passes_its_total(&err);
    assert_eq!(counted_on_dst(&root), (files, bytes));

    // --json: one JSON object a line on stderr, stdout the one envelope.
    let dst = format!("{root}-json");
    let o = copy(&dst, &["--json"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let env: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("one envelope");
    assert_eq!(env["ok"], true, "{env}");
    let ticks: Vec<serde_json::Value> = err
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["operation"] == "copy")
        .collect();
    assert!(ticks.len() >= 3, "too few JSON progress lines:\n{err}");
    for t in &ticks {
        for k in ["done", "total", "rate", "eta"] {
            assert!(t.get(k).is_some(), "{k} missing in {t}");
        }
        if let (Some(d), Some(t)) = (t["done"].as_u64(), t["total"].as_u64()) {
            assert!(d <= t, "a counter passed its total: {d} > {t}");
        }
    }
    let last = ticks.last().unwrap();
    assert_eq!(last["finished"], true, "{last}");
    assert_eq!(last["done"], bytes, "{last}");
    assert_eq!(last["total"], bytes, "{last}");
    assert_eq!(counted_on_dst(&dst), (files, bytes));

    // --quiet: no progress at all.
    let dst = format!("{root}-quiet");
    let o = copy(&dst, &["--quiet"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        lines_of(&err, "copy").is_empty(),
        "progress despite --quiet:\n{err}"
    );
    assert_eq!(counted_on_dst(&dst), (files, bytes));
}

/// A docker volume and a database load, off a terminal, each print at
/// least two progress lines before the last (a line a second here).
#[test]
fn volume_move_and_database_load_off_a_terminal_keep_the_log_going() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let pid = std::process::id();
    let home = tempfile::tempdir().unwrap();
    let mig = |args: &[&str]| -> Output {
        let o = run(migrate(home.path())
            .args(args)
            .env("MIGRATE_PROGRESS_EVERY", "1"));
        eprintln!("migrate {}\n--- stderr\n{}", args.join(" "), stderr(&o));
        o
    };

    // A volume of 800 MiB in 800 files: a few seconds in the lab.
    let vol = format!("mt-progress-{pid}");
    let _v1 = Cleanup::on(
        "src",
        format!("docker volume rm -f {vol} >/dev/null 2>&1; true"),
    );
    let _v2 = Cleanup::on(
        "dst",
        format!("docker volume rm -f {vol} >/dev/null 2>&1; true"),
    );
    on(
        "src",
        &format!(
            "docker volume create {vol} >/dev/null && mp=$(docker volume inspect -f '{{{{.Mountpoint}}}}' {vol}) && \
             for i in $(seq 1 800); do head -c 1048576 /dev/urandom > $mp/f$i; done"
        ),
    );
    let o = mig(&["volume", &format!("src:{vol}"), "dst"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let lines = lines_of(&err, "volume");
    let running = lines.iter().filter(|l| !l.contains("(done in ")).count();
    assert!(running >= 2, "fewer than two progress lines:\n{err}");
    let want = format!("volume: {b} of {b} (100%)", b = human_bytes(800 << 20));
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with(&want) && l.contains("800/800 files")),
        "the last line is not the volume's totals ({want}):\n{err}"
    );
    assert_no_counter_passes_its_total(&err);
    let n = on(
        "dst",
        &format!(
            "cd $(docker volume inspect -f '{{{{.Mountpoint}}}}' {vol}) && find . -type f | wc -l"
        ),
    );
    assert_eq!(n.trim(), "800");

    // A plain SQL dump of 5 million rows (about 230 MiB) on src, loaded
    // into dst's PostgreSQL.
    let db = format!("mt_progress_{pid}");
    let dump = format!("/srv/e2e-progress/dump-{pid}.sql");
    let _d1 = Cleanup::on("src", format!("rm -f {dump}"));
    let _d2 = Cleanup::on(
        "dst",
        format!(
            "runuser -u postgres -- psql -X -q -c 'DROP DATABASE IF EXISTS {db}' >/dev/null 2>&1; true"
        ),
    );
    on(
        "src",
        &format!(
            "mkdir -p /srv/e2e-progress && {{ echo 'CREATE TABLE public.big(id int primary key, t text);'; echo 'COPY public.big (id, t) FROM stdin;'; \
             seq 1 5000000 | awk '{{printf \"%d\\tsome text for row %d padded out to carry bytes\\n\", $1, $1}}'; echo '\\.'; }} > {dump}"
        ),
    );
    let o = mig(&[
        "docker",
        "db",
        "src",
        "dst",
        "--engine",
        "postgres",
        "--dump-file",
        &dump,
        "--to-db",
        &db,
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}\n{}", stdout(&o));
    let lines = lines_of(&err, "database src → dst");
    let running = lines.iter().filter(|l| !l.contains("(done in ")).count();
    assert!(running >= 2, "fewer than two progress lines:\n{err}");
    assert!(
        lines
            .iter()
            .any(|l| !l.contains("(done in ") && l.contains(" MiB, ")),
        "no line showed the bytes moving:\n{err}"
    );
    assert_no_counter_passes_its_total(&err);
    let rows = on(
        "dst",
        &format!("runuser -u postgres -- psql -X -At -d {db} -c 'SELECT count(*) FROM big'"),
    );
    assert_eq!(rows.trim(), "5000000");
}

#[test]
fn counters_are_read_from_every_shape_of_line() {
    let c = counters(
        "copy [###>---] 19.1 MiB / 19.1 MiB (100%)  4.5 MiB/s  ETA 0:00  340/340 files\n\
         volume: 3.9 MiB of 2.0 MiB (20%), 1 B/s, ETA --:--\n",
    );
    assert_eq!(c.len(), 3, "{c:?}");
    assert!(c[0].0 <= c[0].1 && c[1].0 == 340.0);
    assert!(c[2].0 > c[2].1);
}
