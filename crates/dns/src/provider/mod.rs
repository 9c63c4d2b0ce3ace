//! Providers: where changes are written. One small trait (minimum TTL,
//! list the zone, apply a change set atomically where the API allows),
//! the same shape dnscontrol, octoDNS and lego converge on.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::change::ChangeSet;
use crate::error::{DnsError, Result};
use crate::record::Rrset;
use crate::secret::{Secret, TsigKey};

pub mod desec;
pub mod gandi;
mod http;
pub mod manual;
pub mod pdns;
pub mod rfc2136;

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait Provider: Send + Sync {
    /// Short name ("rfc2136", "gandi", ...).
    fn name(&self) -> &'static str;
    /// The lowest TTL the provider accepts for this zone.
    fn min_ttl<'a>(&'a self, zone: &'a str) -> BoxFut<'a, Result<u32>>;
    /// Every RRset of the zone, if the provider can list it (None if not).
    fn list<'a>(&'a self, zone: &'a str) -> BoxFut<'a, Result<Option<Vec<Rrset>>>>;
    /// Apply all changes; on error nothing must have changed where the
    /// provider offers atomicity (RFC 2136, PowerDNS, deSEC bulk) and the
    /// error must say what was applied where it does not.
    fn apply<'a>(&'a self, set: &'a ChangeSet) -> BoxFut<'a, Result<()>>;
    /// A person applies the change (instructions are printed instead).
    fn is_manual(&self) -> bool {
        false
    }
}

/// What identifies a provider, without its secret: stored in the plan so
/// later commands (days later, another shell) reach the same place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ProviderConfig {
    Rfc2136 {
        /// Where UPDATEs go (the primary).
        server: SocketAddr,
    },
    Powerdns {
        api_url: String,
        server_id: String,
    },
    Gandi {
        api_url: String,
        /// Overrides Gandi's documented 300 s minimum (tests, or a changed policy).
        min_ttl: Option<u32>,
    },
    Desec {
        api_url: String,
    },
    Manual,
}

impl ProviderConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderConfig::Rfc2136 { .. } => "rfc2136",
            ProviderConfig::Powerdns { .. } => "powerdns",
            ProviderConfig::Gandi { .. } => "gandi",
            ProviderConfig::Desec { .. } => "desec",
            ProviderConfig::Manual => "manual",
        }
    }

    /// The environment variable a secret is read from when no file is given.
    pub fn secret_env(&self) -> Option<&'static str> {
        match self {
            ProviderConfig::Rfc2136 { .. } => Some("MIGRATE_TSIG_KEY"),
            ProviderConfig::Powerdns { .. } => Some("MIGRATE_PDNS_API_KEY"),
            ProviderConfig::Gandi { .. } => Some("MIGRATE_GANDI_TOKEN"),
            ProviderConfig::Desec { .. } => Some("MIGRATE_DESEC_TOKEN"),
            ProviderConfig::Manual => None,
        }
    }

    /// Builds the provider. `secret` is the TSIG key text or API token.
    pub fn build(&self, secret: Option<Secret>, timeout: Duration) -> Result<Box<dyn Provider>> {
        let need = |s: Option<Secret>| {
            s.map(|s| s.first_line()).ok_or_else(|| {
                DnsError::Invalid(format!(
                    "the {} provider needs a secret: put it in a file and pass --secret-file FILE, or set {}",
                    self.kind(),
                    self.secret_env().unwrap_or("-")
                ))
            })
        };
        Ok(match self {
            ProviderConfig::Rfc2136 { server } => {
                let key = match secret {
                    Some(s) => Some(TsigKey::parse(s.expose())?),
                    None => None,
                };
                Box::new(rfc2136::Rfc2136::new(*server, key, timeout))
            }
            ProviderConfig::Powerdns { api_url, server_id } => Box::new(pdns::PowerDns::new(
                api_url,
                server_id,
                need(secret)?,
                timeout,
            )),
            ProviderConfig::Gandi { api_url, min_ttl } => {
                Box::new(gandi::Gandi::new(api_url, need(secret)?, *min_ttl, timeout))
            }
            ProviderConfig::Desec { api_url } => {
                Box::new(desec::Desec::new(api_url, need(secret)?, timeout))
            }
            ProviderConfig::Manual => Box::new(manual::Manual),
        })
    }
}
