//! DNS steps of a migration over migrate-dns: read the zone and lower the
//! TTLs early, point the names at the destination once its checks pass
//! (after the old TTL has expired everywhere), restore the TTLs. The DNS
//! plan travels in the journal; the TSIG key is read from its file at each
//! use and never stored.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use migrate_dns::{Dns, Plan as DnsPlan, PlanRequest, ProviderConfig, Secret, Servers, Source};

use super::definition::Dns as DnsDef;

pub fn dns(def: &DnsDef) -> Result<Dns, String> {
    let config = provider_config(def)?;
    let secret = match &def.tsig_key_file {
        Some(f) => Some(Secret::from_file(Path::new(f)).map_err(|e| e.to_string())?),
        None => None,
    };
    let provider = config
        .build(secret, std::time::Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let mut d = Dns::new(provider);
    d.verify_timeout = std::time::Duration::from_secs(60);
    Ok(d)
}

fn provider_config(def: &DnsDef) -> Result<ProviderConfig, String> {
    Ok(match def.provider.as_str() {
        "rfc2136" => ProviderConfig::Rfc2136 {
            server: def
                .server
                .as_deref()
                .unwrap_or_default()
                .parse()
                .map_err(|_| "dns.server is not ADDRESS:PORT".to_string())?,
        },
        _ => ProviderConfig::Manual,
    })
}

pub fn request(domain: &str, def: &DnsDef) -> Result<PlanRequest, String> {
    let servers = if def.authoritative.is_empty() {
        Servers::system().map_err(|e| e.to_string())?
    } else {
        Servers::Fixed(
            def.authoritative
                .iter()
                .filter_map(|a| a.parse::<SocketAddr>().ok())
                .collect(),
        )
    };
    Ok(PlanRequest {
        domain: domain.to_string(),
        zone: def.zone.clone(),
        names: def.names.clone(),
        to: def
            .to
            .iter()
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .collect(),
        lowered_ttl: def.lowered_ttl,
        servers,
        provider: provider_config(def)?,
        source: Source::Dns,
    })
}

/// `name TYPE ttl` of what the plan will lower, for plans and reports.
pub fn ttl_lines(p: &DnsPlan) -> Vec<String> {
    p.original
        .iter()
        .map(|r| {
            format!(
                "{} {} TTL {} -> {} during the move",
                r.name,
                r.rtype,
                r.ttl,
                p.lowered_ttl.min(r.ttl)
            )
        })
        .collect()
}

/// The DNS plan of this migration, next to its journal.
pub fn load_saved(dir: &Path) -> Option<DnsPlan> {
    let text = std::fs::read_to_string(dir.join("dns-plan.json")).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn save(dir: &Path, p: &DnsPlan) -> Result<(), String> {
    let tmp = dir.join("dns-plan.json.tmp");
    let text = serde_json::to_string_pretty(p).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join("dns-plan.json"))
        .map_err(|e| format!("saving the DNS plan: {e}"))
}
