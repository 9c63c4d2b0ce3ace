//! The destination checked as a mail server once it runs, before DNS sends
//! anyone there: an existing user logs in over IMAP with the password they
//! had (the hashes travelled in data/main.db), SMTP accepts mail for that
//! local user (RCPT answered 250; no message is sent, so no mailbox gets a
//! test mail), and the DKIM private keys are byte-identical to the
//! source's, so the published `<selector>._domainkey` records still match.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use migrate_remote::sh_quote;
use serde::{Deserialize, Serialize};

use super::super::mailu::MailuDef;
use super::{Cx, Exec, Outcome, Planned, StepKind, tail};
use crate::plugin::Side;

pub struct MailChecks;

/// What the journal keeps of the checks.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Checked {
    pub imap_login: Option<String>,
    pub smtp_rcpt: Option<String>,
    /// `sha256  file` lines of the DKIM keys, equal on both sides.
    pub dkim_keys: Vec<String>,
}

const TIMEOUT: Duration = Duration::from_secs(20);

/// The destination's address as the operator reaches it: the host of its
/// HTTP(S) address.
fn dst_address(cx: &Cx) -> Option<String> {
    let d = &cx.plan.migration.destination;
    d.http
        .as_deref()
        .or(d.https.as_deref())
        .and_then(|a| a.rsplit_once(':'))
        .map(|(h, _)| h.trim_matches(['[', ']']).to_string())
}

fn def(cx: &Cx) -> MailuDef {
    cx.plan.migration.mailu.clone().unwrap_or_default()
}

fn imap_url(cx: &Cx) -> Option<String> {
    def(cx)
        .imap
        .or_else(|| dst_address(cx).map(|a| format!("imaps://{a}:993")))
}

fn smtp_addr(cx: &Cx) -> Option<String> {
    def(cx)
        .smtp
        .or_else(|| dst_address(cx).map(|a| format!("{a}:25")))
}

fn dkim_script(cx: &Cx, side: Side) -> String {
    let dir = format!("{}/dkim", cx.sides.def(side).root);
    format!(
        "cd {} && for f in *.key; do [ -f \"$f\" ] && sha256sum -- \"$f\"; done; true",
        sh_quote(&dir)
    )
}

impl StepKind for MailChecks {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        let d = def(cx);
        let mut v = vec![
            Planned::on("dkim-source", Side::Source, dkim_script(cx, Side::Source)),
            Planned::on(
                "dkim-destination",
                Side::Destination,
                dkim_script(cx, Side::Destination),
            ),
        ];
        if let (Some(acc), Some(file)) = (&d.check_account, &d.check_password_file) {
            match imap_url(cx) {
                Some(url) => v.push(Planned::operator(
                    "imap",
                    format!("IMAP LOGIN {acc} at {url}, the password read from {file}"),
                )),
                None => v.push(Planned::by_hand(
                    "name the destination's IMAP server: imap in [mailu], or http in [destination]",
                )),
            }
            if let Some(addr) = smtp_addr(cx) {
                v.push(Planned::operator(
                    "smtp",
                    format!(
                        "SMTP at {addr}: EHLO, MAIL FROM:<>, RCPT TO:<{acc}> answered 250, then RSET and QUIT (no message is sent)"
                    ),
                ));
            }
        }
        v
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        if let Ok(p) = x.planned("by-hand") {
            return Err(p.script.clone());
        }
        let mut out = Checked::default();
        let src = keys(&x.run("dkim-source", "reading the DKIM keys")?);
        let dst = keys(&x.run("dkim-destination", "reading the DKIM keys")?);
        if src.is_empty() {
            return Err("the source has no DKIM key in dkim/ (*.key); nothing to compare".into());
        }
        if src != dst {
            return Err(format!(
                "the DKIM keys differ: source {src:?}, destination {dst:?}; the published DKIM records match the source's keys, so copy dkim/ again before DNS moves"
            ));
        }
        out.dkim_keys = src;
        let d = def(&x.cx);
        if let (Some(acc), Some(file)) = (&d.check_account, &d.check_password_file) {
            x.planned("imap")?;
            let url = imap_url(&x.cx).unwrap_or_default();
            let password = std::fs::read_to_string(file)
                .map_err(|e| format!("reading the check password from {file}: {e}"))?;
            let password = migrate_mail::Secret::new(password.lines().next().unwrap_or(""));
            let server = migrate_mail::Server::parse(&url).map_err(|e| e.to_string())?;
            // `up -d` returns before Dovecot and Postfix listen.
            wait_port(&format!("{}:{}", server.host, server.port))?;
            let session = x
                .cx
                .sides
                .rt
                .block_on(migrate_mail::conn::login(&server, acc, &password))
                .map_err(|e| {
                    format!(
                        "{acc} cannot log in over IMAP at {url} with their password: {e}. Did data/main.db (the password hashes) arrive?"
                    )
                })?;
            drop(session);
            out.imap_login = Some(format!("{acc} logged in at {url}"));
            x.planned("smtp")?;
            let addr = smtp_addr(&x.cx).unwrap_or_default();
            wait_port(&addr)?;
            let reply = rcpt(&addr, acc)?;
            out.smtp_rcpt = Some(reply);
        }
        let detail = format!(
            "{} DKIM key(s) identical on both sides{}{}",
            out.dkim_keys.len(),
            out.imap_login
                .as_deref()
                .map(|s| format!("; {s}"))
                .unwrap_or_default(),
            out.smtp_rcpt
                .as_deref()
                .map(|s| format!("; SMTP accepts mail for the local user ({s})"))
                .unwrap_or_default(),
        );
        Ok(Outcome::new(detail, &out))
    }
}

