//! The whole tree compared after the downtime window. Inside the window
//! the final pass checks only what it sent (hashed on both servers); the
//! bulk arrived in the live pre-syncs, whose files the final pass listed
//! but did not read. Reading both trees again inside the window made the
//! window (bench/results: 21.5 s of a 27.6 s window for 100k unchanged
//! files), so this runs once the app is back up: every entry whose
//! destination copy is newer than the source's was changed there since
//! (by the app, or by the move's own steps after the copy) and is counted,
//! not judged; content that differs under the source's mtime, owners,
//! modes and missing entries are differences. The source is stopped and
//! untouched, so a difference can be copied again from it.

use std::time::Instant;

use super::copy::options;
use super::{Cx, Exec, Outcome, Planned, StepKind, outcome};

pub struct VerifyCopy;

impl StepKind for VerifyCopy {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        let m = &cx.plan.migration;
        vec![Planned::operator(
            "verify",
            format!(
                "compare {}:{} with {}:{} whole (listing and sha256 on each server); entries newer on the destination than on the source changed there after the copy and are counted, not compared",
                m.source.host, m.source.root, m.destination.host, m.destination.root
            ),
        )]
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        x.planned("verify")?;
        let opts = options(&x.cx, true, false)?;
        let t = Instant::now();
        let sides = &x.cx.sides;
        let v = sides
            .rt
            .block_on(migrate_copy::job::verify_unchanged(
                &sides.src, &sides.dst, &opts,
            ))
            .map_err(|e| format!("comparing the trees: {e}"))?;
        if !v.identical() {
            let shown: Vec<String> = v.differences.iter().take(20).cloned().collect();
            return Err(format!(
                "{} entries of the destination differ from the source, beyond what changed there since the copy:\n  {}{}\nThe source still holds them as they were (its app is stopped): copy them again with `migrate copy {}/PATH {}/PATH`, then rerun to check again.",
                v.differences.len(),
                shown.join("\n  "),
                if v.differences.len() > shown.len() {
                    format!("\n  ... and {} more", v.differences.len() - shown.len())
                } else {
                    String::new()
                },
                opts.src,
                opts.dst,
            ));
        }
        Ok(Outcome::new(
            format!(
                "identical: {} entries ({} files by sha256); left out as changed on the destination since the copy: {}, new there: {}",
                v.files, v.hashed, v.changed_on_destination, v.new_on_destination
            ),
            &outcome::Verified {
                entries: v.files,
                hashed: v.hashed,
                changed_since: v.changed_on_destination,
                new_since: v.new_on_destination,
                seconds: t.elapsed().as_secs_f64(),
            },
        ))
    }
}
