//! Test plans: the recipe's checks and the plugin's smoke checks, run on
//! the source (baseline) and on the destination through the production
//! hostname, then diffed into one verdict line.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::commands;
use super::plan::{CheckKind, CheckSpec};
use super::sides::{Sides, json_field};
use crate::plugin::Side;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    pub id: String,
    pub title: String,
    pub pass: bool,
    /// What was seen (a field's value, a count, a status).
    pub value: Option<String>,
    pub detail: String,
}

/// Runs a command check's script on a side: (exit status, stdout, stderr).
pub type RunCheck<'a> = dyn FnMut(&CheckSpec, &str) -> Result<(i32, String, String), String> + 'a;

pub fn run_all(
    sides: &Sides,
    side: Side,
    checks: &[CheckSpec],
    run: &mut RunCheck,
) -> Vec<CheckResult> {
    checks
        .iter()
        .map(|c| run_one(sides, side, c, run))
        .collect()
}

/// The script a command check runs on a side (None for checks made from
/// this machine: HTTP, TCP, DNS).
pub fn script(sides: &Sides, side: Side, c: &CheckSpec) -> Option<Result<String, String>> {
    match &c.kind {
        CheckKind::Command(cmd) | CheckKind::Count(cmd) => Some(
            commands::script(sides.mount.as_deref(), sides.def(side), cmd)
                .map_err(|e| e.to_string()),
        ),
        _ => None,
    }
}

/// What a check made from this machine does, in words.
pub fn describe(sides: &Sides, side: Side, c: &CheckSpec) -> String {
    let def = sides.def(side);
    let addr = def
        .https
        .as_deref()
        .map(|a| format!("https://{a}"))
        .or_else(|| def.http.as_deref().map(|a| format!("http://{a}")))
        .unwrap_or_else(|| "(no address)".into());
    match &c.kind {
        CheckKind::Http { path, status, .. } => format!(
            "GET {path} from {addr} with Host: {}, expecting {status}",
            sides.mig.domain
        ),
        CheckKind::Tcp { port, .. } => format!("connect to port {port} at {addr}'s address"),
        CheckKind::Dns { name, rtype } => format!(
            "ask every authoritative server for {} {rtype}",
            dns_name(name, &sides.mig.domain)
        ),
        CheckKind::Command(_) | CheckKind::Count(_) => String::new(),
    }
}

fn result(c: &CheckSpec, pass: bool, value: Option<String>, detail: String) -> CheckResult {
    CheckResult {
        id: c.id.clone(),
        title: c.title.clone(),
        pass,
        value,
        detail,
    }
}

