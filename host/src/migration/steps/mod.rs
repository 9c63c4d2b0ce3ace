//! The step kinds of a plan, one file each. A step says once what it will
//! run ([`Planned`] commands, from `describe`), and its run executes only
//! those: `--dry-run`, the plan's runbook and the run read the same list,
//! so what the operator confirmed is what reaches the servers. A script
//! whose input depends on what the source says (the roles a database
//! names, a secret's value) is still fixed text: the varying part travels
//! on its standard input, described in words.

mod app;
mod around;
mod backup;
mod carry;
mod copy;
mod crontab;
mod database;
pub mod destination_free;
mod discourse;
mod dns;
mod exec;
mod mail_checks;
mod mail_dns;
mod mail_mailboxes;
pub mod mail_smtp_first;
mod manual;
pub mod object_storage;
pub mod outcome;
mod permissions;
pub mod preflight;
mod probe;
mod redis;
pub mod redis_state;
mod secrets;
mod test_plan;
mod toggle;
mod verify_copy;
mod volume;

use std::io::{BufRead, IsTerminal, Write};

use serde::Serialize;

pub use object_storage::plan_reading as object_storage_plan_reading;
pub use outcome::Outcome;
pub use permissions::plan_reading as permissions_plan_reading;
pub use redis::{
    carries as redis_carries, plan_reading as redis_plan_reading,
    restart_source as redis_restart_source,
};

use super::journal::Journal;
use super::plan::{Action, Plan, PlanStep};
use super::sides::{SideError, Sides};
use crate::plugin::Side;

/// Where a planned command acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum On {
    Source,
    Destination,
    /// This machine drives it through a crate (a copy job, a DNS update,
    /// an HTTP request): the text is the equivalent command line.
    Operator,
    /// A person does it; the text is the instruction.
    ByHand,
}

impl On {
    pub fn name(self) -> &'static str {
        match self {
            On::Source => "source",
            On::Destination => "destination",
            On::Operator => "operator",
            On::ByHand => "by hand",
        }
    }
    pub fn of(side: Side) -> On {
        match side {
            Side::Source => On::Source,
            Side::Destination => On::Destination,
        }
    }
    fn side(self) -> Option<Side> {
        match self {
            On::Source => Some(Side::Source),
            On::Destination => Some(Side::Destination),
            _ => None,
        }
    }
}

/// One command of a step, as shown before it runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    /// Names the command within its step (`execute` runs it by this key).
    pub key: String,
    pub on: On,
    /// The exact script sent to the server (or, off the servers, the
    /// equivalent command line or the instruction).
    pub script: String,
    /// What the script reads on stdin, in words (values are never shown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Run only when an earlier command of the step finds it is needed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub conditional: bool,
}

impl Planned {
    pub fn on(key: impl Into<String>, side: Side, script: impl Into<String>) -> Planned {
        Planned {
            key: key.into(),
            on: On::of(side),
            script: script.into(),
            stdin: None,
            conditional: false,
        }
    }
    pub fn operator(key: impl Into<String>, text: impl Into<String>) -> Planned {
        Planned {
            key: key.into(),
            on: On::Operator,
            script: text.into(),
            stdin: None,
            conditional: false,
        }
    }
    pub fn by_hand(text: impl Into<String>) -> Planned {
        Planned {
            key: "by-hand".into(),
            on: On::ByHand,
            script: text.into(),
            stdin: None,
            conditional: false,
        }
    }
    pub fn reading(mut self, stdin: impl Into<String>) -> Planned {
        self.stdin = Some(stdin.into());
        self
    }
    pub fn when_needed(mut self) -> Planned {
        self.conditional = true;
        self
    }
}

/// What a step sees while it is described or run.
pub struct Cx<'a> {
    pub plan: &'a Plan,
    pub sides: &'a Sides,
    /// None while a plan is only shown (`migrate plan`).
    pub journal: Option<&'a Journal>,
    pub step: &'a PlanStep,
    pub yes: bool,
    pub force: bool,
    pub done: &'a [String],
}

impl Cx<'_> {
    /// A person can be asked (a terminal, and no --yes).
    pub fn attended(&self) -> bool {
        !self.yes && std::io::stdin().is_terminal()
    }

    pub fn ask(&self, question: &str) -> bool {
        ask(question)
    }
}

pub fn ask(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    matches!(line.trim(), "y" | "Y" | "yes")
}

/// The running step's commands: a step can only run what it described.
pub struct Exec<'a> {
    pub cx: Cx<'a>,
    planned: Vec<Planned>,
}

/// (exit status, stdout, stderr)
pub type Ran = (i32, String, String);

