//! Mailu's mail DNS around the cutover, on every authoritative server of
//! the zone (the ones the migration's DNS plan found or was given):
//!
//! - before and after: MX, SPF, DKIM and DMARC as Mailu publishes them
//!   (crates/dns `mail::check`), the mail host's address (the source's
//!   before, the destination's after), SPF letting that address send, and
//!   the DKIM record's `p=` equal to the public half of the key in
//!   `dkim/<domain>.<selector>.key` (Mailu's DKIM_PATH). Before, what is
//!   wrong is reported; after, it stops the run with the fix to make.
//! - after: the PTR of the new address, through the system's resolver; only
//!   the owner of the address (the hoster) can set it, so a missing one is
//!   reported for a person, never a failure.
//! - the old server as a fallback MX: its Postfix relays every local
//!   domain to the new server (`virtual_transport` in
//!   `overrides/postfix/postfix.cf`, which Mailu's core/postfix/start.py
//!   merges into main.cf) while resolvers still hold the old address;
//!   then the report says when it may be switched off.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use migrate_remote::sh_quote;
use serde::{Deserialize, Serialize};

use super::super::config::config_get;
use super::super::dns as plan_dns;
use super::super::journal::Event;
use super::{Cx, Exec, Outcome, Planned, StepKind};
use crate::plugin::Side;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Mail DNS checked before (source) or after (destination) the cutover.
pub struct MailDns {
    pub after: bool,
}

/// The old server relays to the new one.
pub struct Relay;

/// When the old server may be switched off.
pub struct SwitchOff;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Findings {
    /// `server check: ok|FAIL found (fix)` lines.
    pub lines: Vec<String>,
    pub failed: usize,
    pub ptr: Option<String>,
}

/// Mailu's settings as the side's mailu.env has them.
struct Settings {
    domain: String,
    host: String,
    selector: String,
}

fn side(after: bool) -> Side {
    if after {
        Side::Destination
    } else {
        Side::Source
    }
}

fn env_path(cx: &Cx, s: Side) -> String {
    format!("{}/mailu.env", cx.sides.def(s).root)
}

fn settings(text: &str, fallback_host: &str) -> Settings {
    let get = |k: &str| config_get(text, k).filter(|v| !v.is_empty());
    Settings {
        domain: get("DOMAIN").unwrap_or_default(),
        host: get("HOSTNAMES")
            .and_then(|h| h.split(',').next().map(str::trim).map(str::to_string))
            .unwrap_or_else(|| fallback_host.to_string()),
        selector: get("DKIM_SELECTOR").unwrap_or_else(|| "dkim".into()),
    }
}

/// The address mail goes to on this side: the destination's is the one
/// DNS points at; the source's is its HTTP address's host.
fn address(cx: &Cx, after: bool) -> Option<IpAddr> {
    let m = &cx.plan.migration;
    if after {
        return m
            .dns
            .as_ref()
            .and_then(|d| d.to.first())
            .and_then(|a| a.parse().ok());
    }
    m.source
        .http
        .as_deref()
        .or(m.source.https.as_deref())
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(h, _)| h.trim_matches(['[', ']']).parse().ok())
}

fn pubkey_script(cx: &Cx, s: Side) -> String {
    let root = &cx.sides.def(s).root;
    // The key's name comes from mailu.env on the server (DOMAIN,
    // DKIM_SELECTOR), as Mailu's DKIM_PATH /dkim/{domain}.{selector}.key.
    format!(
        "cd {} && . ./mailu.env >/dev/null 2>&1; k=\"dkim/$DOMAIN.${{DKIM_SELECTOR:-dkim}}.key\"; [ -f \"$k\" ] || {{ echo \"no DKIM key $k\" >&2; exit 1; }}; openssl pkey -in \"$k\" -pubout -outform DER | base64 -w0",
        sh_quote(root)
    )
}

