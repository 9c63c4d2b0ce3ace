//! Questions asked straight to one server (never through a cache), and
//! signed UPDATE/AXFR exchanges. Every remote action gets a tracing span.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::{DnsMultiplexer, FirstAnswer};
use hickory_net::{DnsError as HDnsError, DnsHandle, NetError};
use hickory_proto::op::{DnsRequest, DnsRequestOptions, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tracing::{Instrument, debug, info_span};

use crate::error::{DnsError, Result};
use crate::record::{self, Rrset};
use crate::secret::TsigKey;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
}

impl Answer {
    /// RRsets of `rtype` owned by exactly `name` (not the CNAME chain).
    pub fn rrsets(&self, name: &str, rtype: RecordType) -> Vec<Rrset> {
        let name = record::fqdn(name);
        let recs: Vec<Record> = self
            .answers
            .iter()
            .filter(|r| r.record_type() == rtype && record::fqdn(&r.name.to_ascii()) == name)
            .cloned()
            .collect();
        Rrset::from_records(&recs)
    }
}

/// SOA fields that matter for timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SoaInfo {
    pub serial: u32,
    pub minimum: u32,
    pub ttl: u32,
}

impl SoaInfo {
    /// RFC 2308 §5: negative answers are cached for min(SOA MINIMUM, SOA TTL).
    pub fn negative_cache_ttl(&self) -> u32 {
        self.minimum.min(self.ttl)
    }
}

fn udp_client(server: SocketAddr, timeout: Duration) -> Client<TokioRuntimeProvider> {
    let stream = UdpClientStream::builder(server, TokioRuntimeProvider::new())
        .with_timeout(Some(timeout))
        .build();
    let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
    tokio::spawn(bg);
    client
}

async fn tcp_client(
    server: SocketAddr,
    timeout: Duration,
    key: Option<&TsigKey>,
) -> Result<Client<TokioRuntimeProvider>> {
    let (fut, handle) =
        TcpClientStream::new(server, None, Some(timeout), TokioRuntimeProvider::new());
    let stream = fut
        .await
        .map_err(|e| net_error(server, timeout, "TCP connect", e))?;
    let mut mux = DnsMultiplexer::new(stream, handle).with_timeout(timeout);
    if let Some(k) = key {
        mux = mux.with_signer(k.signer()?);
    }
    let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(mux);
    tokio::spawn(bg);
    Ok(client)
}

/// Ask `server` directly. `recursive` sets RD (only for the resolver used
/// to find the NS set); answers from authoritative servers keep their full TTL.
pub async fn query(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    recursive: bool,
    timeout: Duration,
) -> Result<Answer> {
    let qname = record::parse_name(name)?;
    let span = info_span!("dns.query", %server, name = %qname, %rtype);
    async move {
        let client = udp_client(server, timeout);
        let mut options = DnsRequestOptions::default();
        options.recursion_desired = recursive;
        options.use_edns = true;
        let q = Query::query(qname.clone(), rtype);
        let resp = client.lookup(q.clone(), options).first_answer().await;
        let msg = match resp {
            Ok(r) if r.metadata.truncation => {
                // Large RRsets (DKIM keys, many TXT) do not fit a UDP answer.
                let tcp = tcp_client(server, timeout, None).await?;
                let r = tcp
                    .lookup(q, options)
                    .first_answer()
                    .await
                    .map_err(|e| net_error(server, timeout, "TCP query", e));
                match r {
                    Ok(r) => r.into_message(),
                    Err(e) => return rcode_answer(e),
                }
            }
            Ok(r) => r.into_message(),
            Err(e) => return rcode_answer(net_error(server, timeout, &format!("{qname} {rtype}"), e)),
        };
        debug!(rcode = ?msg.metadata.response_code, aa = msg.metadata.authoritative, n = msg.answers.len(), "answer");
        Ok(Answer {
            rcode: msg.metadata.response_code,
            authoritative: msg.metadata.authoritative,
            answers: msg.answers,
            authorities: msg.authorities,
        })
    }
    .instrument(span)
    .await
}

