//! The executor: walks the plan's steps in order, journaling each start and
//! end. A rerun skips finished steps and resumes the interrupted one (every
//! step is safe to run again). Asks before the downtime window and before
//! each destructive step unless --yes. Each step's commands come from its
//! kind's description (steps/), so --dry-run prints exactly what a run
//! would send, and the run records every command it sends beside the
//! journal (commands.jsonl).

use std::io::IsTerminal;
use std::time::Instant;

use serde_json::Value;

use super::journal::{Event, Journal};
use super::plan::{Action, Phase, Plan, PlanStep, Risk};
use super::sides::Sides;
use migrate_progress::{Report, Unit};

/// The progress task of a whole run.
const RUN_TASK: &str = "migration";
use super::steps::{self, Cx, Exec, Planned, outcome};

pub struct RunOptions {
    pub yes: bool,
    pub dry_run: bool,
    pub force: bool,
    /// Steps a person has done by hand (`--done STEP`).
    pub done: Vec<String>,
    /// Stop before the downtime window, running the live pre-syncs again
    /// even when an earlier run finished them (`--pre-sync-only`).
    pub pre_sync_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("step {step} failed: {message}")]
    Step { step: String, message: String },
    #[error("stopped before step {step}: {why}")]
    Declined { step: String, why: String },
    #[error("the journal could not be written: {0}")]
    Journal(#[from] super::journal::JournalError),
    #[error("{0}")]
    Unreachable(String),
}

pub struct Runner<'a> {
    pub plan: &'a Plan,
    pub sides: &'a Sides,
    pub journal: &'a mut Journal,
    pub opts: RunOptions,
    confirmed_plan: bool,
    confirmed_window: bool,
}

impl<'a> Runner<'a> {
    pub fn new(
        plan: &'a Plan,
        sides: &'a Sides,
        journal: &'a mut Journal,
        opts: RunOptions,
    ) -> Self {
        Runner {
            plan,
            sides,
            journal,
            opts,
            confirmed_plan: false,
            confirmed_window: false,
        }
    }

    fn cx<'b>(&'b self, step: &'b PlanStep) -> Cx<'b> {
        Cx {
            plan: self.plan,
            sides: self.sides,
            journal: Some(self.journal),
            step,
            yes: self.opts.yes,
            force: self.opts.force,
            done: &self.opts.done,
        }
    }

    pub fn run(&mut self) -> Result<(), RunError> {
        if !self.opts.dry_run {
            self.sides
                .record_to(&self.journal.dir.join("commands.jsonl"));
        }
        let res = self.steps();
        if !self.opts.dry_run {
            self.sides.progress().finish(RUN_TASK);
        }
        res
    }

    /// The run's own progress: steps done of the plan's steps.
    fn show_steps(&self, done: usize) {
        if !self.opts.dry_run {
            self.sides.progress().update(
                RUN_TASK,
                Unit::Items("steps"),
                done as u64,
                Some(self.plan.steps.len() as u64),
            );
        }
    }