impl StepKind for MailDns {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        let s = side(self.after);
        let ip = address(cx, self.after)
            .map(|a| a.to_string())
            .unwrap_or_else(|| "(no address)".into());
        let mut v = vec![
            Planned::on("env", s, format!("cat -- {}", sh_quote(&env_path(cx, s)))),
            Planned::on("pubkey", s, pubkey_script(cx, s)),
            Planned::operator(
                "check",
                format!(
                    "migrate dns mail-check --domain <DOMAIN of mailu.env> --host <HOSTNAMES[0]> --ip {ip} --selector <DKIM_SELECTOR> on every authoritative server; the DKIM record's p= compared with the key's public half"
                ),
            ),
        ];
        if self.after {
            v.push(Planned::operator(
                "ptr",
                format!("PTR of {ip} through the system's resolver"),
            ));
        }
        v
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        let after = self.after;
        let env = x.run("env", "reading mailu.env")?;
        let st = settings(&env, &x.cx.plan.migration.domain);
        if st.domain.is_empty() {
            return Err("mailu.env has no DOMAIN: cannot tell which mail domain to check".into());
        }
        let pubkey = x.run("pubkey", "reading the DKIM key's public half")?;
        let pubkey = pubkey.trim().to_string();
        x.planned("check")?;
        let ip = address(&x.cx, after);
        let dir = &x.cx.journal()?.dir;
        let servers: Vec<SocketAddr> = match plan_dns::load_saved(dir) {
            Some(p) => p.authorities.iter().map(|a| a.addr).collect(),
            None => {
                x.cx.plan
                    .migration
                    .dns
                    .iter()
                    .flat_map(|d| d.authoritative.iter())
                    .filter_map(|a| a.parse().ok())
                    .collect()
            }
        };
        if servers.is_empty() {
            return Err("no authoritative server to ask: give [dns] authoritative".into());
        }
        let rt = &x.cx.sides.rt;
        let mut out = Findings::default();
        let host = migrate_dns::record::fqdn(&st.host);
        for server in &servers {
            let c = migrate_dns::mail::MailCheck {
                domain: st.domain.clone(),
                host: Some(host.clone()),
                ip: None,
                dkim_selector: st.selector.clone(),
                server: *server,
                lookup: *server,
                lookup_recursive: false,
                timeout: TIMEOUT,
            };
            let mut found: Vec<(String, bool, String, String)> = rt
                .block_on(migrate_dns::mail::check(&c))
                .map_err(|e| format!("mail DNS at {server}: {e}"))?
                .into_iter()
                .map(|f| (f.check.to_string(), f.ok, f.found, f.fix))
                .collect();
            // The mail host's address, on this server.
            let addrs = rt
                .block_on(migrate_dns::query::query(
                    *server,
                    &host,
                    hickory_proto::rr::RecordType::A,
                    false,
                    TIMEOUT,
                ))
                .map_err(|e| format!("A of {host} at {server}: {e}"))?
                .rrsets(&host, hickory_proto::rr::RecordType::A)
                .into_iter()
                .flat_map(|s| s.values)
                .collect::<Vec<_>>();
            if let Some(ip) = ip {
                let ok = addrs.contains(&ip.to_string());
                found.push((
                    "A".into(),
                    ok,
                    format!("{host} -> {}", addrs.join(", ")),
                    format!("point {host} at {ip}"),
                ));
                // SPF must let this address send: through mx/a:<host>
                // (the host resolves to it) or its own ip4:/ip6:.
                if let Some((_, _, spf, _)) = found.iter().find(|f| f.0 == "SPF") {
                    let spf = spf.to_ascii_lowercase();
                    let h = host.trim_end_matches('.').to_ascii_lowercase();
                    let lets = (ok
                        && spf
                            .split_whitespace()
                            .any(|t| t == "mx" || t == "+mx" || t == format!("a:{h}")))
                        || spf.contains(&format!("ip4:{ip}"))
                        || spf.contains(&format!("ip6:{ip}"));
                    found.push((
                        "SPF-address".into(),
                        lets,
                        spf.clone(),
                        format!(
                            "let {ip} send for {}: e.g. \"v=spf1 mx a:{h} ~all\"",
                            st.domain
                        ),
                    ));
                }
            }
            let dkim_name = format!("{}._domainkey.{}", st.selector, st.domain);
            let published = rt
                .block_on(migrate_dns::query::query(
                    *server,
                    &dkim_name,
                    hickory_proto::rr::RecordType::TXT,
                    false,
                    TIMEOUT,
                ))
                .map(|a| {
                    a.rrsets(
                        &migrate_dns::record::fqdn(&dkim_name),
                        hickory_proto::rr::RecordType::TXT,
                    )
                    .into_iter()
                    .flat_map(|s| s.values)
                    .map(|v| migrate_dns::record::unquote_txt(&v))
                    .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            let p = published
                .iter()
                .flat_map(|t| t.split(';'))
                .filter_map(|t| t.trim().strip_prefix("p="))
                .map(|p| p.split_whitespace().collect::<String>())
                .next()
                .unwrap_or_default();
            found.push((
                "DKIM-key".into(),
                !p.is_empty() && p == pubkey,
                if p.is_empty() {
                    format!("no p= at {dkim_name}")
                } else {
                    format!("p={}...", &p[..p.len().min(24)])
                },
                format!(
                    "publish the key of dkim/ at `{dkim_name} IN TXT \"v=DKIM1; k=rsa; p={pubkey}\"`"
                ),
            ));
            for (check, ok, what, fix) in found {
                if !ok {
                    out.failed += 1;
                }
                out.lines.push(format!(
                    "{server} {check}: {} {what}{}",
                    if ok { "ok" } else { "FAIL" },
                    if ok {
                        String::new()
                    } else {
                        format!(" ({fix})")
                    }
                ));
            }
        }
        if after && let Some(ip) = ip {
            x.planned("ptr")?;
            out.ptr = Some(ptr(&x.cx, ip, &host));
        }
        let failing: Vec<&String> = out.lines.iter().filter(|l| l.contains(": FAIL")).collect();
        if after && !failing.is_empty() {
            return Err(format!(
                "the mail DNS does not point at the new server yet: {}",
                failing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        let detail = format!(
            "{} mail DNS on {} authoritative server(s): MX, SPF, DKIM (same key as dkim/), DMARC, {host} -> {}{}{}",
            if after {
                "after the cutover,"
            } else {
                "before the move,"
            },
            servers.len(),
            ip.map(|i| i.to_string()).unwrap_or_else(|| "?".into()),
            if failing.is_empty() {
                " all as expected".to_string()
            } else {
                format!(
                    "; to fix: {}",
                    failing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            },
            out.ptr
                .as_deref()
                .map(|p| format!("; {p}"))
                .unwrap_or_default()
        );
        Ok(Outcome::new(detail, &out))
    }
}

/// The PTR of `ip` through the system's first resolver, in words.
fn ptr(cx: &Cx, ip: IpAddr, host: &str) -> String {
    let resolver = std::fs::read_to_string("/etc/resolv.conf")
        .ok()
        .and_then(|t| {
            t.lines()
                .filter_map(|l| l.trim().strip_prefix("nameserver"))
                .filter_map(|a| a.trim().parse::<IpAddr>().ok())
                .next()
        })
        .map(|a| SocketAddr::new(a, 53));
    let Some(resolver) = resolver else {
        return format!(
            "PTR of {ip} not checked (no resolver in /etc/resolv.conf): set it to {host} at your hosting provider"
        );
    };
    let rev = migrate_dns::mail::reverse_name(ip);
    match cx.sides.rt.block_on(migrate_dns::query::query(
        resolver,
        &rev,
        hickory_proto::rr::RecordType::PTR,
        true,
        TIMEOUT,
    )) {
        Ok(a) => {
            let names: Vec<String> = a
                .rrsets(&rev, hickory_proto::rr::RecordType::PTR)
                .into_iter()
                .flat_map(|s| s.values)
                .collect();
            if names.iter().any(|n| n == host) {
                format!("PTR {ip} -> {host} as it should")
            } else {
                format!(
                    "PTR of {ip} is {}, not {host}: set it at your hosting provider (receivers reject mail from addresses whose PTR does not match)",
                    if names.is_empty() {
                        "missing".to_string()
                    } else {
                        names.join(", ")
                    }
                )
            }
        }
        Err(e) => format!(
            "PTR of {ip} could not be read ({e}): check it is {host} at your hosting provider"
        ),
    }
}

/// Where the old server sends its mail while it is the fallback: the new
/// server's SMTP (`[mailu] smtp`, else port 25 at the DNS address).
fn relay_target(cx: &Cx) -> Option<String> {
    let m = &cx.plan.migration;
    if let Some(s) = m.mailu.as_ref().and_then(|d| d.smtp.clone())
        && let Some((h, p)) = s.rsplit_once(':')
    {
        return Some(format!("[{}]:{p}", h.trim_matches(['[', ']'])));
    }
    m.dns
        .as_ref()
        .and_then(|d| d.to.first())
        .map(|a| format!("[{a}]:25"))
}

impl StepKind for Relay {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        let Some(target) = relay_target(cx) else {
            return vec![Planned::by_hand(
                "name the new server's SMTP: smtp in [mailu], or to in [dns]",
            )];
        };
        let Some(p) = cx.sides.layout(Side::Source).project() else {
            return vec![Planned::by_hand(
                "the source is not a compose project: name its directory with `compose`",
            )];
        };
        let dir = format!("{}/overrides/postfix", cx.sides.def(Side::Source).root);
        let f = format!("{dir}/postfix.cf");
        let keep = format!("{f}.before-{}", cx.plan.id);
        vec![
            Planned::on(
                "override",
                Side::Source,
                format!(
                    "mkdir -p {d} && touch {f} && {{ [ -e {k} ] || cp -p {f} {k}; }} && {{ grep -v '^virtual_transport *=' {f}; echo {line}; }} > {f}.migrate-tmp && mv {f}.migrate-tmp {f}",
                    d = sh_quote(&dir),
                    f = sh_quote(&f),
                    k = sh_quote(&keep),
                    line = sh_quote(&format!("virtual_transport = smtp:{target}")),
                ),
            ),
            // Only what receiving needs: IMAP and webmail stay off, so no
            // one reads or changes the old mailboxes.
            Planned::on("start", Side::Source, p.cli("start redis admin front smtp")),
        ]
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        if let Ok(p) = x.planned("by-hand") {
            return Err(p.script.clone());
        }
        x.run("override", "pointing Postfix at the new server")?;
        x.run("start", "starting the old server's smtp as a relay")?;
        Ok(Outcome::plain(format!(
            "the old server accepts mail again and relays it to the new one ({}); its IMAP stays off",
            relay_target(&x.cx).unwrap_or_default()
        )))
    }
}

impl StepKind for SwitchOff {
    fn describe(&self, _cx: &Cx) -> Vec<Planned> {
        vec![Planned::operator(
            "when",
            "the DNS cutover's time plus the TTL resolvers may still hold for the old address",
        )]
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        x.planned("when")?;
        let j = x.cx.journal()?;
        let cut = j
            .entries
            .iter()
            .rev()
            .find(|e| e.step == "dns-cutover" && e.event == Event::Done)
            .map(|e| (e.at_ms / 1000) as u64)
            .ok_or("the DNS cutover has not finished")?;
        let ttl = plan_dns::load_saved(&j.dir)
            .map(|p| {
                if p.lowered_at.is_some() {
                    p.lowered_ttl
                } else {
                    p.max_old_ttl
                }
            })
            .unwrap_or(86_400) as u64;
        let at = cut + ttl;
        let now = migrate_dns::verify::now_unix();
        Ok(Outcome::plain(format!(
            "The old server relays mail to the new one. It may be switched off after {} ({ttl} s after the cutover, the longest TTL resolvers may still hold for the old address){}",
            migrate_dns::plan::fmt_time(at),
            if now >= at { ": that is now" } else { "" }
        )))
    }
}
