//! Mail DNS checks: MX, SPF, DKIM (given selector), DMARC and the PTR of
//! the new server's address, against what a mail app such as Mailu
//! publishes (Mailu core/admin/mailu/models.py: `MX 10 <HOSTNAME>.`,
//! `"v=spf1 mx a:<HOSTNAME> ~all"`, `<selector>._domainkey` with
//! `v=DKIM1; k=rsa; p=...` (selector default `dkim`), `_dmarc`
//! `"v=DMARC1; p=reject; ..."`, and a PTR matching the HOSTNAME).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::rr::RecordType;
use serde::Serialize;

use crate::error::Result;
use crate::query;
use crate::record::{fqdn, unquote_txt};

#[derive(Debug, Clone)]
pub struct MailCheck {
    pub domain: String,
    /// The mail server's host name (Mailu's HOSTNAMES[0]).
    pub host: Option<String>,
    /// The new server's address (SPF must allow it, PTR must name the host).
    pub ip: Option<IpAddr>,
    pub dkim_selector: String,
    /// Where forward records are read (an authoritative server of the zone).
    pub server: SocketAddr,
    /// Where PTR and the host's address are looked up (a resolver, or the
    /// reverse zone's server); the reverse zone belongs to the IP's owner.
    pub lookup: SocketAddr,
    pub lookup_recursive: bool,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub ok: bool,
    pub found: String,
    /// What is wrong and how to fix it (empty when ok).
    pub fix: String,
}

fn finding(
    check: &'static str,
    ok: bool,
    found: impl Into<String>,
    fix: impl Into<String>,
) -> Finding {
    Finding {
        check,
        ok,
        found: found.into(),
        fix: if ok { String::new() } else { fix.into() },
    }
}

async fn txts(
    server: SocketAddr,
    name: &str,
    recursive: bool,
    timeout: Duration,
) -> Result<Vec<String>> {
    let a = query::query(server, name, RecordType::TXT, recursive, timeout).await?;
    Ok(a.rrsets(name, RecordType::TXT)
        .into_iter()
        .flat_map(|s| s.values)
        .map(|v| unquote_txt(&v))
        .collect())
}

async fn addresses(
    server: SocketAddr,
    name: &str,
    recursive: bool,
    timeout: Duration,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for rt in [RecordType::A, RecordType::AAAA] {
        let a = query::query(server, name, rt, recursive, timeout).await?;
        out.extend(a.rrsets(name, rt).into_iter().flat_map(|s| s.values));
    }
    Ok(out)
}

/// The reverse-lookup name of an address (in-addr.arpa / ip6.arpa).
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::new();
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s.push_str("ip6.arpa.");
            s
        }
    }
}

