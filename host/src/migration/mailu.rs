//! What a Mailu move adds to the plan of a compose project, following
//! Mailu's maintenance guide (docs/maintain.rst, "Migrating an instance")
//! and what a mail admin expects around it:
//!
//! - the old server's `smtp` stops first, so no new mail is accepted
//!   there (senders queue and retry: SMTP's own retry), and its Postfix
//!   queue is flushed and counted before the rest of Mailu stops; what is
//!   left in `mailqueue/` travels with the final copy;
//! - once the destination runs, it is checked as a mail server: an
//!   existing user logs in over IMAP with the password they had (the
//!   hashes travelled in `data/main.db`), SMTP accepts mail for a local
//!   user, and the DKIM private keys are byte-identical to the source's
//!   (the published `<selector>._domainkey` records keep matching).
//!
//! The compose layout already copies the project directory (compose file,
//! `mailu.env`, `data`, `dkim`, `mail`, ...) while Mailu runs, stops and
//! starts the project, and runs the final pass.

use serde::{Deserialize, Serialize};

use super::plan::{Action, CheckKind, Phase, Plan, PlanStep, Risk, Where};

/// The `[mailu]` section of a migration file: where the destination's mail
/// services answer, and an account the checks may log in with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct MailuDef {
    /// The destination's IMAP server as the checks reach it
    /// (`imaps://HOST[:PORT]`, `imap://` for STARTTLS, `imap+plain://` on
    /// a private network); default `imaps://<destination address>:993`.
    #[serde(default)]
    pub imap: Option<String>,
    /// The destination's SMTP listener (`ADDRESS:PORT`); default port 25
    /// at the destination's address.
    #[serde(default)]
    pub smtp: Option<String>,
    /// An existing mailbox (its address) to log in with on the destination
    /// and to address a test RCPT to.
    #[serde(default)]
    pub check_account: Option<String>,
    /// A file holding that account's password (first line); only the path
    /// is stored in the plan and the journal.
    #[serde(default)]
    pub check_password_file: Option<String>,
}

/// Mailu's project directories that hold Postfix's queue (its
/// `queue_directory = /queue` is the project's `mailqueue/`).
pub const QUEUE_DIRS: [&str; 5] = ["maildrop", "incoming", "active", "deferred", "hold"];

/// The steps a Mailu move adds, and the test plan's mail ports pointed at
/// where the `[mailu]` section says they answer.
pub fn extend(plan: &mut Plan) {
    if plan.migration.app != "mailu" {
        return;
    }
    let m = |id: &str, phase, on, risk, title: &str, action| PlanStep {
        id: id.to_string(),
        phase,
        on,
        title: title.to_string(),
        risk,
        origin: "migrate".into(),
        action,
    };
    if let Some(i) = plan.steps.iter().position(|s| s.id == "stop-source") {
        plan.steps.insert(
            i,
            m(
                "mailu-stop-smtp",
                Phase::Cutover,
                Where::Source,
                Risk::Reversible,
                "Stop the source's smtp service first (no new mail is accepted; senders queue and retry), after flushing its Postfix queue; count what is still queued in mailqueue/, which the final copy carries",
                Action::MailuStopSmtp,
            ),
        );
    }
    if let Some(i) = plan.steps.iter().position(|s| s.id == "final-sync") {
        plan.steps.insert(
            i + 1,
            m(
                "mailu-mailboxes",
                Phase::Cutover,
                Where::Both,
                Risk::ReadOnly,
                "Count each mailbox's messages and bytes on both servers (maildirs under mail/): the same on the new server as on the old one",
                Action::MailuMailboxes,
            ),
        );
    }
    if let Some(i) = plan.steps.iter().position(|s| s.id == "start-destination") {
        plan.steps.insert(
            i + 1,
            m(
                "mailu-check-destination",
                Phase::Cutover,
                Where::Destination,
                Risk::ReadOnly,
                "Check the destination as a mail server: an existing user logs in over IMAP with their old password, SMTP accepts mail for a local user, the DKIM private keys are identical to the source's",
                Action::MailuCheck,
            ),
        );
    }
    if plan.migration.dns.is_some() {
        dns_steps(plan);
    }
    // The recipe's banner checks name Mailu's public ports; a front on
    // other ports (the [mailu] section) is checked where it answers.
    let def = plan.migration.mailu.clone().unwrap_or_default();
    let smtp_port = def
        .smtp
        .as_deref()
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse::<u16>().ok());
    let imap_port = def
        .imap
        .as_deref()
        .and_then(|u| migrate_mail::Server::parse(u).ok())
        .map(|s| s.port);
    for c in &mut plan.checks {
        if let CheckKind::Tcp { port, .. } = &mut c.kind {
            let to = match *port {
                25 => smtp_port,
                993 => imap_port,
                _ => None,
            };
            if let Some(p) = to.filter(|p| p != port) {
                c.title = format!("{} (Mailu's {} answers on {p} here)", c.title, *port);
                *port = p;
            }
        }
    }
    if def.check_account.is_none() {
        plan.notes.push(
            "No [mailu] check_account: the destination's IMAP login and SMTP delivery checks are left to you (log in with a real account and send a test mail both ways).".into(),
        );
    }
}