/// hickory turns some response codes into errors; the callers want them
/// as answers so they can explain (REFUSED = not our zone, etc.).
fn rcode_answer(e: DnsError) -> Result<Answer> {
    if let DnsError::Query { message, .. } = &e
        && let Some(code) = message.strip_prefix("rcode:")
    {
        let rcode = match code {
            "NoError" => ResponseCode::NoError,
            "NXDomain" => ResponseCode::NXDomain,
            "Refused" => ResponseCode::Refused,
            "NotAuth" => ResponseCode::NotAuth,
            "ServFail" => ResponseCode::ServFail,
            _ => return Err(e),
        };
        return Ok(Answer {
            rcode,
            authoritative: false,
            answers: vec![],
            authorities: vec![],
        });
    }
    Err(e)
}

/// The zone's SOA as `server` serves it.
pub async fn soa(server: SocketAddr, zone: &str, timeout: Duration) -> Result<SoaInfo> {
    let a = query(server, zone, RecordType::SOA, false, timeout).await?;
    let zone_fqdn = record::fqdn(zone);
    a.answers
        .iter()
        .find_map(|r| match &r.data {
            RData::SOA(s) if record::fqdn(&r.name.to_ascii()) == zone_fqdn => Some(SoaInfo {
                serial: s.serial,
                minimum: s.minimum,
                ttl: r.ttl,
            }),
            _ => None,
        })
        .ok_or_else(|| DnsError::Query {
            server,
            message: format!(
                "no SOA for {zone_fqdn} (answer {:?}, authoritative={}): this server is not authoritative for the zone",
                a.rcode, a.authoritative
            ),
        })
}

/// Sends one UPDATE message (signed when a key is given) over TCP and
/// checks the answer. TSIG failures are translated: hickory reports the
/// server's empty-MAC BADSIG/BADKEY reply as a "truncated HMACs" protocol
/// error (hickory-dns issue #1981).
pub async fn send_update(
    server: SocketAddr,
    key: Option<&TsigKey>,
    msg: Message,
    timeout: Duration,
) -> Result<()> {
    let span = info_span!("dns.update", %server, key = key.map(|k| k.name.as_str()).unwrap_or("-"));
    async move {
        let client = tcp_client(server, timeout, key).await?;
        let resp = client.send(DnsRequest::from(msg)).first_answer().await;
        match resp {
            Ok(r) => check_update_rcode(server, r.metadata.response_code),
            Err(e) => Err(update_error(
                server,
                timeout,
                net_error(server, timeout, "UPDATE", e),
            )),
        }
    }
    .instrument(span)
    .await
}

fn check_update_rcode(server: SocketAddr, rcode: ResponseCode) -> Result<()> {
    let hint = match rcode {
        ResponseCode::NoError => return Ok(()),
        ResponseCode::NotAuth => {
            return Err(DnsError::TsigRejected {
                server,
                detail: "NOTAUTH: the server does not accept this key (or an unsigned update) for the zone".into(),
            });
        }
        ResponseCode::Refused => {
            "the server does not allow updates for this zone from this key/address (check its ACL)"
        }
        ResponseCode::NXRRSet
        | ResponseCode::YXRRSet
        | ResponseCode::NXDomain
        | ResponseCode::YXDomain => {
            "the zone changed since it was read (a prerequisite did not hold); run the command again to re-read it"
        }
        ResponseCode::NotZone => "a record is outside the zone",
        ResponseCode::ServFail => "the server failed to apply it (see its log)",
        _ => "unexpected answer",
    };
    Err(DnsError::UpdateRefused {
        server,
        rcode: format!("{rcode:?}"),
        hint: hint.into(),
    })
}

