//! `migrate copy status --wait` off a terminal, against the real lab: two
//! detached copies (rate-limited so they run a while) are followed at
//! once, each with progress lines of its own that end at the totals this
//! test counts on the destination. No counter shown may pass its total.
//!
//! Without the lab these tests fail.

use migrate_units::human_bytes;

use crate::support::cli::{migrate, run, run_json, stderr, stdout};
use crate::support::lab::{self, Cleanup, Need, ok as on};
use crate::support::progress::{
    assert_no_counter_passes_its_total, counted_on_dst, lines_of, make_tree,
};

#[test]
fn status_wait_shows_every_detached_copy_to_its_totals() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let pid = std::process::id();
    let roots = [
        format!("/srv/e2e-progress/wait-a-{pid}"),
        format!("/srv/e2e-progress/wait-b-{pid}"),
    ];
    let _c1 = Cleanup::on("src", format!("rm -rf {} {}", roots[0], roots[1]));
    let _c2 = Cleanup::on("dst", format!("rm -rf {} {}", roots[0], roots[1]));
    on("dst", &format!("rm -rf {} {}", roots[0], roots[1]));
    let home = tempfile::tempdir().unwrap();
    // 12 and 16 MiB through 2 streams of 1 MiB/s each: several seconds apiece.
    let mut jobs = Vec::new();
    for (root, big) in roots.iter().zip([12, 16]) {
        let made = make_tree(root, big);
        let (code, v, o) = run_json(
            migrate(home.path())
                .args(["copy", &format!("src:{root}"), &format!("dst:{root}")])
                .args(["--streams", "2", "--bwlimit", "1m", "--detach", "--json"]),
        );
        assert_eq!(code, 0, "{v}\n{}", stderr(&o));
        let id = v["result"]["job"]
            .as_str()
            .or_else(|| v["job"].as_str())
            .unwrap_or_else(|| panic!("no job id in {v}"))
            .to_string();
        jobs.push((id, root.clone(), made));
    }

    let o = run(migrate(home.path())
        .args(["copy", "status", "--wait"])
        .env("MIGRATE_PROGRESS_EVERY", "1"));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}\n{}", stdout(&o));
    assert!(!err.contains('\r'), "a terminal redraw in a log:\n{err}");
    assert!(!err.contains('\x1b'), "escape codes in a log:\n{err}");
    for (id, root, (files, bytes)) in &jobs {
        let task = format!("copy {id}");
        let lines = lines_of(&err, &task);
        let (running, end): (Vec<&str>, Vec<&str>) =
            lines.iter().partition(|l| !l.contains("(done in "));
        assert!(
            !running.is_empty(),
            "no progress line for {task} while it ran:\n{err}"
        );
        // The test's own count on dst, and the last line must say the same.
        assert_eq!(counted_on_dst(root), (*files, *bytes));
        let want = format!("{task}: {b} of {b} (100%)", b = human_bytes(*bytes));
        assert!(
            end.len() == 1
                && end[0].starts_with(&want)
                && end[0].contains(&format!("{files}/{files} files")),
            "the last line of {task} is not its totals ({want}, {files} files):\n{err}"
        );
    }
    assert_no_counter_passes_its_total(&err);
    assert_no_counter_passes_its_total(&stdout(&o));
}
