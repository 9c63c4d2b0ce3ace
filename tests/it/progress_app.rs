//! `migrate app` off a terminal, in the two-server lab (the Nextcloud
//! fixture of app_nextcloud, without DNS): every step of the plan is named
//! in the log as it starts, the run's progress lines (steps done of the
//! plan's steps) keep coming and end at the plan's step count, and no
//! counter in any captured line passes its total. The steps are read
//! back with `migrate app-status`, and the result on dst is checked.
//!
//! Without the lab these tests fail.

use serde_json::Value;

use crate::app_nextcloud::Fixture;
use crate::support::cli::{stderr, stdout};
use crate::support::lab::{self, Need, ok};
use crate::support::progress::{assert_no_counter_passes_its_total, lines_of};

#[test]
fn an_app_run_off_a_terminal_names_every_step_and_counts_them_to_the_end() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let f = Fixture::new("ncprog", "");
    let o =
        f.op.migrate()
            .args(["app", "--yes", "--file"])
            .arg(&f.op.file)
            .env("MIGRATE_PROGRESS_EVERY", "0.2")
            .output()
            .expect("run migrate");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{}\n{err}", stdout(&o));
    assert!(!err.contains('\x1b'), "escape codes in a log:\n{err}");

    let st =
        f.op.migrate()
            .args(["app-status", "--json", "--file"])
            .arg(&f.op.file)
            .output()
            .expect("app-status");
    let v: Value = serde_json::from_str(stdout(&st).trim())
        .unwrap_or_else(|e| panic!("app-status --json ({e}): {}", stdout(&st)));
    let steps = v["result"]["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps in {v}"));
    assert!(steps.len() >= 5, "a suspiciously short plan: {v}");
    for s in steps {
        let (phase, title) = (
            s["phase"].as_str().unwrap_or_default(),
            s["title"].as_str().unwrap_or_default(),
        );
        let named = format!("[{phase}] {title}");
        assert!(
            err.lines()
                .any(|l| l.starts_with("start ") && l.contains(&named)),
            "the log does not name step {named:?} as it starts:\n{err}"
        );
    }

    let n = steps.len();
    let lines = lines_of(&err, "migration");
    let (running, end): (Vec<&str>, Vec<&str>) =
        lines.iter().partition(|l| !l.contains("(done in "));
    assert!(!running.is_empty(), "no progress line while it ran:\n{err}");
    assert!(
        running.iter().any(|l| l.contains("] ")),
        "no progress line names the step it is at:\n{err}"
    );
    let want = format!("migration: {n} steps of {n} steps (100%)");
    assert!(
        end.len() == 1 && end[0].starts_with(&want),
        "the last line is not the plan's step count ({want}):\n{err}"
    );
    assert_no_counter_passes_its_total(&err);
    assert_no_counter_passes_its_total(&stdout(&o));
    // The move happened: the config is on dst.
    ok("dst", &format!("test -s {}/config/config.php", f.root));
}