pub async fn check(c: &MailCheck) -> Result<Vec<Finding>> {
    let domain = fqdn(&c.domain);
    let host = c.host.as_deref().map(fqdn);
    let mut out = Vec::new();

    // MX
    let mx = query::query(c.server, &domain, RecordType::MX, false, c.timeout).await?;
    let mx_values: Vec<String> = mx
        .rrsets(&domain, RecordType::MX)
        .into_iter()
        .flat_map(|s| s.values)
        .collect();
    let mx_hosts: Vec<String> = mx_values
        .iter()
        .filter_map(|v| v.split_whitespace().nth(1).map(fqdn))
        .collect();
    let mx_ok = !mx_values.is_empty() && host.as_ref().is_none_or(|h| mx_hosts.contains(h));
    out.push(finding(
        "MX",
        mx_ok,
        if mx_values.is_empty() {
            "none".to_string()
        } else {
            mx_values.join(", ")
        },
        match &host {
            Some(h) => format!("publish `{domain} IN MX 10 {h}` (the mail host)"),
            None => format!("publish an MX record for {domain}"),
        },
    ));

    // SPF: exactly one v=spf1 TXT that lets the new server send.
    let spf: Vec<String> = txts(c.server, &domain, false, c.timeout)
        .await?
        .into_iter()
        .filter(|t| t.to_ascii_lowercase().starts_with("v=spf1"))
        .collect();
    let expected_spf = match &host {
        Some(h) => format!("\"v=spf1 mx a:{} ~all\"", h.trim_end_matches('.')),
        None => "\"v=spf1 mx ~all\"".to_string(),
    };
    let (spf_ok, spf_why) = match spf.as_slice() {
        [] => (
            false,
            format!("no SPF record: publish `{domain} IN TXT {expected_spf}`"),
        ),
        [one] => spf_verdict(one, c.ip, host.as_deref(), mx_ok, &expected_spf),
        _ => (
            false,
            format!(
                "{} SPF records (receivers treat that as a permanent error): keep one, e.g. {expected_spf}",
                spf.len()
            ),
        ),
    };
    out.push(finding(
        "SPF",
        spf_ok,
        if spf.is_empty() {
            "none".into()
        } else {
            spf.join(" | ")
        },
        spf_why,
    ));

    // DKIM
    let dkim_name = format!("{}._domainkey.{domain}", c.dkim_selector);
    let dkim = txts(c.server, &dkim_name, false, c.timeout).await?;
    let dkim_rec = dkim.iter().find(|t| t.contains("p="));
    let dkim_ok = dkim_rec.is_some_and(|t| {
        let tags: Vec<&str> = t.split(';').map(str::trim).collect();
        tags.iter()
            .any(|tag| tag.strip_prefix("p=").is_some_and(|p| !p.is_empty()))
            && tags
                .first()
                .is_none_or(|f| !f.starts_with("v=") || *f == "v=DKIM1")
    });
    out.push(finding(
        "DKIM",
        dkim_ok,
        if dkim.is_empty() { format!("no TXT at {dkim_name}") } else { dkim.join(" | ") },
        format!("publish the app's DKIM public key at `{dkim_name} IN TXT \"v=DKIM1; k=rsa; p=<key>\"` (Mailu: Admin > Mail domains > Details, or `flask mailu config-export --dns`)"),
    ));

    // DMARC
    let dmarc_name = format!("_dmarc.{domain}");
    let dmarc: Vec<String> = txts(c.server, &dmarc_name, false, c.timeout)
        .await?
        .into_iter()
        .filter(|t| t.starts_with("v=DMARC1"))
        .collect();
    let dmarc_ok = dmarc.len() == 1 && dmarc[0].split(';').any(|t| t.trim().starts_with("p="));
    out.push(finding(
        "DMARC",
        dmarc_ok,
        if dmarc.is_empty() { format!("no DMARC record at {dmarc_name}") } else { dmarc.join(" | ") },
        if dmarc.is_empty() {
            format!("publish `{dmarc_name} IN TXT \"v=DMARC1; p=reject; adkim=s; aspf=s\"` (Mailu's default)")
        } else {
            "keep exactly one v=DMARC1 record with a p= policy".to_string()
        },
    ));

    // The mail host's address and the PTR of the new address (FCrDNS).
    if let (Some(h), Some(ip)) = (&host, c.ip) {
        let addrs = addresses(c.lookup, h, c.lookup_recursive, c.timeout).await?;
        let a_ok = addrs.contains(&ip.to_string());
        out.push(finding(
            "A",
            a_ok,
            if addrs.is_empty() {
                format!("{h} has no address")
            } else {
                format!("{h} -> {}", addrs.join(", "))
            },
            format!(
                "point {h} at the new server: `{h} IN {} {ip}`",
                if ip.is_ipv4() { "A" } else { "AAAA" }
            ),
        ));
        let rev = reverse_name(ip);
        let ptr = query::query(
            c.lookup,
            &rev,
            RecordType::PTR,
            c.lookup_recursive,
            c.timeout,
        )
        .await?;
        let names: Vec<String> = ptr
            .rrsets(&rev, RecordType::PTR)
            .into_iter()
            .flat_map(|s| s.values)
            .collect();
        let ptr_ok = names.contains(h);
        out.push(finding(
            "PTR",
            ptr_ok,
            if names.is_empty() { format!("no PTR for {ip} ({rev})") } else { format!("{ip} -> {}", names.join(", ")) },
            format!("ask the owner of {ip} (your hoster's panel) to set its reverse DNS to {h}: receivers reject mail from addresses whose PTR does not match"),
        ));
    }
    Ok(out)
}

/// Whether an SPF record lets `ip` send, with the reason if not. Only the
/// mechanisms an app's own record uses are evaluated (no include: lookups).
fn spf_verdict(
    spf: &str,
    ip: Option<IpAddr>,
    host: Option<&str>,
    mx_points_at_host: bool,
    expected: &str,
) -> (bool, String) {
    let terms: Vec<String> = spf
        .split_whitespace()
        .skip(1)
        .map(|t| t.to_ascii_lowercase())
        .collect();
    if terms.iter().any(|t| t == "+all" || t == "all") {
        return (
            false,
            format!("`+all` lets anyone send as this domain: use {expected}"),
        );
    }
    let Some(ip) = ip else {
        return (true, String::new());
    };
    let ip_s = ip.to_string();
    let host_s = host.map(|h| h.trim_end_matches('.').to_ascii_lowercase());
    let allowed = terms.iter().any(|t| {
        let t = t.trim_start_matches('+');
        (t == "mx" && mx_points_at_host)
            || t.strip_prefix("ip4:")
                .or(t.strip_prefix("ip6:"))
                .is_some_and(|v| v.split('/').next() == Some(ip_s.as_str()))
            || host_s
                .as_ref()
                .is_some_and(|h| t == format!("a:{h}") || t == format!("mx:{h}"))
    });
    if allowed {
        (true, String::new())
    } else {
        (
            false,
            format!(
                "SPF does not allow the new server {ip} to send: receivers will reject or junk its mail; use {expected}"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("198.51.100.20".parse().unwrap()),
            "20.100.51.198.in-addr.arpa."
        );
        assert!(reverse_name("2001:db8::1".parse().unwrap()).starts_with("1.0.0.0."));
    }

    #[test]
    fn spf_verdicts() {
        let ip: IpAddr = "198.51.100.20".parse().unwrap();
        assert!(
            spf_verdict(
                "v=spf1 mx a:mail.example.test ~all",
                Some(ip),
                Some("mail.example.test."),
                false,
                ""
            )
            .0
        );
        assert!(spf_verdict("v=spf1 ip4:198.51.100.20 -all", Some(ip), None, false, "").0);
        assert!(
            !spf_verdict(
                "v=spf1 ip4:192.0.2.99 -all",
                Some(ip),
                Some("mail.example.test."),
                true,
                ""
            )
            .0
        );
        assert!(!spf_verdict("v=spf1 +all", Some(ip), None, true, "").0);
    }
}
