//! The steps of a Discourse launcher move, in order, each sentence written
//! for the runbook as Discourse's admin guides would put it: what, why, and
//! about how long. launcher.rs chooses between the two lists.

use super::definition::Migration;
use super::launcher::{Launcher, Op, Summary, step};
use super::plan::{Action, Phase, PlanStep, Risk, Where, human_bytes};

/// Seconds a copy of `bytes` takes at a conservative 50 MB/s, shown as a
/// duration a person plans around.
fn about(bytes: u64, floor: u64) -> String {
    let s = (bytes / 50_000_000).max(floor);
    if s < 90 {
        format!("about {s} s")
    } else {
        format!("about {} min", s.div_ceil(60))
    }
}

fn common_start(mig: &Migration, dst: &Launcher) -> Vec<PlanStep> {
    vec![
        step(
            "preflight",
            Phase::Check,
            Where::Both,
            Risk::ReadOnly,
            "Check both servers answer and have the tools the move needs (seconds)".into(),
            Action::Preflight,
        ),
        step(
            "baseline",
            Phase::Prepare,
            Where::Source,
            Risk::ReadOnly,
            format!(
                "Record the source forum as the baseline through {}: /srv/status, /about.json, and the users, topics, posts and uploads counted in its database; the destination must show the same (seconds)",
                mig.domain
            ),
            Action::Baseline,
        ),
        step(
            "app-yml",
            Phase::Prepare,
            Where::Both,
            Risk::Reversible,
            format!(
                "Carry containers/app.yml to {} on the destination: it holds the hostname, SMTP settings, plugins and version, and the forum is rebuilt from it (the file travels through this machine's memory, never printed; a destination file is kept with a .before-{} suffix; seconds)",
                dst.app_yml(),
                mig.id()
            ),
            Action::Discourse(Op::AppYml {
                rename: rename(mig),
                keep_version: false,
            }),
        ),
    ]
}

fn rename(mig: &Migration) -> Option<(String, String)> {
    mig.old_domain
        .as_ref()
        .filter(|o| **o != mig.domain)
        .map(|o| (o.clone(), mig.domain.clone()))
}

fn readonly(id: &str, on: Where, enable: bool, title: String) -> PlanStep {
    step(
        id,
        Phase::Cutover,
        on,
        Risk::Reversible,
        title,
        Action::Discourse(Op::Readonly { on: enable }),
    )
}

/// `discourse remap` and `rake posts:rebake` when the name changes, then
/// the caches cleared (meta.discourse.org/t/16098).
fn rename_steps(mig: &Migration, s: &Summary) -> Vec<PlanStep> {
    let Some((old, new)) = rename(mig) else {
        return vec![];
    };
    vec![
        step(
            "remap",
            Phase::Cutover,
            Where::Destination,
            Risk::Destructive,
            format!(
                "Rewrite {old} to {new} in the destination's posts and settings with `discourse remap {old} {new}` (links and embedded images name the old host; seconds for a small forum, minutes for millions of posts)"
            ),
            Action::Discourse(Op::Remap {
                old: old.clone(),
                new: new.clone(),
            }),
        ),
        step(
            "rebake",
            Phase::Cutover,
            Where::Destination,
            Risk::Reversible,
            format!(
                "Rebake the posts with `rake posts:rebake`, so their cooked HTML follows the remap: {} posts named {old} on the source (about a second per hundred posts)",
                s.posts_naming_old
            ),
            Action::Discourse(Op::Rebake {
                posts: s.posts_naming_old,
            }),
        ),
    ]
}

fn clear_caches(phase: Phase) -> PlanStep {
    step(
        "clear-caches",
        phase,
        Where::Destination,
        Risk::Reversible,
        "Clear the destination's caches with `./launcher restart app`: Rails' cache and the site settings are read again from the restored database (under a minute)".into(),
        Action::Discourse(Op::ClearCaches),
    )
}

