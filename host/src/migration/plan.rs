//! The plan: ordered steps, each with a phase, a place and a sentence; the
//! facts it was built from; the checks of the test plan; the follow-ups.
//! Stored as JSON next to the journal so a rerun resumes the same steps.

use serde::{Deserialize, Serialize};

use super::definition::Migration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Check,
    Prepare,
    Sync,
    Cutover,
    Finish,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Check => "check",
            Phase::Prepare => "prepare",
            Phase::Sync => "sync",
            Phase::Cutover => "cutover",
            Phase::Finish => "finish",
        }
    }
    pub fn from_plugin(p: crate::plugin::Phase) -> Phase {
        use crate::plugin::Phase as P;
        match p {
            P::Check => Phase::Check,
            P::Prepare => Phase::Prepare,
            P::Sync => Phase::Sync,
            P::Cutover => Phase::Cutover,
            P::Finish => Phase::Finish,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    ReadOnly,
    Reversible,
    Destructive,
}

impl Risk {
    pub fn from_plugin(r: crate::plugin::Risk) -> Risk {
        use crate::plugin::Risk as R;
        match r {
            R::ReadOnly => Risk::ReadOnly,
            R::Reversible => Risk::Reversible,
            R::Destructive => Risk::Destructive,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Where {
    Source,
    Destination,
    Both,
    Operator,
}

impl Where {
    pub fn name(self) -> &'static str {
        match self {
            Where::Source => "source",
            Where::Destination => "destination",
            Where::Both => "both",
            Where::Operator => "operator",
        }
    }
    pub fn from_side(s: crate::plugin::Side) -> Where {
        match s {
            crate::plugin::Side::Source => Where::Source,
            crate::plugin::Side::Destination => Where::Destination,
        }
    }
}

/// A command of the plugin's, kept as data (env values may be `secret:`
/// references, never resolved values).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cmd {
    pub service: Option<String>,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub user: Option<String>,
    pub workdir: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// Tools and reachability, again at run time.
    Preflight,
    /// The destination must not hold the app already (unless --force).
    DestinationFree,
    /// Source: tar of the root and database dumps, with checksums.
    Backup,
    /// The test plan on the source, kept as the baseline.
    Baseline,
    /// The app's root tree, server to server.
    Copy {
        final_pass: bool,
        /// A live pass that also does what the final pass will do in the
        /// window (hash what it sent on both servers), so its time is the
        /// final pass's forecast.
        #[serde(default)]
        rehearse: bool,
    },
    /// After the window: both trees compared whole, what the destination
    /// changed since the copy left out.
    VerifyCopy,
    StopApp,
    StartApp,
    /// Dump on the source piped into the destination's database.
    Database {
        engine: String,
        source_name: String,
        destination_name: String,
        owner: Option<String>,
        /// The recipe service running the database (its container in a
        /// compose layout).
        #[serde(default)]
        service: Option<String>,
        /// A rehearsal before the window: the same dump and load into a
        /// scratch database (`destination_name`) on the destination, timed
        /// for the downtime prediction, then dropped.
        #[serde(default)]
        rehearsal: bool,
    },
    /// A compose volume on the destination, made before the copy fills it.
    CreateVolume {
        compose_dir: String,
        project: String,
        volume: String,
        /// A swarm stack's volume (else a compose project's).
        #[serde(default)]
        stack: bool,
    },
    /// The source stack's swarm secrets created in the destination swarm
    /// under the same names (values read inside the source's containers).
    StackSecrets {
        from: String,
        to: String,
    },
    /// One media object in the bucket, asked for from the destination
    /// (media kept in object storage stay there).
    ObjectStorage {
        place: String,
        url: String,
    },
    /// Redis carried with its queued jobs: saved, stopped on both sides,
    /// its files copied, started on the destination and compared.
    Redis {
        /// The recipe's Redis database (its number).
        name: String,
    },
    /// The served directories' files the web server's user cannot read:
    /// named, and fixed only when the migration says so.
    Permissions {
        dirs: Vec<String>,
        fix: bool,
    },
    /// The destination's deploy command.
    Deploy,
    /// The destination's stop command (its app services, not its database).
    StopDestination,
    Exec(Cmd),
    Carry {
        file: String,
        key: String,
        reason: String,
        secret: bool,
    },
    Http {
        path: String,
        expect_status: u16,
        body_contains: Option<String>,
        json_field: Option<(String, String)>,
        headers: Vec<(String, String)>,
    },
    Tcp {
        port: u16,
        banner_prefix: Option<String>,
    },
    Manual {
        text: String,
    },
    /// Files living around the app (systemd units, …) carried to the same
    /// paths on the destination, then switched on there.
    Around {
        what: String,
        paths: Vec<String>,
        enable: Option<String>,
    },
    /// Switched off on the source for the window (`script`); `undo` is what
    /// an abort runs to switch it back on.
    Toggle {
        what: String,
        script: String,
        undo: String,
    },
    /// A user's crontab lines naming the app (`needle`), added to the
    /// same user's crontab on the destination.
    Crontab {
        user: String,
        needle: String,
    },
    /// The test plan against the destination through the production
    /// hostname, diffed with the baseline.
    TestPlan,
    /// Read the zone and lower the TTLs (migrate-dns).
    DnsLower,
    /// Point the names at the destination once the old TTL has expired.
    DnsCutover,
    /// Put the original TTLs back.
    DnsRestore,
    /// A step of a Discourse launcher move (launcher.rs, steps/discourse.rs).
    Discourse(super::launcher::Op),
    /// Mailu: stop the source's smtp first, its queue flushed and counted.
    MailuStopSmtp,
    /// Mailu: IMAP login, SMTP RCPT and DKIM keys checked on the destination.
    MailuCheck,
    /// Mailu: MX, SPF, DKIM, DMARC and the mail host on every authoritative server.
    MailuDns {
        after: bool,
    },
    /// Mailu: the old server relays to the new one while it is the fallback MX.
    MailuRelay,
    /// Mailu: when the old server may be switched off.
    MailuSwitchOff,
    /// Mailu: messages and bytes per mailbox on both servers, equal.
    MailuMailboxes,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanStep {
    /// Stable within the plan; the journal keys resume on it.
    pub id: String,
    pub phase: Phase,
    pub on: Where,
    pub title: String,
    pub risk: Risk,
    /// `migrate`, `plugin NAME` or `upgrade A -> B`.
    pub origin: String,
    pub action: Action,
}

/// A check of the test plan (recipe checks and plugin smoke checks).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckSpec {
    pub id: String,
    pub title: String,
    pub origin: String,
    pub kind: CheckKind,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CheckKind {
    Http {
        path: String,
        status: u16,
        contains: Option<String>,
        json: Option<(String, String)>,
        headers: Vec<(String, String)>,
    },
    Tcp {
        port: u16,
        banner: Option<String>,
    },
    Command(Cmd),
    /// A number taken from the app; must be equal before and after.
    Count(Cmd),
    /// A record the migration's authoritative servers must all answer, and
    /// agree on (the same for both sides: DNS is not per server).
    Dns {
        name: String,
        rtype: String,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Facts {
    pub detected_version: Option<String>,
    pub detected_display: Option<String>,
    /// Which probe found it, with its raw value.
    pub detected_by: Option<String>,
    pub target_version: Option<String>,
    pub hops: Vec<String>,
    pub source_bytes: u64,
    pub source_files: u64,
    pub database_bytes: u64,
    pub destination_free_bytes: u64,
    /// The records DNS steps will lower and move, with their TTLs.
    #[serde(default)]
    pub dns: Vec<String>,
    /// The source's Redis as the plan found it (keys, Sidekiq's queues).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<super::steps::redis_state::RedisState>,
    /// Media kept in object storage: where, the object the destination
    /// asks for, and what the copy leaves out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_storage: Option<super::steps::object_storage::ObjectStorage>,
    /// The plugin the plan was made with.
    #[serde(default)]
    pub plugin: Option<PluginUsed>,
}

/// Which plugin answered: a user plugin's file and sha256 say which code
/// the operator trusted with the plan.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PluginUsed {
    pub id: String,
    /// `built-in`, or the file's path.
    pub origin: String,
    /// A user plugin's sha256 (None for a built-in).
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub id: String,
    pub migration: Migration,
    pub app_name: String,
    pub facts: Facts,
    pub steps: Vec<PlanStep>,
    /// Plugin steps left out by the migration file's `skip_steps`.
    pub skipped: Vec<(String, String)>,
    /// Upgrade notes, caveats and preconditions, said plainly.
    pub notes: Vec<String>,
    pub checks: Vec<CheckSpec>,
    pub follow_ups: Vec<String>,
}

impl Plan {
    pub fn step(&self, id: &str) -> Option<&PlanStep> {
        self.steps.iter().find(|s| s.id == id)
    }
    /// The databases the plan moves, as recipe entries named as on `side`.
    pub fn databases(&self, side: crate::plugin::Side) -> Vec<crate::recipe::Database> {
        use crate::recipe::{Database, Engine};
        self.steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Database {
                    engine,
                    source_name,
                    destination_name,
                    service,
                    rehearsal: false,
                    ..
                } => Some(Database {
                    engine: if engine == "postgresql" {
                        Engine::Postgresql
                    } else {
                        Engine::Mariadb
                    },
                    name: if side == crate::plugin::Side::Source {
                        source_name.clone()
                    } else {
                        destination_name.clone()
                    },
                    service: service.clone(),
                    user: None,
                }),
                _ => None,
            })
            .collect()
    }

    /// The first cutover step: from here the source is stopped.
    pub fn downtime_starts(&self) -> Option<&PlanStep> {
        self.steps.iter().find(|s| s.phase == Phase::Cutover)
    }
}

pub use migrate_units::human_bytes;