fn update_error(server: SocketAddr, timeout: Duration, e: DnsError) -> DnsError {
    match e {
        DnsError::Query { message, .. }
            if message.contains("truncated HMAC")
                || message.contains("TSIG")
                || message.contains("BADSIG")
                || message.contains("BADKEY")
                || message.contains("BADTIME") =>
        {
            DnsError::TsigRejected {
                server,
                detail: "the server answered with a TSIG error".into(),
            }
        }
        DnsError::Query { message, .. } if message.starts_with("rcode:") => {
            let code = message.trim_start_matches("rcode:");
            let rcode = match code {
                "NotAuth" => ResponseCode::NotAuth,
                "Refused" => ResponseCode::Refused,
                "NXRRSet" => ResponseCode::NXRRSet,
                "YXRRSet" => ResponseCode::YXRRSet,
                "NXDomain" => ResponseCode::NXDomain,
                "YXDomain" => ResponseCode::YXDomain,
                "NotZone" => ResponseCode::NotZone,
                _ => ResponseCode::ServFail,
            };
            check_update_rcode(server, rcode)
                .err()
                .unwrap_or(DnsError::Query { server, message })
        }
        other => {
            let _ = timeout;
            other
        }
    }
}

/// Every RRset of the zone by AXFR (signed when a key is given). Used to
/// size the zone for the safety limit.
pub async fn axfr(
    server: SocketAddr,
    zone: &str,
    key: Option<&TsigKey>,
    timeout: Duration,
) -> Result<Vec<Rrset>> {
    let origin: Name = record::parse_name(zone)?;
    let span = info_span!("dns.axfr", %server, zone = %origin);
    async move {
        let mut client = tcp_client(server, timeout, key).await?;
        let mut stream = client.zone_transfer(origin, None);
        let mut records = Vec::new();
        while let Some(part) = stream.next().await {
            let part = part.map_err(|e| {
                update_error(server, timeout, net_error(server, timeout, "AXFR", e))
            })?;
            if part.metadata.response_code != ResponseCode::NoError {
                return Err(DnsError::Query {
                    server,
                    message: format!("AXFR refused with {:?}", part.metadata.response_code),
                });
            }
            records.extend(part.answers.iter().cloned());
        }
        let mut sets = Vec::new();
        for r in &records {
            if r.record_type() == RecordType::SOA && !sets.is_empty() {
                continue;
            }
            sets.extend(Rrset::from_records(std::slice::from_ref(r)));
        }
        // from_records on single records yields one set each; merge them.
        let mut merged: Vec<Rrset> = Vec::new();
        for s in sets {
            match merged.iter_mut().find(|m| m.same_key(&s)) {
                Some(m) => {
                    for v in s.values {
                        if !m.values.contains(&v) {
                            m.values.push(v);
                        }
                    }
                }
                None => merged.push(s),
            }
        }
        Ok(merged)
    }
    .instrument(span)
    .await
}

/// Maps hickory's network errors onto ours, keeping the server address.
fn net_error(server: SocketAddr, timeout: Duration, what: &str, e: NetError) -> DnsError {
    match e {
        NetError::Timeout => DnsError::Unreachable {
            server,
            secs: timeout.as_secs().max(1),
            what: what.to_string(),
        },
        NetError::Io(ref io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::NetworkUnreachable
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::AddrNotAvailable
            ) =>
        {
            DnsError::Unreachable {
                server,
                secs: timeout.as_secs().max(1),
                what: format!("{what}: {io}"),
            }
        }
        NetError::Dns(HDnsError::ResponseCode(code)) => DnsError::Query {
            server,
            message: format!("rcode:{code:?}"),
        },
        NetError::Dns(HDnsError::NoRecordsFound(nr)) => DnsError::Query {
            server,
            message: format!("rcode:{:?}", nr.response_code),
        },
        other => DnsError::Query {
            server,
            message: format!("{what}: {other}"),
        },
    }
}