fn test_destination(mig: &Migration) -> PlanStep {
    step(
        "test-destination",
        Phase::Cutover,
        Where::Destination,
        Risk::ReadOnly,
        format!(
            "Run the baseline's checks against the destination through {} (the new address, the production Host header) and compare: the downtime ends here (seconds)",
            mig.domain
        ),
        Action::TestPlan,
    )
}

/// Same PostgreSQL major: shared/standalone copied as files, the forum
/// read-only only for the final delta.
pub fn file_level(
    mig: &Migration,
    src: &Launcher,
    dst: &Launcher,
    s: &Summary,
    _rename: Option<&(String, String)>,
) -> Vec<PlanStep> {
    let mut steps = common_start(mig, dst);
    steps.insert(
        1,
        step(
            "destination-free",
            Phase::Check,
            Where::Destination,
            Risk::ReadOnly,
            format!(
                "Check the destination holds no forum at {} yet (seconds)",
                dst.shared()
            ),
            Action::DestinationFree,
        ),
    );
    steps.extend([
        step(
            "pre-sync",
            Phase::Sync,
            Where::Both,
            Risk::Reversible,
            format!(
                "Copy {} ({} files) of {} to the destination while the forum runs: the bulk moves now, so the window later holds only what changed ({})",
                human_bytes(s.shared_bytes),
                s.shared_files,
                src.shared(),
                about(s.shared_bytes, 5)
            ),
            Action::Copy {
                final_pass: false,
                rehearse: false,
            },
        ),
        readonly(
            "readonly-source",
            Where::Source,
            true,
            "Put the source forum in read-only mode (`discourse enable_readonly`): people can still read, and nothing they write can be lost in the final copy; the window starts here (seconds)".into(),
        ),
        step(
            "stop-source",
            Phase::Cutover,
            Where::Source,
            Risk::Reversible,
            "Stop the source container with `./launcher stop app`: PostgreSQL and Redis shut down cleanly, so their files are consistent for the final copy (under a minute)".into(),
            Action::StopApp,
        ),
        step(
            "final-sync",
            Phase::Cutover,
            Where::Both,
            Risk::Reversible,
            format!(
                "Copy the final delta of {} (deleting on the destination what the source deleted), hashing what it sent on both servers (seconds to minutes: the delta since the pre-sync)",
                src.shared()
            ),
            Action::Copy {
                final_pass: true,
                rehearse: false,
            },
        ),
        step(
            "start-destination",
            Phase::Cutover,
            Where::Destination,
            Risk::Reversible,
            "Rebuild and start the forum on the destination with `./launcher rebuild app`, as app.yml's header asks after it changes (minutes with the real image)".into(),
            Action::StartApp,
        ),
        readonly(
            "readonly-off-destination",
            Where::Destination,
            false,
            "Leave read-only mode on the destination (`discourse disable_readonly`): the flag travelled in Redis's data (seconds)".into(),
        ),
    ]);
    let renamed = rename_steps(mig, s);
    let caches = !renamed.is_empty();
    steps.extend(renamed);
    if caches {
        steps.push(clear_caches(Phase::Cutover));
    }
    steps.push(test_destination(mig));
    steps.push(step(
        "verify-copy",
        Phase::Finish,
        Where::Both,
        Risk::ReadOnly,
        format!(
            "Compare {} with the source's whole (listing and sha256 on each server) now that the forum is back up: the final pass checked only what it sent. What the running forum changed since, PostgreSQL's and Redis's files among them, is counted, not compared (minutes for a large uploads tree, outside the window)",
            dst.shared()
        ),
        Action::VerifyCopy,
    ));
    steps
}

