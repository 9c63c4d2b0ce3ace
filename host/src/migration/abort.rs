//! `migrate abort`: before the point of no return, put the source back the
//! way it was (maintenance off, app started). The destination keeps what was
//! copied; nothing on either side is deleted.

use serde_json::Value;

use super::commands;
use super::journal::{Event, Journal, StepState, state_of};
use super::plan::{Action, Phase, Plan, Where};
use super::sides::Sides;
use crate::plugin::Side;

#[derive(Debug, thiserror::Error)]
pub enum AbortError {
    #[error(
        "refused: the migration is past the point of no return ({0} has started: the destination is live); fix forward instead"
    )]
    PastNoReturn(String),
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Journal(#[from] super::journal::JournalError),
}

/// The first step after which the source is no longer the app: the
/// finish phase (the destination passed its test plan and took over).
pub fn point_of_no_return(plan: &Plan) -> Option<&str> {
    plan.steps
        .iter()
        .find(|s| matches!(s.action, Action::DnsCutover) || s.phase == Phase::Finish)
        .map(|s| s.id.as_str())
}

pub fn abort(
    plan: &Plan,
    sides: &Sides,
    journal: &mut Journal,
    dry_run: bool,
) -> Result<Vec<String>, AbortError> {
    if let Some(p) = point_of_no_return(plan)
        && state_of(&journal.entries, p) != StepState::Pending
    {
        return Err(AbortError::PastNoReturn(p.to_string()));
    }
    let mut did = Vec::new();
    for st in plan.steps.iter().rev() {
        if state_of(&journal.entries, &st.id) == StepState::Pending {
            continue;
        }
        match &st.action {
            Action::StopApp => {
                let start = plan.migration.source.start.clone().unwrap_or_default();
                if start.is_empty() {
                    did.push(
                        "start the app on the source by hand (no start command configured)".into(),
                    );
                    continue;
                }
                if !dry_run {
                    sides
                        .sh(Side::Source, "restarting the source app", &start)
                        .map_err(|e| {
                            AbortError::Failed(format!("restarting the source app: {e}"))
                        })?;
                }
                did.push("started the app on the source again".into());
            }
            // A plugin step that switched something on at the source (its
            // maintenance mode) is switched off with the same command.
            Action::Exec(c) if st.on == Where::Source && c.argv.iter().any(|a| a == "--on") => {
                let mut off = c.clone();
                for a in &mut off.argv {
                    if a == "--on" {
                        *a = "--off".into();
                    }
                }
                let script =
                    commands::script(sides.mount.as_deref(), sides.def(Side::Source), &off)
                        .map_err(|e| AbortError::Failed(e.to_string()))?;
                if !dry_run {
                    sides
                        .sh(Side::Source, "undoing a source step", &script)
                        .map_err(|e| AbortError::Failed(format!("undoing {}: {e}", st.id)))?;
                }
                did.push(format!("undid on the source: {}", st.title));
            }
            Action::Toggle { what, undo, .. } => {
                if !dry_run {
                    sides
                        .sh(Side::Source, "restoring what the window disabled", undo)
                        .map_err(|e| AbortError::Failed(format!("restoring the {what}: {e}")))?;
                }
                did.push(format!("restored on the source: {what}"));
            }
            Action::Redis { .. } => {
                if !dry_run {
                    sides
                        .sh(
                            Side::Source,
                            "restarting Redis on the source",
                            &super::steps::redis_restart_source(&plan.migration),
                        )
                        .map_err(|e| {
                            AbortError::Failed(format!("restarting Redis on the source: {e}"))
                        })?;
                }
                did.push("started Redis on the source again".into());
            }
            Action::DnsLower => {
                let def = plan
                    .migration
                    .dns
                    .as_ref()
                    .ok_or_else(|| AbortError::Failed("no [dns] section".into()))?;
                let Some(mut p) = super::dns::load_saved(&journal.dir) else {
                    continue;
                };
                if !dry_run {
                    let d = super::dns::dns(def).map_err(AbortError::Failed)?;
                    sides
                        .rt
                        .block_on(d.restore(&mut p, false))
                        .map_err(|e| AbortError::Failed(format!("restoring the TTLs: {e}")))?;
                    super::dns::save(&journal.dir, &p).map_err(AbortError::Failed)?;
                }
                did.push("restored the original DNS TTLs".into());
            }
            _ => {}
        }
    }
    if !dry_run {
        journal.append("abort", Event::Aborted, &did.join("; "), Value::Null)?;
    }
    Ok(did)
}
