//! Polling every authoritative server until all of them serve the expected
//! data with the same SOA serial, or naming the ones that lag.

use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::Instrument;

use crate::discover::Authority;
use crate::error::{DnsError, Result};
use crate::query;
use crate::record::Rrset;

#[derive(Debug, Clone, Serialize)]
pub struct ServerState {
    pub server: String,
    pub serial: Option<u32>,
    pub ok: bool,
    /// What this server serves that differs from what is expected.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub elapsed_ms: u128,
    /// Unix time at which every server served the expected data.
    pub done_at: Option<u64>,
    pub servers: Vec<ServerState>,
}

impl VerifyReport {
    pub fn lagging(&self) -> Vec<&ServerState> {
        self.servers.iter().filter(|s| !s.ok).collect()
    }

    pub fn summary(&self) -> String {
        let mut s = String::new();
        for st in &self.servers {
            s.push_str(&format!(
                "  {} serial {}: {}\n",
                st.server,
                st.serial
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "?".into()),
                if st.ok {
                    "OK".to_string()
                } else {
                    format!("LAGGING: {}", st.problems.join("; "))
                }
            ));
        }
        s
    }
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn check_one(
    a: &Authority,
    zone: &str,
    expected: &[Rrset],
    absent: &[(String, String)],
    timeout: Duration,
) -> ServerState {
    let mut problems = Vec::new();
    let serial = match query::soa(a.addr, zone, timeout).await {
        Ok(s) => Some(s.serial),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    if serial.is_some() {
        for want in expected {
            let Ok(rt) = want.record_type() else { continue };
            match query::query(a.addr, &want.name, rt, false, timeout).await {
                Ok(ans) => {
                    let got = ans.rrsets(&want.name, rt);
                    match got.first() {
                        Some(g) if g.values == want.values && g.ttl == want.ttl => {}
                        Some(g) => problems.push(format!("serves {g}, expected {want}")),
                        None => problems
                            .push(format!("does not serve {} {} yet", want.name, want.rtype)),
                    }
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        for (name, rtype) in absent {
            let Ok(rt) = rtype.parse::<hickory_proto::rr::RecordType>() else {
                continue;
            };
            if let Ok(ans) = query::query(a.addr, name, rt, false, timeout).await
                && let Some(g) = ans.rrsets(name, rt).first()
            {
                problems.push(format!("still serves {g}, which should be gone"));
            }
        }
    }
    ServerState {
        server: a.to_string(),
        serial,
        ok: problems.is_empty(),
        problems,
    }
}

/// One round over all servers (no waiting).
pub async fn check(
    servers: &[Authority],
    zone: &str,
    expected: &[Rrset],
    absent: &[(String, String)],
    timeout: Duration,
) -> VerifyReport {
    let start = Instant::now();
    let mut states = Vec::new();
    for a in servers {
        states.push(check_one(a, zone, expected, absent, timeout).await);
    }
    // The data may match while a server still has an older serial with
    // other differences: require one serial everywhere.
    let max = states.iter().filter_map(|s| s.serial).max();
    for s in &mut states {
        if let (Some(m), Some(mine)) = (max, s.serial)
            && mine != m
        {
            s.ok = false;
            s.problems.push(format!("serial {mine} behind {m}"));
        }
    }
    let ok = states.iter().all(|s| s.ok);
    VerifyReport {
        ok,
        elapsed_ms: start.elapsed().as_millis(),
        done_at: ok.then(now_unix),
        servers: states,
    }
}

/// Polls until every server serves `expected` (and none serves `absent`)
/// with the same serial, or `deadline` passes.
pub async fn wait(
    servers: &[Authority],
    zone: &str,
    expected: &[Rrset],
    absent: &[(String, String)],
    deadline: Duration,
    query_timeout: Duration,
) -> Result<VerifyReport> {
    let start = Instant::now();
    let span = tracing::info_span!("dns.verify", zone, servers = servers.len());
    async move {
        loop {
            let mut report = check(servers, zone, expected, absent, query_timeout).await;
            report.elapsed_ms = start.elapsed().as_millis();
            if report.ok {
                return Ok(report);
            }
            if start.elapsed() >= deadline {
                let names: Vec<String> = report
                    .lagging()
                    .iter()
                    .map(|s| format!("{} ({})", s.server, s.problems.join("; ")))
                    .collect();
                return Err(DnsError::Verify(format!(
                    "after {}s these authoritative servers still do not serve the change: {}",
                    deadline.as_secs(),
                    names.join(" | ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    .instrument(span)
    .await
}