/// Different PostgreSQL majors (or asked for): Discourse's own backup and
/// restore into a forum bootstrapped on the destination.
pub fn logical(
    mig: &Migration,
    src: &Launcher,
    dst: &Launcher,
    s: &Summary,
    _rename: Option<&(String, String)>,
) -> Vec<PlanStep> {
    let mut steps = common_start(mig, dst);
    if let Some(PlanStep {
        action: Action::Discourse(Op::AppYml { keep_version, .. }),
        title,
        ..
    }) = steps.iter_mut().find(|s| s.id == "app-yml")
    {
        *keep_version = true;
        title.push_str("; the destination's own params.version is kept, since its Discourse is the one the backup is restored into");
    }
    let backups = format!("{}/backups/default", src.shared());
    steps.extend([
        step(
            "destination-backup",
            Phase::Prepare,
            Where::Destination,
            Risk::ReadOnly,
            "Back up the forum the destination runs now (`discourse backup`), since the restore replaces it (seconds for a fresh site)".into(),
            Action::Discourse(Op::Backup),
        ),
        step(
            "rebuild-destination",
            Phase::Prepare,
            Where::Destination,
            Risk::Reversible,
            "Rebuild the destination's container with `./launcher rebuild app` so it runs with the carried app.yml (minutes with the real image)".into(),
            Action::StartApp,
        ),
        readonly(
            "readonly-source",
            Where::Source,
            true,
            "Put the source forum in read-only mode (`discourse enable_readonly`): people can still read, nothing written after the backup is lost; it stays read-only afterwards, so the old forum cannot drift from the new one (seconds)".into(),
        ),
        step(
            "backup",
            Phase::Cutover,
            Where::Source,
            Risk::ReadOnly,
            format!(
                "Take a Discourse backup with uploads on the source (`discourse backup`): the database dump ({} of PostgreSQL data) and the uploads in one .tar.gz under {backups}, named with its schema version ({})",
                human_bytes(s.db_bytes),
                about(s.shared_bytes, 10)
            ),
            Action::Discourse(Op::Backup),
        ),
        step(
            "copy-backup",
            Phase::Cutover,
            Where::Both,
            Risk::Reversible,
            format!(
                "Copy the backup from the source's backups/default to the destination's, server to server (never through this machine's disk), and compare its SHA-256 on both sides ({})",
                about(s.shared_bytes, 5)
            ),
            Action::Discourse(Op::CopyBackup),
        ),
        step(
            "enable-restore",
            Phase::Cutover,
            Where::Destination,
            Risk::Reversible,
            "Allow restores on the destination (`discourse enable_restore`), which Discourse requires before any restore (seconds)".into(),
            Action::Discourse(Op::EnableRestore),
        ),
        step(
            "restore",
            Phase::Cutover,
            Where::Destination,
            Risk::Destructive,
            "Restore the backup on the destination (`discourse restore FILE`): Discourse checks the backup's schema is not newer than its own, pauses Sidekiq and waits for its jobs (a restore beside running jobs can deadlock), loads the dump, migrates it and extracts the uploads (minutes)".into(),
            Action::Discourse(Op::Restore),
        ),
        step(
            "disable-restore",
            Phase::Cutover,
            Where::Destination,
            Risk::Reversible,
            "Forbid restores again (`discourse disable_restore`), so nobody replaces the forum by mistake (seconds)".into(),
            Action::Discourse(Op::DisableRestore),
        ),
        step(
            "enable-email",
            Phase::Cutover,
            Where::Destination,
            Risk::Reversible,
            "Turn e-mail back on for everyone: Discourse's restore sets disable_emails to 'non-staff' so a restored copy cannot mail users; this is the real forum, so it goes back to 'no' (seconds)".into(),
            Action::Discourse(Op::EnableEmail),
        ),
        readonly(
            "readonly-off-destination",
            Where::Destination,
            false,
            "Leave read-only mode on the destination (`discourse disable_readonly`) (seconds)".into(),
        ),
    ]);
    steps.extend(rename_steps(mig, s));
    steps.push(clear_caches(Phase::Cutover));
    steps.push(test_destination(mig));
    steps
}