impl<'a> Exec<'a> {
    pub fn new(cx: Cx<'a>, planned: Vec<Planned>) -> Exec<'a> {
        Exec { cx, planned }
    }

    pub fn planned(&self, key: &str) -> Result<&Planned, String> {
        self.planned
            .iter()
            .find(|p| p.key == key)
            .ok_or_else(|| format!("internal: step {} has no command {key:?}", self.cx.step.id))
    }

    /// Run a described command; a non-zero exit is an error with stderr.
    pub fn run(&self, key: &str, what: &str) -> Result<String, String> {
        self.run_with(key, what, None)
    }

    pub fn run_with(&self, key: &str, what: &str, stdin: Option<&[u8]>) -> Result<String, String> {
        let (side, script) = self.remote(key)?;
        self.cx
            .sides
            .sh_in(side, what, &script, stdin)
            .map_err(|e: SideError| e.to_string())
    }

    /// Run a described command and return its status and output.
    pub fn status(&self, key: &str, what: &str) -> Result<Ran, String> {
        let (side, script) = self.remote(key)?;
        self.cx
            .sides
            .sh_status(side, what, &script)
            .map_err(|e| e.to_string())
    }

    fn remote(&self, key: &str) -> Result<(Side, String), String> {
        let p = self.planned(key)?;
        let side = p.on.side().ok_or_else(|| {
            format!(
                "internal: command {key:?} of step {} does not run on a server",
                self.cx.step.id
            )
        })?;
        Ok((side, p.script.clone()))
    }
}

/// A step kind: what it will run, and running it.
pub trait StepKind {
    fn describe(&self, cx: &Cx) -> Vec<Planned>;
    fn execute(&self, x: &mut Exec) -> Result<Outcome, String>;
}

/// The step kind that carries out an action.
pub fn kind(action: &Action) -> Box<dyn StepKind + '_> {
    match action {
        Action::Preflight => Box::new(preflight::Preflight),
        Action::DestinationFree => Box::new(destination_free::DestinationFree),
        Action::Backup => Box::new(backup::Backup),
        Action::Baseline => Box::new(test_plan::TestPlan { side: Side::Source }),
        Action::TestPlan => Box::new(test_plan::TestPlan {
            side: Side::Destination,
        }),
        Action::Copy {
            final_pass,
            rehearse,
        } => Box::new(copy::Copy {
            final_pass: *final_pass,
            rehearse: *rehearse,
        }),
        Action::VerifyCopy => Box::new(verify_copy::VerifyCopy),
        Action::StopApp => Box::new(app::Lifecycle::StopSource),
        Action::StartApp => Box::new(app::Lifecycle::StartDestination),
        Action::StopDestination => Box::new(app::Lifecycle::StopDestination),
        Action::Deploy => Box::new(app::Lifecycle::Deploy),
        Action::Database {
            engine,
            source_name,
            destination_name,
            owner,
            service,
            rehearsal,
        } => Box::new(database::Database {
            engine,
            source_name,
            destination_name,
            owner: owner.as_deref(),
            service: service.as_deref(),
            rehearsal: *rehearsal,
        }),
        Action::CreateVolume {
            compose_dir,
            project,
            volume,
            stack,
        } => Box::new(volume::CreateVolume {
            compose_dir,
            project,
            volume,
            stack: *stack,
        }),
        Action::StackSecrets { from, to } => Box::new(secrets::StackSecrets { from, to }),
        Action::Exec(c) => Box::new(exec::Exec { cmd: c }),
        Action::ObjectStorage { place, url } => {
            Box::new(object_storage::ObjectStorageCheck { place, url })
        }
        Action::Redis { .. } => Box::new(redis::Redis),
        Action::Permissions { dirs, fix } => Box::new(permissions::Permissions { dirs, fix: *fix }),
        Action::Carry {
            file, key, secret, ..
        } => Box::new(carry::Carry {
            file,
            key,
            secret: *secret,
        }),
        Action::Http { .. } | Action::Tcp { .. } => Box::new(probe::Probe { action }),
        Action::Manual { text } => Box::new(manual::Manual { text }),
        Action::Around {
            what,
            paths,
            enable,
        } => Box::new(around::Around {
            what,
            paths,
            enable: enable.as_deref(),
        }),
        Action::Toggle { what, script, .. } => Box::new(toggle::Toggle { what, script }),
        Action::Crontab { user, needle } => Box::new(crontab::Crontab { user, needle }),
        Action::DnsLower => Box::new(dns::Dns::Lower),
        Action::DnsCutover => Box::new(dns::Dns::Cutover),
        Action::DnsRestore => Box::new(dns::Dns::Restore),
        Action::Discourse(op) => Box::new(discourse::Discourse { op }),
        Action::MailuStopSmtp => Box::new(mail_smtp_first::StopSmtp),
        Action::MailuCheck => Box::new(mail_checks::MailChecks),
        Action::MailuDns { after } => Box::new(mail_dns::MailDns { after: *after }),
        Action::MailuRelay => Box::new(mail_dns::Relay),
        Action::MailuSwitchOff => Box::new(mail_dns::SwitchOff),
        Action::MailuMailboxes => Box::new(mail_mailboxes::Mailboxes),
    }
}

/// Each step of a plan with the commands it will run, in order: what
/// `migrate plan`, the runbook and `--dry-run` show, from the same
/// descriptions the run executes.
pub type Described<'a> = Vec<(&'a PlanStep, Vec<Planned>)>;

pub fn describe_plan<'a>(
    plan: &'a Plan,
    sides: &'a Sides,
    journal: Option<&'a Journal>,
) -> Described<'a> {
    plan.steps
        .iter()
        .map(|step| {
            let cx = Cx {
                plan,
                sides,
                journal,
                step,
                yes: false,
                force: false,
                done: &[],
            };
            (step, kind(&step.action).describe(&cx))
        })
        .collect()
}

impl Cx<'_> {
    pub fn journal(&self) -> Result<&Journal, String> {
        self.journal
            .ok_or_else(|| "internal: a step ran without its journal".to_string())
    }
}

/// The last three lines of a command's stderr, for an error message.
pub fn tail(err: &str) -> String {
    let lines: Vec<&str> = err.trim().lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" / ")
}