pub fn run_one(sides: &Sides, side: Side, c: &CheckSpec, run: &mut RunCheck) -> CheckResult {
    let _span =
        tracing::info_span!("check", id = %c.id, side = super::sides::side_word(side)).entered();
    match &c.kind {
        CheckKind::Http {
            path,
            status,
            contains,
            json,
            headers,
        } => match sides.http_get(side, path, headers) {
            Err(e) => result(c, false, None, e.to_string()),
            Ok((got, body)) => {
                if got != *status {
                    return result(
                        c,
                        false,
                        Some(got.to_string()),
                        format!("GET {path} answered {got}, expected {status}"),
                    );
                }
                if let Some(t) = contains
                    && !body.contains(t.as_str())
                {
                    return result(
                        c,
                        false,
                        None,
                        format!("the body of {path} does not contain {t:?}"),
                    );
                }
                if let Some((field, want)) = json {
                    return match json_field(&body, field) {
                        None => result(
                            c,
                            false,
                            None,
                            format!("{path} has no JSON field {field:?}"),
                        ),
                        Some(v) if want == "*" || v == *want => {
                            result(c, true, Some(v.clone()), format!("{field} = {v}"))
                        }
                        Some(v) => result(
                            c,
                            false,
                            Some(v.clone()),
                            format!("{field} = {v}, expected {want}"),
                        ),
                    };
                }
                result(
                    c,
                    true,
                    Some(got.to_string()),
                    format!("GET {path} answered {got}"),
                )
            }
        },
        CheckKind::Tcp { port, banner } => {
            let ip = sides
                .def(side)
                .http
                .as_deref()
                .and_then(|h| h.parse::<SocketAddr>().ok())
                .map(|a| a.ip());
            let Some(ip) = ip else {
                return result(
                    c,
                    false,
                    None,
                    "no address is configured for this side (http = ADDRESS:PORT)".into(),
                );
            };
            let addr = SocketAddr::new(ip, *port);
            match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                Err(e) => result(c, false, None, format!("cannot connect to {addr}: {e}")),
                Ok(mut s) => {
                    let Some(want) = banner else {
                        return result(c, true, None, format!("{addr} accepts connections"));
                    };
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = [0u8; 256];
                    let n = s.read(&mut buf).unwrap_or(0);
                    let got = String::from_utf8_lossy(&buf[..n]).trim().to_string();
                    result(
                        c,
                        got.starts_with(want.as_str()),
                        Some(got.clone()),
                        format!("banner {got:?}"),
                    )
                }
            }
        }
        CheckKind::Dns { name, rtype } => dns_check(sides, c, name, rtype),
        CheckKind::Command(cmd) | CheckKind::Count(cmd) => {
            let script = match commands::script(sides.mount.as_deref(), sides.def(side), cmd) {
                Ok(s) => s,
                Err(e) => return result(c, false, None, e.to_string()),
            };
            match run(c, &script) {
                Err(e) => result(c, false, None, e.to_string()),
                Ok((status, out, err)) => {
                    let out = out.trim().to_string();
                    if status != 0 {
                        let why = err.trim().lines().last().unwrap_or("").to_string();
                        return result(
                            c,
                            false,
                            None,
                            format!("exit status {status} {why}").trim().to_string(),
                        );
                    }
                    if matches!(c.kind, CheckKind::Count(_)) {
                        match out.parse::<i64>() {
                            Ok(n) => result(c, true, Some(n.to_string()), format!("count {n}")),
                            Err(_) => {
                                result(c, false, None, format!("expected one number, got {out:?}"))
                            }
                        }
                    } else {
                        result(c, true, None, "exit status 0".into())
                    }
                }
            }
        }
    }
}

/// A recipe's record name relative to the domain (`@` is the domain
/// itself; a name ending in a dot is absolute).
pub fn dns_name(name: &str, domain: &str) -> String {
    let domain = domain.trim_end_matches('.');
    match name {
        "@" | "" => format!("{domain}."),
        n if n.ends_with('.') => n.to_string(),
        n => format!("{n}.{domain}."),
    }
}