fn socket(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("{addr:?} is not ADDRESS:PORT"))
}

/// Wait up to a minute for `addr` to accept connections.
fn wait_port(addr: &str) -> Result<(), String> {
    let sock = socket(addr)?;
    let t = std::time::Instant::now();
    loop {
        match TcpStream::connect_timeout(&sock, Duration::from_secs(2)) {
            Ok(_) => return Ok(()),
            Err(e) if t.elapsed() >= Duration::from_secs(60) => {
                return Err(format!(
                    "nothing answers on {addr} a minute after the destination started ({e}); look at its logs there"
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

fn keys(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// One SMTP reply (its last line), multi-line replies read to the end.
fn reply(r: &mut impl BufRead) -> Result<String, String> {
    loop {
        let mut line = String::new();
        let n = r
            .read_line(&mut line)
            .map_err(|e| format!("reading the SMTP reply: {e}"))?;
        if n == 0 {
            return Err("the SMTP server closed the connection".into());
        }
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return Ok(line.trim_end().to_string());
        }
    }
}

/// Whether `addr` accepts mail for `to`: the RCPT reply when it is 250.
fn rcpt(addr: &str, to: &str) -> Result<String, String> {
    let sock = socket(addr)?;
    let s =
        TcpStream::connect_timeout(&sock, TIMEOUT).map_err(|e| format!("SMTP at {addr}: {e}"))?;
    let _ = s.set_read_timeout(Some(TIMEOUT));
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    let mut say = |cmd: &str, want: &str| -> Result<String, String> {
        if !cmd.is_empty() {
            w.write_all(format!("{cmd}\r\n").as_bytes())
                .map_err(|e| format!("SMTP at {addr}: {e}"))?;
        }
        let got = reply(&mut r)?;
        if got.starts_with(want) {
            Ok(got)
        } else {
            Err(format!(
                "SMTP at {addr} answered {:?} to {}",
                tail(&got),
                if cmd.is_empty() {
                    "the connection"
                } else {
                    cmd
                }
            ))
        }
    };
    say("", "220")?;
    say("EHLO migrate.invalid", "250")?;
    say("MAIL FROM:<>", "250")?;
    let ok = say(&format!("RCPT TO:<{to}>"), "250")
        .map_err(|e| format!("{e}: the destination does not accept mail for {to}"))?;
    let _ = say("RSET", "250");
    let _ = say("QUIT", "221");
    Ok(ok)
}
