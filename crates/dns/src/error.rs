//! One error type for the crate. Every variant names the problem and, where
//! there is one, what the operator can do about it: these strings reach the
//! terminal unchanged.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error(
        "{server} did not answer within {secs}s ({what}); check the address/port and that the server runs"
    )]
    Unreachable {
        server: SocketAddr,
        secs: u64,
        what: String,
    },
    #[error("{server}: {message}")]
    Query { server: SocketAddr, message: String },
    #[error(
        "no zone found for {domain}: {detail}. Check the spelling, or name the zone with --zone and the servers with --authoritative"
    )]
    UnknownZone { domain: String, detail: String },
    #[error(
        "TSIG key rejected by {server} ({detail}): the key name, secret or algorithm does not match the server's, or the clocks differ by more than 5 minutes. Nothing was changed"
    )]
    TsigRejected { server: SocketAddr, detail: String },
    #[error("{server} refused the update with {rcode}: {hint}. Nothing was changed")]
    UpdateRefused {
        server: SocketAddr,
        rcode: String,
        hint: String,
    },
    #[error(
        "bad TSIG key ({0}); expected one line `hmac-sha256:KEYNAME:BASE64SECRET` or a BIND/Knot key file"
    )]
    BadKey(String),
    #[error(
        "{name} is a CNAME to {target}, but an address record (A/AAAA) was expected there: cut over {target} instead, or remove the CNAME first"
    )]
    CnameWhereAddressExpected { name: String, target: String },
    #[error(
        "{provider} refuses TTL {requested}s: its minimum for this zone is {minimum}s. {consequence}"
    )]
    BelowMinimumTtl {
        provider: String,
        requested: u32,
        minimum: u32,
        consequence: String,
    },
    #[error(
        "safety limit: this change touches {touched} of the zone's {total} RRsets ({pct:.0}% > {limit_pct:.0}%). Check the diff above; pass --force if it is really meant"
    )]
    SafetyLimit {
        touched: usize,
        total: usize,
        pct: f64,
        limit_pct: f64,
    },
    #[error("{provider} API: {message}")]
    Api { provider: String, message: String },
    #[error("refused: {0}")]
    Refused(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error(
        "no stored DNS plan for {domain} (looked in {path}); run `migrate dns plan --domain {domain}` first"
    )]
    NoPlan { domain: String, path: PathBuf },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("verification failed: {0}")]
    Verify(String),
}

impl DnsError {
    /// The exit-code class the CLI maps this error to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DnsError::Unreachable { .. } | DnsError::TsigRejected { .. } => ErrorKind::Unreachable,
            DnsError::UnknownZone { .. }
            | DnsError::BadKey(_)
            | DnsError::Invalid(_)
            | DnsError::NoPlan { .. }
            | DnsError::CnameWhereAddressExpected { .. } => ErrorKind::BadInput,
            DnsError::BelowMinimumTtl { .. }
            | DnsError::SafetyLimit { .. }
            | DnsError::Refused(_)
            | DnsError::UpdateRefused { .. } => ErrorKind::Refused,
            DnsError::Verify(_) => ErrorKind::VerifyFailed,
            DnsError::Query { .. } | DnsError::Api { .. } | DnsError::Io { .. } => {
                ErrorKind::Failure
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Failure,
    BadInput,
    Refused,
    Unreachable,
    VerifyFailed,
}

pub type Result<T> = std::result::Result<T, DnsError>;
