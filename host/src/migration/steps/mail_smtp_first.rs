//! Mailu's `smtp` stops before the rest of the old server: from then on no
//! new mail is accepted there, and senders keep it in their own queues and
//! retry (SMTP's retry is what makes a mail move safe, docs/maintain.rst).
//! Before it stops, its Postfix is asked to deliver what it holds
//! (`postqueue -f`) and given a minute to empty its queue; what is still
//! queued afterwards is counted in the project's `mailqueue/` (Postfix's
//! `/queue`), which the final copy carries to the destination.

use migrate_remote::sh_quote;
use serde::{Deserialize, Serialize};

use super::super::mailu::QUEUE_DIRS;
use super::{Cx, Exec, Outcome, Planned, StepKind, tail};
use crate::plugin::Side;

pub struct StopSmtp;

/// What the journal keeps of the stop.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stopped {
    /// Queue files left in the old server's mailqueue/ after the flush.
    pub queued: u64,
}

fn scripts(cx: &Cx) -> Result<(String, String, String), String> {
    let src = Side::Source;
    let Some(p) = cx.sides.layout(src).project() else {
        return Err(
            "the source is not a compose project: name its directory with `compose` in [source]"
                .into(),
        );
    };
    let running = format!("docker ps -q {}", p.service_filter("smtp"));
    // Only a running Postfix can flush; a rerun after the stop finds none.
    let flush = format!(
        "if [ -n \"$({running})\" ]; then {flush} >/dev/null 2>&1 || true; for i in $(seq 1 60); do {show} 2>/dev/null | grep -q '^Mail queue is empty' && break; sleep 1; done; fi",
        flush = p.cli("exec -T smtp postqueue -f"),
        show = p.cli("exec -T smtp postqueue -p"),
    );
    let stop = p.cli("stop smtp");
    let root = &cx.sides.def(src).root;
    let dirs: Vec<String> = QUEUE_DIRS
        .iter()
        .map(|d| sh_quote(&format!("{root}/mailqueue/{d}")))
        .collect();
    let count = format!("find {} -type f 2>/dev/null | wc -l", dirs.join(" "));
    Ok((flush, stop, count))
}

impl StepKind for StopSmtp {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        match scripts(cx) {
            Ok((flush, stop, count)) => vec![
                Planned::on("flush", Side::Source, flush),
                Planned::on("stop", Side::Source, stop),
                Planned::on("count", Side::Source, count),
            ],
            Err(e) => vec![Planned::by_hand(e)],
        }
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        if let Ok(p) = x.planned("by-hand") {
            return Err(p.script.clone());
        }
        x.run("flush", "flushing Postfix's queue")?;
        let (status, _, err) = x.status("stop", "stopping smtp")?;
        if status != 0 {
            return Err(format!(
                "stopping the source's smtp service failed ({}); Mailu still accepts mail there, nothing else was changed",
                tail(&err)
            ));
        }
        let out = x.run("count", "counting the queue")?;
        let queued: u64 = out.trim().parse().map_err(|_| {
            format!("counting the source's mailqueue/ printed {out:?}, not a number")
        })?;
        let detail = if queued == 0 {
            "the source's smtp is stopped and its Postfix queue is empty".to_string()
        } else {
            format!(
                "the source's smtp is stopped; {queued} queue files are still in mailqueue/ and travel with the final copy (the destination's Postfix delivers them)"
            )
        };
        Ok(Outcome::new(detail, &Stopped { queued }))
    }
}