/// Ask every authoritative server the migration names (else its update
/// server); pass when all answer with the same non-empty record set.
fn dns_check(sides: &Sides, c: &CheckSpec, name: &str, rtype: &str) -> CheckResult {
    use std::str::FromStr;
    let Some(d) = &sides.mig.dns else {
        return result(c, false, None, "the migration names no DNS servers".into());
    };
    let Ok(rt) = hickory_proto::rr::RecordType::from_str(rtype) else {
        return result(
            c,
            false,
            None,
            format!("{rtype:?} is not a DNS record type"),
        );
    };
    let servers: Vec<&String> = if d.authoritative.is_empty() {
        d.server.iter().collect()
    } else {
        d.authoritative.iter().collect()
    };
    let mut seen: Vec<(String, Vec<String>)> = Vec::new();
    for s in servers {
        let Ok(addr) = s.parse::<std::net::SocketAddr>() else {
            return result(c, false, None, format!("{s:?} is not ADDRESS:PORT"));
        };
        let answer = sides.rt.block_on(migrate_dns::query::query(
            addr,
            name,
            rt,
            false,
            std::time::Duration::from_secs(5),
        ));
        match answer {
            Err(e) => return result(c, false, None, format!("{s}: {e}")),
            Ok(a) => {
                let values: Vec<String> = a
                    .rrsets(name, rt)
                    .into_iter()
                    .flat_map(|r| r.values)
                    .collect();
                if values.is_empty() {
                    return result(
                        c,
                        false,
                        None,
                        format!("{s} has no {name} {rtype} ({:?})", a.rcode),
                    );
                }
                seen.push((s.clone(), values));
            }
        }
    }
    let Some((_, first)) = seen.first() else {
        return result(c, false, None, "no DNS server to ask".into());
    };
    if let Some((s, v)) = seen.iter().find(|(_, v)| v != first) {
        return result(
            c,
            false,
            None,
            format!(
                "servers disagree: {} says {}, {s} says {}",
                seen[0].0,
                first.join(" "),
                v.join(" ")
            ),
        );
    }
    let value = first.join(", ");
    result(
        c,
        true,
        Some(value.clone()),
        format!("{rtype} {value} ({} servers agree)", seen.len()),
    )
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Comparison {
    pub id: String,
    pub title: String,
    pub before: Option<CheckResult>,
    pub after: Option<CheckResult>,
    /// same | fixed | regressed | failing-before | changed
    pub outcome: String,
}

pub fn compare(
    specs: &[CheckSpec],
    before: &[CheckResult],
    after: &[CheckResult],
) -> Vec<Comparison> {
    specs
        .iter()
        .map(|s| {
            let b = before.iter().find(|r| r.id == s.id).cloned();
            let a = after.iter().find(|r| r.id == s.id).cloned();
            let count = matches!(s.kind, CheckKind::Count(_));
            let outcome = match (&b, &a) {
                (_, None) => "not-run",
                (Some(b), Some(a)) if b.pass && a.pass && count && b.value != a.value => "changed",
                (Some(b), Some(a)) if b.pass && a.pass => "same",
                (Some(b), Some(a)) if !b.pass && a.pass => "fixed",
                (Some(b), Some(a)) if b.pass && !a.pass => "regressed",
                (Some(_), Some(_)) => "failing-before",
                (None, Some(a)) if a.pass => "same",
                (None, Some(_)) => "regressed",
            };
            Comparison {
                id: s.id.clone(),
                title: s.title.clone(),
                before: b,
                after: a,
                outcome: outcome.into(),
            }
        })
        .collect()
}

/// One line: PASS when nothing regressed or changed.
pub fn verdict(cmp: &[Comparison]) -> (bool, String) {
    let bad: Vec<String> = cmp
        .iter()
        .filter(|c| c.outcome == "regressed" || c.outcome == "changed" || c.outcome == "not-run")
        .map(|c| match (&c.before, &c.after) {
            (Some(b), Some(a)) if c.outcome == "changed" => format!(
                "{} ({} before, {} after)",
                c.id,
                b.value.as_deref().unwrap_or("?"),
                a.value.as_deref().unwrap_or("?")
            ),
            (_, Some(a)) => format!("{} ({})", c.id, a.detail),
            _ => format!("{} (not run)", c.id),
        })
        .collect();
    let pre = cmp.iter().filter(|c| c.outcome == "failing-before").count();
    let pre_note = if pre > 0 {
        format!("; {pre} already failed on the source before the migration")
    } else {
        String::new()
    };
    if bad.is_empty() {
        (
            true,
            format!(
                "VERDICT: PASS: {} of {} checks answer on the destination as on the source{pre_note}",
                cmp.len() - pre,
                cmp.len()
            ),
        )
    } else {
        (
            false,
            format!(
                "VERDICT: FAIL: {} regressed: {}{pre_note}",
                bad.len(),
                bad.join("; ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::plan::Cmd;

    fn spec(id: &str, count: bool) -> CheckSpec {
        let cmd = Cmd {
            service: None,
            argv: vec![],
            env: vec![],
            user: None,
            workdir: None,
        };
        CheckSpec {
            id: id.into(),
            title: id.into(),
            origin: "t".into(),
            kind: if count {
                CheckKind::Count(cmd)
            } else {
                CheckKind::Command(cmd)
            },
        }
    }
    fn r(id: &str, pass: bool, v: Option<&str>) -> CheckResult {
        CheckResult {
            id: id.into(),
            title: id.into(),
            pass,
            value: v.map(Into::into),
            detail: "d".into(),
        }
    }

    #[test]
    fn counts_must_match_and_old_failures_are_not_blamed() {
        let specs = [
            spec("files", true),
            spec("cmd", false),
            spec("broken", false),
        ];
        let before = [
            r("files", true, Some("12")),
            r("cmd", true, None),
            r("broken", false, None),
        ];
        let after = [
            r("files", true, Some("12")),
            r("cmd", true, None),
            r("broken", false, None),
        ];
        let (ok, line) = verdict(&compare(&specs, &before, &after));
        assert!(ok, "{line}");
        assert!(line.contains("1 already failed on the source"), "{line}");
        let after = [
            r("files", true, Some("11")),
            r("cmd", false, None),
            r("broken", false, None),
        ];
        let (ok, line) = verdict(&compare(&specs, &before, &after));
        assert!(!ok);
        assert!(
            line.contains("files (12 before, 11 after)") && line.contains("cmd"),
            "{line}"
        );
    }
}