    fn steps(&mut self) -> Result<(), RunError> {
        let plan = self.plan;
        let say = |line: String| self.sides.progress().println(&line);
        for (i, step) in plan.steps.iter().enumerate() {
            self.show_steps(i);
            if self.opts.pre_sync_only && step.phase >= Phase::Cutover {
                say(format!(
                    "  stop  before the downtime window (--pre-sync-only); run again without it to go on from [{}] {}",
                    step.phase.name(),
                    step.title
                ));
                break;
            }
            let again = self.opts.pre_sync_only
                && matches!(
                    step.action,
                    Action::Copy {
                        final_pass: false,
                        ..
                    }
                );
            if self.journal.is_done(&step.id) && !again {
                say(format!(
                    "  done  [{}] {} (finished earlier)",
                    step.phase.name(),
                    step.title
                ));
                continue;
            }
            let resuming = self.journal.last(&step.id).is_some();
            let kind = steps::kind(&step.action);
            if self.opts.dry_run {
                print_dry(step, &kind.describe(&self.cx(step)));
                continue;
            }
            let planned = kind.describe(&self.cx(step));
            self.confirm(step, &planned)?;
            self.manual_gate(step)?;
            say(format!(
                "{} [{}] {} ({})",
                if resuming { "resume" } else { "start " },
                step.phase.name(),
                step.title,
                step.on.name()
            ));
            if let Some(d) = self.show_detail(step) {
                self.sides.progress().detail(RUN_TASK, d);
            }
            self.journal
                .append(&step.id, Event::Start, &step.title, Value::Null)?;
            let t = Instant::now();
            self.sides.set_step(&step.id);
            let res = {
                let _span =
                    tracing::info_span!("step", id = %step.id, phase = step.phase.name()).entered();
                kind.execute(&mut Exec::new(self.cx(step), planned))
            };
            self.sides.set_step("");
            match res {
                Ok(o) => {
                    let mut data = o.data;
                    if let Value::Object(m) = &mut data {
                        m.insert("seconds".into(), t.elapsed().as_secs_f64().into());
                    }
                    say(format!("  done  {}", o.detail));
                    self.journal
                        .append(&step.id, Event::Done, &o.detail, data)?;
                }
                Err(message) => {
                    self.journal
                        .append(&step.id, Event::Failed, &message, Value::Null)?;
                    return Err(RunError::Step {
                        step: step.id.clone(),
                        message,
                    });
                }
            }
        }
        self.show_steps(plan.steps.len());
        Ok(())
    }

    /// The step running now, as the run's progress detail.
    fn show_detail(&self, step: &PlanStep) -> Option<String> {
        (!self.opts.dry_run).then(|| format!("[{}] {}", step.phase.name(), step.title))
    }

    /// A step only a person can do, which later steps rely on (it changes
    /// something before or in the downtime window: deploy the new code,
    /// stop a service), stops an unattended run instead of being skipped:
    /// the run resumes here once it is done and named with `--done`.
    /// Reminders for afterwards and read-only checks only go to the report.
    fn manual_gate(&self, step: &PlanStep) -> Result<(), RunError> {
        let Action::Manual { text } = &step.action else {
            return Ok(());
        };
        let attended = !self.opts.yes && std::io::stdin().is_terminal();
        if attended
            || self.opts.done.contains(&step.id)
            || step.phase > Phase::Cutover
            || step.risk == Risk::ReadOnly
        {
            return Ok(());
        }
        eprintln!("  BY HAND: {text}");
        Err(RunError::Declined {
            step: step.id.clone(),
            why: format!(
                "it needs a person: {text} When that is done, run the same command with `--done {}` to go on from here",
                step.id
            ),
        })
    }

    fn confirm(&mut self, step: &PlanStep, planned: &[Planned]) -> Result<(), RunError> {
        if self.opts.yes {
            return Ok(());
        }
        let declined = |why: &str| RunError::Declined {
            step: step.id.clone(),
            why: why.to_string(),
        };
        let interactive = std::io::stdin().is_terminal();
        let need_plan = acts(step, planned) && !self.confirmed_plan;
        let need_window = step.phase == Phase::Cutover && !self.confirmed_window;
        // Inside the window nobody is asked: the time a person takes to
        // answer is downtime. Its destructive steps were shown and
        // confirmed with the window.
        let need_step = step.risk == Risk::Destructive
            && !(step.phase == Phase::Cutover && (need_window || self.confirmed_window));
        if !(need_plan || need_window || need_step) {
            return Ok(());
        }
        if !interactive {
            return Err(declined(
                "this step changes things and there is no terminal to ask; rerun with --yes to run unattended (the journal keeps what is done)",
            ));
        }
        if need_plan {
            if !steps::ask("Run the plan's changing steps (each is journaled)?") {
                return Err(declined("not confirmed"));
            }
            self.confirmed_plan = true;
        }
        if need_window {
            eprint!("{}", self.window_commands());
            eprintln!("{}", self.prediction());
            if !steps::ask("Start the downtime window now (the source app stops)?") {
                return Err(declined("downtime window not confirmed"));
            }
            self.confirmed_window = true;
        }
        if need_step && !steps::ask(&format!("{}: continue?", step.title)) {
            return Err(declined("not confirmed"));
        }
        Ok(())
    }

