//! `migrate copy --exclude` (rsync's rules) and `--bwlimit` (rsync's units)
//! against the two-server lab: what arrives is read on dst itself.
//!
//! Without the lab these tests fail.

use crate::support::cli::{migrate, run, stderr, stdout};
use crate::support::lab::{self, Need, ok};

fn listing(host: &str, root: &str) -> Vec<String> {
    let mut v: Vec<String> = ok(
        host,
        &format!("cd '{root}' && find . -mindepth 1 -printf '%P\\n'"),
    )
    .lines()
    .map(String::from)
    .collect();
    v.sort();
    v
}

#[test]
fn excluded_names_never_arrive_and_are_kept_by_the_final_pass() {
    let _lab = lab::enter(module_path!(), Need::Ssh);
    let home = tempfile::tempdir().unwrap();
    let root = format!("/srv/e2e-copy/exclude-{}", std::process::id());
    for h in ["src", "dst"] {
        ok(h, &format!("rm -rf '{root}'"));
    }
    // 70 directories at the top, so the walk cuts the tree there and its
    // streams list subtrees on their own (each with its own find).
    ok(
        "src",
        &format!(
            r#"set -e; mkdir -p '{root}' && cd '{root}'
for i in $(seq -w 0 69); do
  mkdir -p d$i/cache d$i/keep
  echo data > d$i/keep/f.txt; echo log > d$i/app.log; echo c > d$i/cache/blob
  echo file-named-cache > d$i/keep/cache
done
echo top > top.tmp; mkdir -p sub; echo inner > sub/top.tmp
"#
        ),
    );
    let (s, d) = (format!("src:{root}"), format!("dst:{root}"));
    let excludes = [
        "--exclude",
        "cache/",
        "--exclude",
        "*.log",
        "--exclude",
        "/top.tmp",
    ];
    let mut args = vec![s.as_str(), d.as_str()];
    args.extend(excludes);
    let out = run(migrate(home.path()).arg("copy").args(&args));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let got = listing("dst", &root);
    let sent = |p: &str| got.iter().any(|g| g == p);
    assert!(
        !got.iter().any(|p| p.ends_with(".log")),
        "a *.log arrived: {got:?}"
    );
    assert!(
        !got.iter()
            .any(|p| p.contains("/cache/") || p.ends_with("/cache") && !p.contains("keep")),
        "a cache/ directory arrived: {got:?}"
    );
    assert!(
        !sent("top.tmp"),
        "/top.tmp is anchored at the root and arrived"
    );
    assert!(
        sent("sub/top.tmp"),
        "sub/top.tmp is not at the root and is missing"
    );
    for i in [0, 35, 69] {
        assert!(
            sent(&format!("d{i:02}/keep/f.txt")),
            "d{i:02}/keep/f.txt missing: {got:?}"
        );
        // A file named cache is not a directory: `cache/` leaves it alone.
        assert!(
            sent(&format!("d{i:02}/keep/cache")),
            "d{i:02}/keep/cache missing"
        );
    }
    let expected: Vec<String> = listing("src", &root)
        .into_iter()
        .filter(|p| !p.ends_with(".log") && !p.ends_with("/cache/blob") && p != "top.tmp")
        .filter(|p| !p.ends_with("/cache") || p.contains("/keep/"))
        .collect();
    assert_eq!(got, expected);

    // An excluded file already on the destination survives the final pass
    // (rsync keeps excluded files unless told --delete-excluded), and
    // --verify compares only what is not excluded.
    ok("dst", &format!("echo mine > '{root}/d00/app.log'"));
    ok(
        "src",
        &format!("echo new > '{root}/d01/keep/new.txt'; rm '{root}/d02/keep/f.txt'"),
    );
    let mut args = vec![s.as_str(), d.as_str(), "--final", "--verify"];
    args.extend(excludes);
    let out = run(migrate(home.path()).arg("copy").args(&args));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(ok("dst", &format!("cat '{root}/d00/app.log'")), "mine\n");
    assert_eq!(
        ok("dst", &format!("cat '{root}/d01/keep/new.txt'")),
        "new\n"
    );
    assert_eq!(
        ok(
            "dst",
            &format!("test -e '{root}/d02/keep/f.txt' && echo there || echo gone")
        ),
        "gone\n"
    );
    assert!(
        !listing("dst", &root)
            .iter()
            .any(|p| p.ends_with("cache/blob"))
    );

    for h in ["src", "dst"] {
        ok(h, &format!("rm -rf '{root}'"));
    }
}

#[test]
fn bad_exclude_and_bwlimit_are_refused_before_anything_moves() {
    let home = tempfile::tempdir().unwrap();
    // Refused by the argument parser or the pattern check, before any
    // connection: the hosts here do not exist.
    let out = run(migrate(home.path()).args([
        "copy",
        "nohost.invalid:/a",
        "nohost2.invalid:/b",
        "--bwlimit",
        "5x",
    ]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("rsync"), "{}", stderr(&out));

    let out = run(migrate(home.path()).args([
        "copy",
        "local:/nonexistent-a",
        "local:/nonexistent-b",
        "--exclude",
        "a//b",
        "--json",
    ]));
    assert_ne!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one envelope");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("--exclude"),
        "{v}"
    );
}
