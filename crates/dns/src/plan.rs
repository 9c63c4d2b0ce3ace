//! The DNS part of a migration plan: what was observed, what will be
//! lowered, when cutover is safe, and what to restore. Stored as JSON in
//! the data directory so `restore` works days later from another shell.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::discover::Authority;
use crate::error::{DnsError, Result};
use crate::provider::ProviderConfig;
use crate::query::SoaInfo;
use crate::record::{Rrset, fqdn};

pub const PLAN_VERSION: u32 = 1;
pub const DEFAULT_LOWERED_TTL: u32 = 300;

/// Where current records are read from: the authoritative servers (the
/// default), or the provider's API when its servers cannot be queried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Dns,
    Provider,
}

/// TTLs one server served when the plan was made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observation {
    pub server: String,
    pub serial: Option<u32>,
    pub rrsets: Vec<Rrset>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    pub domain: String,
    pub zone: String,
    /// Every name whose records are read and lowered (domain first).
    pub names: Vec<String>,
    /// The new server's addresses.
    pub to: Vec<IpAddr>,
    pub provider: ProviderConfig,
    pub source: Source,
    pub authorities: Vec<Authority>,
    pub soa: Option<SoaInfo>,
    /// min(SOA MINIMUM, SOA TTL) (RFC 2308): how long a resolver caches
    /// "no such name", e.g. for a test name asked before the wildcard existed.
    pub negative_cache_ttl: Option<u32>,
    pub observed: Vec<Observation>,
    /// The RRsets as they were before migrate changed anything: the TTLs
    /// `restore` puts back.
    pub original: Vec<Rrset>,
    pub provider_min_ttl: u32,
    pub lowered_ttl: u32,
    /// The longest TTL a resolver may still hold from before the lowering.
    pub max_old_ttl: u32,
    pub created_at: u64,
    /// When every authoritative server served the lowered TTLs.
    pub lowered_at: Option<u64>,
    /// lowered_at + max_old_ttl.
    pub earliest_cutover: Option<u64>,
    /// Wildcard RRsets migrate added (removed again by restore).
    pub wildcard: Vec<Rrset>,
    pub wildcard_usable_at: Option<u64>,
    pub cutover_at: Option<u64>,
    pub restored_at: Option<u64>,
    pub notes: Vec<String>,
}

impl Plan {
    pub fn v4(&self) -> Vec<String> {
        self.to
            .iter()
            .filter(|a| a.is_ipv4())
            .map(ToString::to_string)
            .collect()
    }
    pub fn v6(&self) -> Vec<String> {
        self.to
            .iter()
            .filter(|a| a.is_ipv6())
            .map(ToString::to_string)
            .collect()
    }
    pub fn wildcard_name(&self) -> String {
        format!("*.{}", fqdn(&self.domain))
    }

    /// What the operator reads.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "DNS plan for {} (zone {}, provider {})\n",
            self.domain,
            self.zone,
            self.provider.kind()
        ));
        if !self.to.is_empty() {
            s.push_str(&format!(
                "  new address(es): {}\n",
                self.to
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        s.push_str("  authoritative servers:\n");
        for o in &self.observed {
            s.push_str(&format!(
                "    {} serial {}\n",
                o.server,
                o.serial
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "?".into())
            ));
        }
        s.push_str("  current records (TTL = the largest any server serves):\n");
        for r in &self.original {
            s.push_str(&format!("    {r}\n"));
        }
        s.push_str(&format!(
            "  lowered TTL: {}s (provider minimum {}s)\n",
            self.lowered_ttl, self.provider_min_ttl
        ));
        match self.earliest_cutover {
            Some(t) => s.push_str(&format!(
                "  TTLs lowered at {}; earliest safe cutover: {} (lowering + old TTL {}s)\n",
                fmt_time(self.lowered_at.unwrap_or(0)),
                fmt_time(t),
                self.max_old_ttl
            )),
            None => s.push_str(&format!(
                "  earliest safe cutover: {}s after every server serves the lowered TTLs (old TTL {}s); if lowered now: {}\n",
                self.max_old_ttl,
                self.max_old_ttl,
                fmt_time(crate::verify::now_unix() + u64::from(self.max_old_ttl))
            )),
        }
        if let Some(n) = self.negative_cache_ttl {
            s.push_str(&format!(
                "  negative-cache time for new names (wildcard {}): {}s (min of SOA MINIMUM and SOA TTL)\n",
                self.wildcard_name(),
                n
            ));
        }
        if let Some(t) = self.wildcard_usable_at {
            s.push_str(&format!(
                "  wildcard test names usable from: {}\n",
                fmt_time(t)
            ));
        }
        if let Some(t) = self.cutover_at {
            s.push_str(&format!("  cut over at: {}\n", fmt_time(t)));
        }
        s.push_str("  TTLs to restore afterwards:\n");
        for r in &self.original {
            s.push_str(&format!("    {} {} -> ttl {}\n", r.name, r.rtype, r.ttl));
        }
        if let Some(t) = self.restored_at {
            s.push_str(&format!("  restored at: {}\n", fmt_time(t)));
        }
        for n in &self.notes {
            s.push_str(&format!("  note: {n}\n"));
        }
        s
    }
}

