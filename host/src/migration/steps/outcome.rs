//! What a finished step leaves in the journal, typed per step kind. The
//! journal stores each as a JSON object under `data`; readers (the
//! downtime prediction, the report, the destination's test plan) read them
//! back through [`Journal::outcome`](super::super::journal::Journal::outcome)
//! into the same types, never by looking up keys by hand.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::checks::CheckResult;

/// A finished step: the line the operator reads and the typed record.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub detail: String,
    pub data: Value,
}

impl Outcome {
    pub fn new(detail: impl Into<String>, data: &impl Serialize) -> Outcome {
        Outcome {
            detail: detail.into(),
            data: serde_json::to_value(data).unwrap_or(Value::Null),
        }
    }
    pub fn plain(detail: impl Into<String>) -> Outcome {
        Outcome::new(detail, &Nothing {})
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Nothing {}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Backup {
    pub dir: String,
    pub sha256sums: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Checks {
    pub results: Vec<CheckResult>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Copied {
    pub files_sent: u64,
    pub bytes_sent: u64,
    pub copy_seconds: f64,
    /// Of `copy_seconds`, listing and comparing the trees.
    #[serde(default)]
    pub listing_seconds: f64,
    /// Entries compared after the final pass (for a final pass: the
    /// files it sent).
    pub verified: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Verified {
    /// Entries compared, and of those the files compared by content.
    pub entries: u64,
    pub hashed: u64,
    /// Left out: changed on the destination since the copy, or new there.
    pub changed_since: u64,
    pub new_since: u64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Database {
    pub dump_bytes: u64,
    pub dump_seconds: f64,
    /// The whole step: the looks, the roles, the pipe and the counts.
    #[serde(default)]
    pub step_seconds: f64,
    pub tables: usize,
    pub rows: u64,
    pub route: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MovedAside {
    pub moved_aside: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Volume {
    pub volume: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Secrets {
    pub created: Vec<String>,
    pub present: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Carried {
    pub carried: bool,
    /// The value, unless it is a secret.
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manual {
    /// A person said it is done (else it was only shown, unattended).
    pub confirmed: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DnsLowered {
    pub ttls: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DnsCutover {
    pub changes: Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DnsRestored {
    pub restored: Vec<String>,
}

/// Redis carried: the source's reading after the save, the destination's
/// after the start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Redis {
    pub before: super::redis_state::RedisState,
    pub after: super::redis_state::RedisState,
    /// The source had already been saved and staged by an earlier run.
    pub resumed: bool,
}

/// The served files the web server could not read, as found on the
/// destination, and whether they were fixed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Permissions {
    pub count: u64,
    /// The first of them: `TYPE MODE OWNER PATH`.
    pub shown: Vec<String>,
    pub fixed: bool,
}