/// Mail DNS checked before and after, the old server kept as a relay
/// until resolvers have forgotten it, the PTR left to a person.
fn dns_steps(plan: &mut Plan) {
    let m = |id: &str, phase, on, risk, title: String, action| PlanStep {
        id: id.to_string(),
        phase,
        on,
        title,
        risk,
        origin: "migrate".into(),
        action,
    };
    let to = plan
        .migration
        .dns
        .as_ref()
        .map(|d| d.to.join(", "))
        .unwrap_or_default();
    if let Some(i) = plan.steps.iter().position(|s| s.id == "dns-lower") {
        plan.steps.insert(
            i + 1,
            m(
                "mailu-dns-before",
                Phase::Prepare,
                Where::Operator,
                Risk::ReadOnly,
                "Check the mail DNS on every authoritative server before the move: MX, SPF, DKIM (the record matches the key in dkim/), DMARC, the mail host's address".into(),
                Action::MailuDns { after: false },
            ),
        );
    }
    if let Some(i) = plan.steps.iter().position(|s| s.id == "dns-cutover") {
        let after = [
            m(
                "mailu-dns-after",
                Phase::Finish,
                Where::Operator,
                Risk::ReadOnly,
                format!(
                    "Check the mail DNS on every authoritative server after the cutover: MX reaches {to}, SPF lets it send, the DKIM record still matches the key (it travelled unchanged), DMARC; and the PTR of {to}"
                ),
                Action::MailuDns { after: true },
            ),
            m(
                "mailu-fallback-relay",
                Phase::Finish,
                Where::Source,
                Risk::Reversible,
                format!(
                    "Keep the old server as a fallback MX: its smtp starts again and relays every mail domain to the new server ({to}) while resolvers may still send mail to the old address; its IMAP stays off"
                ),
                Action::MailuRelay,
            ),
            m(
                "mailu-ptr",
                Phase::Finish,
                Where::Operator,
                Risk::ReadOnly,
                format!(
                    "Set the reverse DNS (PTR) of {to} to the mail host name at your hosting provider"
                ),
                Action::Manual {
                    text: format!(
                        "Set the reverse DNS (PTR) of {to} to Mailu's HOSTNAMES[0] at the hosting provider (only the owner of the address can): with a wrong PTR most mail systems reject your mail (Mailu docs/dns.rst). The mail DNS check above says what it is now."
                    ),
                },
            ),
        ];
        let [check, relay, ptr] = after;
        plan.steps.insert(i + 1, check);
        // The old server changes once it relays (its queue, its Postfix
        // override): only after the whole-tree comparison, which reads
        // the source as the final copy left it.
        let at = plan
            .steps
            .iter()
            .position(|s| s.id == "verify-copy")
            .unwrap_or(i + 1)
            + 1;
        plan.steps.insert(at, relay);
        plan.steps.insert(at + 1, ptr);
    }
    plan.steps.push(m(
        "mailu-switch-off",
        Phase::Finish,
        Where::Operator,
        Risk::ReadOnly,
        "Say when the old server may be switched off: once the TTL resolvers may hold for its address has run out after the cutover".into(),
        Action::MailuSwitchOff,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::plan::CheckSpec;

    fn plan() -> Plan {
        let toml = r#"app = "mailu"
domain = "mail.example.net"
[source]
host = "local"
root = "/mailu"
compose = "/mailu"
[destination]
host = "local"
root = "/mailu"
compose = "/mailu"
[mailu]
smtp = "127.0.0.3:2525"
imap = "imap+plain://127.0.0.3:1143"
check_account = "a@example.net"
check_password_file = "/p"
"#;
        let mig: super::super::definition::Migration = toml::from_str(toml).expect("toml");
        let step = |id: &str, phase| PlanStep {
            id: id.into(),
            phase,
            on: Where::Both,
            title: id.into(),
            risk: Risk::Reversible,
            origin: "migrate".into(),
            action: Action::Preflight,
        };
        Plan {
            id: mig.id(),
            migration: mig,
            app_name: "Mailu".into(),
            facts: Default::default(),
            steps: vec![
                step("pre-sync", Phase::Sync),
                step("stop-source", Phase::Cutover),
                step("final-sync", Phase::Cutover),
                step("start-destination", Phase::Cutover),
                step("test-destination", Phase::Cutover),
            ],
            skipped: vec![],
            notes: vec![],
            checks: vec![CheckSpec {
                id: "smtp-banner".into(),
                title: "port 25 answers".into(),
                origin: "recipe mailu".into(),
                kind: CheckKind::Tcp {
                    port: 25,
                    banner: Some("220".into()),
                },
            }],
            follow_ups: vec![],
        }
    }

    #[test]
    fn smtp_stops_before_the_rest_and_the_checks_follow_the_start() {
        let mut p = plan();
        extend(&mut p);
        let ids: Vec<&str> = p.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "pre-sync",
                "mailu-stop-smtp",
                "stop-source",
                "final-sync",
                "mailu-mailboxes",
                "start-destination",
                "mailu-check-destination",
                "test-destination"
            ]
        );
        assert!(matches!(
            p.checks[0].kind,
            CheckKind::Tcp { port: 2525, .. }
        ));
    }
}
