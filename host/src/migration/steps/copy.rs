//! The app's tree, server to server, by the copy crate: live pre-syncs
//! while the app runs, then the final pass (deleting on the destination
//! what the source deleted), which hashes what it sent on both servers.
//! The whole trees are compared after the window (`verify_copy`).

use migrate_remote::Location;

use super::super::plan::human_bytes;
use super::{Cx, Exec, Outcome, Planned, StepKind, outcome};

pub struct Copy {
    pub final_pass: bool,
    /// Also hash what the pass sent, as the final pass will (see
    /// `Action::Copy`).
    pub rehearse: bool,
}

/// The copy this step asks of the copy crate.
pub(super) fn options(
    cx: &Cx,
    final_pass: bool,
    rehearse: bool,
) -> Result<migrate_copy::CopyOptions, String> {
    let m = &cx.plan.migration;
    let loc = |host: &str, path: &str| -> Result<Location, String> {
        Ok(Location {
            host: migrate_remote::HostSpec::parse(host).map_err(|e| e.to_string())?,
            path: path.to_string(),
        })
    };
    Ok(migrate_copy::CopyOptions {
        src: loc(&m.source.host, &m.source.root)?,
        dst: loc(&m.destination.host, &m.destination.root)?,
        final_pass,
        verify: false,
        verify_sent: final_pass || rehearse,
        streams: migrate_copy::link::Streams::Auto,
        compress: false,
        relay: false,
        detach: false,
        bwlimit: None,
        // The destination-free step proved the directory empty (or moved
        // the old one aside) before the first pass, so it holds only what
        // this migration copied. Without force, migrate-copy refuses to
        // resume into it after a pass that died without recording its
        // result (seen in the lab under load).
        force: true,
        delete_without_backup: false,
        // Media kept in object storage stay in the bucket (the plan says so).
        exclude: excluded(cx),
    })
}

/// What the copy leaves out, relative to the copied root.
fn excluded(cx: &Cx) -> Vec<String> {
    cx.plan
        .facts
        .object_storage
        .as_ref()
        .map(|o| o.excluded.clone())
        .unwrap_or_default()
}

impl StepKind for Copy {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        let m = &cx.plan.migration;
        vec![Planned::operator(
            "copy",
            format!(
                "migrate copy {}:{} {}:{}{}{}",
                m.source.host,
                m.source.root,
                m.destination.host,
                m.destination.root,
                excluded(cx)
                    .iter()
                    .map(|e| format!(" --exclude {e}"))
                    .collect::<String>(),
                if self.final_pass {
                    " --final --verify-sent"
                } else if self.rehearse {
                    " --verify-sent"
                } else {
                    ""
                }
            ),
        )]
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        x.planned("copy")?;
        let opts = options(&x.cx, self.final_pass, self.rehearse)?;
        let task = if self.final_pass {
            "copy (final pass)"
        } else {
            "copy (pre-sync)"
        };
        let outcome = run_with_retries(&x.cx, &opts, task);
        match outcome.map_err(|e| e.to_string())? {
            migrate_copy::Outcome::Detached { job_id, .. } => Err(format!(
                "the copy {job_id} detached unexpectedly; rerun to resume it"
            )),
            migrate_copy::Outcome::Finished(s) => {
                if let Some(v) = &s.verdict
                    && !v.identical()
                {
                    return Err(format!(
                        "the trees differ after the copy: {}",
                        v.differences
                            .iter()
                            .take(5)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join("; ")
                    ));
                }
                Ok(Outcome::new(
                    format!(
                        "{} files, {} sent in {:.1} s{}",
                        s.files_sent,
                        human_bytes(s.bytes_sent),
                        s.seconds,
                        match &s.verdict {
                            Some(v) if v.sent_only => format!(
                                "; the {} files sent are identical on both servers (sha256)",
                                v.hashed
                            ),
                            Some(v) => format!(
                                "; verified identical ({} entries, {} hashed)",
                                v.files, v.hashed
                            ),
                            None => String::new(),
                        }
                    ),
                    &outcome::Copied {
                        files_sent: s.files_sent,
                        bytes_sent: s.bytes_sent,
                        copy_seconds: s.seconds,
                        listing_seconds: s.listing_seconds,
                        verified: s.verdict.as_ref().map(|v| v.files),
                    },
                ))
            }
        }
    }
}

/// One copy pass with its progress shown under `task`, retried where a
/// rerun is safe: a pass left running by a killed run (it finishes on the
/// server), a dropped server-to-server link (the copy resumes from what
/// fully arrived), and the destination refusing the source's temporary key
/// while a previous pass's removal races the next one's.
pub(super) fn run_with_retries(
    cx: &Cx,
    opts: &migrate_copy::CopyOptions,
    task: &str,
) -> Result<migrate_copy::Outcome, migrate_copy::CopyError> {
    let mut shown = migrate_copy::report::Shown::new(cx.sides.progress(), task);
    let mut on_progress = |p: &migrate_copy::Progress| shown.on(p);
    // A copy left running by a killed run finishes on the server; wait for it.
    let mut tries = 0;
    let mut auth_retries = 0;
    let mut link_retries = 0;
    let outcome = loop {
        match cx
            .sides
            .rt
            .block_on(migrate_copy::run(opts, &mut on_progress))
        {
            Err(migrate_copy::CopyError::AlreadyRunning { .. }) if tries < 120 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
            // A dropped server-to-server link: the copy resumes from
            // what fully arrived, so an unattended run tries again a
            // few times.
            Err(migrate_copy::CopyError::Interrupted { detail }) if link_retries < 3 => {
                link_retries += 1;
                eprintln!(
                    "        the copy was interrupted ({}); resuming ({link_retries}/3)",
                    detail.lines().next().unwrap_or("")
                );
                std::thread::sleep(std::time::Duration::from_secs(2));
            }
            // Back-to-back passes of one copy job: the previous pass's
            // temporary key removal can race the next pass's key (seen
            // in the lab as the destination refusing the source's
            // login). The pass is safe to repeat.
            Err(migrate_copy::CopyError::Remote(migrate_remote::RemoteError::AuthRefused {
                ..
            })) if auth_retries < 3 => {
                auth_retries += 1;
                tracing::warn!(
                    "the destination refused the source's temporary key; retrying the pass"
                );
                std::thread::sleep(std::time::Duration::from_secs(2));
            }
            other => break other,
        }
    };
    shown.end();
    outcome
}
