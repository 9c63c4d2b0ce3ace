//! Finding a zone and its authoritative servers. A resolver is used only to
//! learn names and addresses; records and TTLs are then read from each
//! authoritative server directly.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use serde::{Deserialize, Serialize};

use crate::error::{DnsError, Result};
use crate::query;
use crate::record::fqdn;

/// One authoritative server address (a name can have several).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authority {
    pub name: String,
    pub addr: SocketAddr,
}

impl std::fmt::Display for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.name.is_empty() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{} ({})", self.name, self.addr)
        }
    }
}

/// How to find the servers: a resolver to ask for NS (and the port the
/// authoritative servers listen on, 53 outside tests), or a fixed list.
#[derive(Debug, Clone)]
pub enum Servers {
    Resolver { resolver: SocketAddr, ns_port: u16 },
    Fixed(Vec<SocketAddr>),
}

impl Servers {
    /// The system resolver from /etc/resolv.conf, NS queried on port 53.
    pub fn system() -> Result<Self> {
        let text = std::fs::read_to_string("/etc/resolv.conf").map_err(|source| DnsError::Io {
            action: "read",
            path: "/etc/resolv.conf".into(),
            source,
        })?;
        let ip: IpAddr = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .find_map(|v| v.trim().parse().ok())
            .ok_or_else(|| {
                DnsError::Invalid(
                    "no nameserver in /etc/resolv.conf; pass --resolver or --authoritative".into(),
                )
            })?;
        Ok(Servers::Resolver {
            resolver: SocketAddr::new(ip, 53),
            ns_port: 53,
        })
    }

    fn first(&self) -> Result<SocketAddr> {
        match self {
            Servers::Resolver { resolver, .. } => Ok(*resolver),
            Servers::Fixed(v) => v
                .first()
                .copied()
                .ok_or_else(|| DnsError::Invalid("no authoritative server given".into())),
        }
    }
}

/// The zone that contains `domain`: the owner of the SOA in the answer or
/// in the authority section.
pub async fn find_zone(servers: &Servers, domain: &str, timeout: Duration) -> Result<String> {
    let server = servers.first()?;
    let recursive = matches!(servers, Servers::Resolver { .. });
    let mut name = fqdn(domain);
    loop {
        let a = query::query(server, &name, RecordType::SOA, recursive, timeout).await?;
        match a.rcode {
            ResponseCode::NoError | ResponseCode::NXDomain => {}
            other => {
                return Err(DnsError::UnknownZone {
                    domain: fqdn(domain),
                    detail: format!("{server} answered {other:?} for {name} SOA"),
                });
            }
        }
        let soa_owner = a
            .answers
            .iter()
            .chain(a.authorities.iter())
            .find(|r| matches!(r.data, RData::SOA(_)))
            .map(|r| fqdn(&r.name.to_ascii()));
        if let Some(z) = soa_owner {
            return Ok(z);
        }
        // No SOA anywhere: walk one label up (some servers omit it).
        match name.split_once('.') {
            Some((_, rest)) if rest.contains('.') => name = rest.to_string(),
            _ => {
                return Err(DnsError::UnknownZone {
                    domain: fqdn(domain),
                    detail: format!("{server} returned no SOA for it or any parent"),
                });
            }
        }
    }
}

/// The authoritative servers of `zone`.
pub async fn authorities(
    servers: &Servers,
    zone: &str,
    timeout: Duration,
) -> Result<Vec<Authority>> {
    match servers {
        Servers::Fixed(v) => Ok(v
            .iter()
            .map(|a| Authority {
                name: String::new(),
                addr: *a,
            })
            .collect()),
        Servers::Resolver { resolver, ns_port } => {
            let a = query::query(*resolver, zone, RecordType::NS, true, timeout).await?;
            let mut names: Vec<String> = a
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::NS(ns) => Some(fqdn(&ns.0.to_ascii())),
                    _ => None,
                })
                .collect();
            names.sort();
            names.dedup();
            if names.is_empty() {
                return Err(DnsError::UnknownZone {
                    domain: fqdn(zone),
                    detail: format!("{resolver} knows no NS records for it"),
                });
            }
            let mut out = Vec::new();
            for ns in &names {
                for rt in [RecordType::A, RecordType::AAAA] {
                    let a = query::query(*resolver, ns, rt, true, timeout).await?;
                    for r in &a.answers {
                        let ip = match &r.data {
                            RData::A(v4) => IpAddr::V4(v4.0),
                            RData::AAAA(v6) => IpAddr::V6(v6.0),
                            _ => continue,
                        };
                        out.push(Authority {
                            name: ns.clone(),
                            addr: SocketAddr::new(ip, *ns_port),
                        });
                    }
                }
            }
            if out.is_empty() {
                return Err(DnsError::UnknownZone {
                    domain: fqdn(zone),
                    detail: format!(
                        "none of its nameservers ({}) has an address",
                        names.join(", ")
                    ),
                });
            }
            Ok(out)
        }
    }
}
