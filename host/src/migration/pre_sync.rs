//! What a `--pre-sync-only` run says when it stops before the downtime
//! window: how much its live passes copied, how many passes ran so far,
//! and the downtime the last delta predicts. The full report waits for the
//! run that moves the app.

use super::journal::{Event, Journal};
use super::plan::{Plan, human_bytes};
use super::steps::outcome::Copied;

pub fn summary(plan: &Plan, journal: &Journal) -> String {
    let passes = journal
        .entries
        .iter()
        .filter(|e| e.step == "pre-sync" && e.event == Event::Done)
        .count();
    let mut s = format!(
        "Pre-sync of migration {} ({}): pass {passes}, the app still runs on the source.\n",
        plan.id, plan.app_name
    );
    for (id, what) in [("pre-sync", "copy"), ("pre-sync-delta", "delta")] {
        if let Some(c) = journal.outcome::<Copied>(id) {
            s.push_str(&format!(
                "- {what}: {} files, {} sent in {:.1} s\n",
                c.files_sent,
                human_bytes(c.bytes_sent),
                c.copy_seconds
            ));
        }
    }
    if let Some(p) = super::run::predict(plan, journal) {
        s.push_str(&format!("- predicted downtime: about {p:.0} s\n"));
    }
    s.push_str(
        "The downtime window has not started. Run the same command with --pre-sync-only again to copy what changed since (each pass is shorter), or without it to move the app.\n",
    );
    s
}