    /// Every command of the downtime window, shown before it opens.
    fn window_commands(&self) -> String {
        let described: Vec<(&PlanStep, Vec<Planned>)> = self
            .plan
            .steps
            .iter()
            .filter(|st| st.phase == Phase::Cutover && !self.journal.is_done(&st.id))
            .map(|st| (st, steps::kind(&st.action).describe(&self.cx(st))))
            .collect();
        let by_hand: Vec<&str> = described
            .iter()
            .filter(|(st, _)| matches!(st.action, Action::Manual { .. }))
            .map(|(st, _)| st.title.as_str())
            .collect();
        let mut s = format!(
            "The downtime window runs these steps, without asking again:\n{}",
            super::report::commands_text(&described)
        );
        // A person's step inside the window is downtime too, and the
        // prediction cannot know how long it takes: say so before it opens.
        if !by_hand.is_empty() {
            s.push_str(&format!(
                "{} of them only you can do, by hand, while the app is down: {}. The downtime lasts until they are done; the prediction below does not include them.\n",
                by_hand.len(),
                by_hand.join("; ")
            ));
        }
        s
    }

    /// Predicted downtime from the last pre-sync's delta pass and the dump.
    pub fn prediction(&self) -> String {
        match predict(self.plan, self.journal) {
            Some(p) => format!(
                "Predicted downtime: about {p:.0} s (the rehearsed final pass and database, the lab's figures for the other steps)"
            ),
            None => "Predicted downtime: unknown (no pre-sync measured yet)".into(),
        }
    }
}

/// Whether a step changes anything, as the host classes it (never as a
/// plugin or recipe calls it): only the host's own fixed looks, HTTP and
/// TCP checks and a test plan without shell commands read without acting;
/// a test plan whose checks run commands on a server acts, since those
/// commands are the plugin's or the recipe's text.
pub fn acts(step: &PlanStep, planned: &[Planned]) -> bool {
    match step.action {
        Action::Preflight | Action::Http { .. } | Action::Tcp { .. } | Action::Manual { .. } => {
            false
        }
        Action::DestinationFree => step.risk != Risk::ReadOnly,
        Action::Baseline | Action::TestPlan => planned
            .iter()
            .any(|p| matches!(p.on, steps::On::Source | steps::On::Destination)),
        _ => true,
    }
}

fn print_dry(step: &PlanStep, planned: &[Planned]) {
    print!(
        "{}",
        super::report::commands_text(&vec![(step, planned.to_vec())])
    );
}

/// A window step's cost when nothing was rehearsed for it: one command
/// or two over the shared ssh connection (bench/downtime.sh in the lab:
/// stopping and starting the stand-in 0.1-0.2 s, each carried secret
/// under 0.05 s, the test plan 0.3 s).
const STEP_SECONDS: f64 = 0.1;
/// Carrying Redis: a save on the source, one small copy job (its key set
/// up and removed), a restart on the destination; 1.5-1.6 s in the lab
/// (bench/downtime.sh).
const REDIS_SECONDS: f64 = 1.5;
/// A database that was not rehearsed streams at about this rate, dump and
/// load together (the lab's 240 MB PostgreSQL database: 55-85 MB/s,
/// bench/downtime.sh).
const DB_RATE: f64 = 50e6;

/// The downtime the plan's window should take, step by step, from the
/// live rehearsals: the final pass costs what the last live delta pass
/// cost (that pass already lists both trees and hashes what it sent, as
/// the final one does; with no rehearsed delta, a quarter more); a database
/// costs what its rehearsal (the same pipe into a scratch database) took;
/// the permission scan walks the tree as the delta's listing did; Redis
/// and every other step cost what the lab measured for them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Prediction {
    pub seconds: f64,
    /// (step, seconds, where the figure comes from)
    pub parts: Vec<(String, f64, &'static str)>,
}

