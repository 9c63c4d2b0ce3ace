//! migrate-dns: DNS for migrations.
//!
//! Read a zone's records and TTLs from every authoritative server directly,
//! plan the lowering (provider minimums, earliest safe cutover, negative
//! caching), apply changes through one provider trait (RFC 2136 + TSIG,
//! PowerDNS API, Gandi LiveDNS, deSEC, manual), verify that every
//! authoritative server serves them, restore the TTLs from the stored plan,
//! and check a domain's mail records.
//!
//! [`steps::Dns`] is the API the `migrate` CLI and the `migrate app` plan use.

pub mod change;
pub mod discover;
pub mod error;
pub mod mail;
pub mod plan;
pub mod provider;
pub mod query;
pub mod record;
pub mod secret;
pub mod steps;
pub mod verify;

pub use change::{Change, ChangeSet};
pub use discover::{Authority, Servers};
pub use error::{DnsError, ErrorKind, Result};
pub use plan::{Plan, Source};
pub use provider::{Provider, ProviderConfig};
pub use record::Rrset;
pub use secret::{Secret, TsigKey};
pub use steps::{Dns, Outcome, PlanRequest, Step};