/// The explanation shown when a provider's minimum TTL is above the one
/// asked for.
pub fn min_ttl_consequence(requested: u32, minimum: u32, max_old_ttl: u32) -> String {
    format!(
        "The lowest allowed value is {minimum}s: use --lowered-ttl {minimum}. With {minimum}s instead of {requested}s, \
         resolvers may keep sending clients to the old server for up to {minimum}s ({} min) after the cutover, so keep \
         the old server answering at least that long; the earliest safe cutover is still the lowering time + the old TTL ({max_old_ttl}s)",
        minimum.div_ceil(60)
    )
}

/// `YYYY-MM-DD HH:MM:SS UTC` without a date crate (Howard Hinnant's
/// civil-from-days algorithm).
pub fn fmt_time(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Plans live in `<data dir>/dns/<domain>.json` (XDG_DATA_HOME/migrate on Linux).
pub fn plan_dir() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "migrate").ok_or_else(|| {
        DnsError::Invalid("no home directory to keep the DNS plan in; set XDG_DATA_HOME".into())
    })?;
    Ok(dirs.data_dir().join("dns"))
}

pub fn plan_path(domain: &str) -> Result<PathBuf> {
    let d = fqdn(domain);
    let file = d.trim_end_matches('.').replace(['/', '\\'], "_");
    Ok(plan_dir()?.join(format!("{file}.json")))
}

pub fn load(domain: &str) -> Result<Option<Plan>> {
    let path = plan_path(domain)?;
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let plan: Plan = serde_json::from_str(&text).map_err(|e| {
                DnsError::Invalid(format!(
                    "stored plan {} is damaged ({e}); move it away and plan again",
                    path.display()
                ))
            })?;
            Ok(Some(plan))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DnsError::Io {
            action: "read",
            path,
            source,
        }),
    }
}

pub fn load_required(domain: &str) -> Result<Plan> {
    load(domain)?.ok_or_else(|| DnsError::NoPlan {
        domain: domain.to_string(),
        path: plan_path(domain).unwrap_or_default(),
    })
}

/// Written to a temp file and renamed, so a crash never leaves half a plan
/// (the original TTLs in it may be the only record of them).
pub fn save(plan: &Plan) -> Result<PathBuf> {
    let path = plan_path(&plan.domain)?;
    let dir = path.parent().map(PathBuf::from).unwrap_or_default();
    std::fs::create_dir_all(&dir).map_err(|source| DnsError::Io {
        action: "create",
        path: dir.clone(),
        source,
    })?;
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(plan).map_err(|e| DnsError::Invalid(e.to_string()))?;
    std::fs::write(&tmp, text).map_err(|source| DnsError::Io {
        action: "write",
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, &path).map_err(|source| DnsError::Io {
        action: "rename",
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_unix_time() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_time(1_795_765_864), "2026-11-27 07:51:04 UTC");
    }
}