pub fn prediction(plan: &Plan, journal: &Journal) -> Option<Prediction> {
    let bulk: outcome::Copied = journal.outcome("pre-sync")?;
    let rehearsed = journal.outcome::<outcome::Copied>("pre-sync-delta");
    let (delta, delta_rehearsed) = match &rehearsed {
        Some(d) => (d.clone(), d.verified.is_some()),
        None => (bulk.clone(), false),
    };
    let mut parts = Vec::new();
    for s in plan.steps.iter().filter(|s| s.phase == Phase::Cutover) {
        let (secs, from) = match &s.action {
            Action::Copy {
                final_pass: true, ..
            } if delta_rehearsed => (delta.copy_seconds, "the rehearsed live delta pass"),
            Action::Copy {
                final_pass: true, ..
            } => (
                1.25 * delta.copy_seconds,
                "the live delta pass, plus a quarter for hashing",
            ),
            Action::Database {
                rehearsal: false, ..
            } => {
                let name = s.id.strip_prefix("database-").unwrap_or(&s.id);
                match journal.outcome::<outcome::Database>(&format!("rehearse-database-{name}")) {
                    Some(r) if r.step_seconds > 0.0 => (r.step_seconds, "its rehearsal"),
                    _ => (
                        plan.facts.database_bytes as f64 / DB_RATE + 0.5,
                        "its size at 50 MB/s",
                    ),
                }
            }
            Action::Permissions { .. } if delta.listing_seconds > 0.0 => (
                delta.listing_seconds,
                "the delta pass's listing of the tree",
            ),
            Action::Redis { .. } => (REDIS_SECONDS, "the lab's Redis move"),
            _ => (STEP_SECONDS, "one command"),
        };
        parts.push((s.id.clone(), secs, from));
    }
    Some(Prediction {
        seconds: parts.iter().map(|p| p.1).sum(),
        parts,
    })
}

pub fn predict(plan: &Plan, journal: &Journal) -> Option<f64> {
    prediction(plan, journal).map(|p| p.seconds)
}

/// Measured downtime: from the first step of the window to the destination
/// test plan passing.
pub fn measured_downtime(plan: &Plan, journal: &Journal) -> Option<f64> {
    let start = journal.first_start(&plan.downtime_starts()?.id)?.at_ms;
    let end = journal
        .entries
        .iter()
        .find(|e| e.step == "test-destination" && e.event == Event::Done)?
        .at_ms;
    Some((end.saturating_sub(start)) as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::plan::{Action, Where};
    use crate::migration::steps::{On, Planned};
    use crate::plugin::Side;

    fn step(action: Action, risk: Risk) -> PlanStep {
        PlanStep {
            id: "s".into(),
            phase: Phase::Prepare,
            on: Where::Source,
            title: "s".into(),
            risk,
            origin: "plugin x".into(),
            action,
        }
    }

    #[test]
    fn the_host_classes_what_acts_whatever_the_plugin_says() {
        let shell = [Planned::on("check-x", Side::Source, "touch /srv/pwned")];
        let http = [Planned::operator("check-y", "GET /status.php")];
        // A test plan whose checks run shell text acts, read-only or not.
        assert!(acts(&step(Action::Baseline, Risk::ReadOnly), &shell));
        assert!(!acts(&step(Action::Baseline, Risk::ReadOnly), &http));
        // A plugin's command acts even when the plugin calls it read-only.
        let exec = Action::Exec(crate::migration::plan::Cmd {
            service: None,
            argv: vec!["true".into()],
            env: vec![],
            user: None,
            workdir: None,
        });
        assert!(acts(&step(exec, Risk::ReadOnly), &shell));
        // The backup writes on the source.
        assert!(acts(&step(Action::Backup, Risk::ReadOnly), &shell));
        assert!(!acts(&step(Action::Preflight, Risk::ReadOnly), &shell));
        assert!(!acts(
            &step(Action::DestinationFree, Risk::ReadOnly),
            &shell
        ));
        assert!(acts(
            &step(Action::DestinationFree, Risk::Destructive),
            &shell
        ));
        assert!(shell.iter().all(|p| p.on == On::Source));
    }
}
