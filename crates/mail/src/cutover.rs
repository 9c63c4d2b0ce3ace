//! The mail cutover as ordered plan steps, for `migrate app mailu` to embed
//! and `migrate mail cutover` to print. The order follows imapsync's
//! migration plan (FAQ.Migration_Plan, facts/peers.md §4) and Mailu's
//! "Migrating an instance" (docs/maintain.rst, facts/apps.md §4.4): lower
//! the MX TTL early, pre-sync repeatedly while users still work on the old
//! server (the last pre-sync measures how long the final one will take),
//! switch MX and A, wait out the old TTL, post-sync the mail that still
//! reached the old server, restore the TTLs; mail DNS checks before and
//! after. The mail DNS check itself is migrate-dns's (`migrate_dns::mail`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Check,
    Prepare,
    Sync,
    Cutover,
    Finish,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The DNS provider of the mail domain.
    Dns,
    /// The old mail server.
    Old,
    /// The new mail server.
    New,
    /// Both servers (IMAP sync runs between them).
    Both,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// MX, SPF, DKIM, DMARC and PTR (migrate-dns `mail::check`).
    MailDnsCheck {
        domain: String,
        host: String,
        ip: Option<IpAddr>,
        dkim_selector: String,
        expect_new: bool,
    },
    LowerTtl {
        names: Vec<String>,
        ttl: u32,
    },
    Wait {
        seconds: u64,
    },
    ProvisionUsers,
    PreSync {
        round: u32,
        of: u32,
        measure: bool,
    },
    StopOldAccess,
    FinalSync,
    SwitchRecords {
        mx_host: String,
        new_ip: Option<IpAddr>,
    },
    PostSync,
    RestoreTtl {
        names: Vec<String>,
        ttl: u32,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub id: String,
    pub phase: Phase,
    pub target: Target,
    /// One sentence for the runbook.
    pub text: String,
    pub action: Action,
}

#[derive(Debug, Clone)]
pub struct Cutover {
    pub domain: String,
    /// The MX host name (Mailu's HOSTNAMES[0]).
    pub mx_host: String,
    pub new_ip: Option<IpAddr>,
    /// The TTL the MX and A records have now.
    pub old_ttl: u32,
    /// The TTL during the migration (imapsync's plan: 5 minutes).
    pub low_ttl: u32,
    pub presyncs: u32,
    pub dkim_selector: String,
    /// Duration of the last pre-sync, once measured: the final sync copies
    /// only what arrived since, so it takes about as long (the scan of
    /// every folder dominates).
    pub last_presync: Option<Duration>,
}

impl Cutover {
    pub fn new(domain: &str, mx_host: &str) -> Cutover {
        Cutover {
            domain: domain.trim_end_matches('.').to_string(),
            mx_host: mx_host.trim_end_matches('.').to_string(),
            new_ip: None,
            old_ttl: 3600,
            low_ttl: 300,
            presyncs: 2,
            dkim_selector: "dkim".into(),
            last_presync: None,
        }
    }

    pub fn steps(&self) -> Vec<Step> {
        let d = &self.domain;
        let h = &self.mx_host;
        let names = vec![format!("{d}. MX"), format!("{h}. A/AAAA")];
        let mut v = Vec::new();
        let mut push = |id: String, phase, target, text: String, action| {
            v.push(Step {
                id,
                phase,
                target,
                text,
                action,
            })
        };
        let check = |expect_new| Action::MailDnsCheck {
            domain: d.clone(),
            host: h.clone(),
            ip: self.new_ip,
            dkim_selector: self.dkim_selector.clone(),
            expect_new,
        };
        push(
            "mail-dns-before".into(),
            Phase::Check,
            Target::Dns,
            format!(
                "Check the mail records of {d} (MX, SPF, DKIM selector {}, DMARC) and that the new address has a PTR naming {h}.",
                self.dkim_selector
            ),
            check(false),
        );
        push(
            "lower-mx-ttl".into(),
            Phase::Prepare,
            Target::Dns,
            format!(
                "Lower the TTL of the MX of {d} and the address of {h} from {} s to {} s.",
                self.old_ttl, self.low_ttl
            ),
            Action::LowerTtl {
                names: names.clone(),
                ttl: self.low_ttl,
            },
        );
        push(
            "provision-users".into(),
            Phase::Prepare,
            Target::New,
            "Create the mailboxes on the new server from the users file (migrate mail users)."
                .into(),
            Action::ProvisionUsers,
        );
        for round in 1..=self.presyncs.max(1) {
            let last = round == self.presyncs.max(1);
            push(
                format!("presync-{round}"),
                Phase::Sync,
                Target::Both,
                if last {
                    "Pre-sync every mailbox again while users still work on the old server; its duration is what the final sync will take.".to_string()
                } else {
                    format!(
                        "Pre-sync every mailbox (round {round}) while users still work on the old server; it copies the bulk."
                    )
                },
                Action::PreSync {
                    round,
                    of: self.presyncs.max(1),
                    measure: last,
                },
            );
        }
        push(
            "wait-old-ttl".into(),
            Phase::Prepare,
            Target::Dns,
            format!(
                "Wait {} s after lowering, so every resolver holds the {} s TTL before the switch.",
                self.old_ttl, self.low_ttl
            ),
            Action::Wait {
                seconds: u64::from(self.old_ttl),
            },
        );
        push(
            "stop-old-access".into(),
            Phase::Cutover,
            Target::Old,
            "Tell users, and stop IMAP/POP access on the old server (mail still arrives there until the switch).".into(),
            Action::StopOldAccess,
        );
        let estimate = self
            .last_presync
            .map(|d| {
                format!(
                    " (about {} s, as long as the last pre-sync)",
                    d.as_secs().max(1)
                )
            })
            .unwrap_or_default();
        push(
            "final-sync".into(),
            Phase::Cutover,
            Target::Both,
            format!("Final sync of every mailbox{estimate}."),
            Action::FinalSync,
        );
        push(
            "switch-mx".into(),
            Phase::Cutover,
            Target::Dns,
            match self.new_ip {
                Some(ip) => format!("Point the MX of {d} at {h} and {h} at {ip}."),
                None => format!("Point the MX of {d} at {h} and {h} at the new server."),
            },
            Action::SwitchRecords {
                mx_host: h.clone(),
                new_ip: self.new_ip,
            },
        );
        push(
            "wait-ttl".into(),
            Phase::Cutover,
            Target::Dns,
            format!(
                "Wait {} s (the lowered TTL) until senders deliver to the new server only.",
                self.low_ttl
            ),
            Action::Wait {
                seconds: u64::from(self.low_ttl),
            },
        );
        push(
            "post-sync".into(),
            Phase::Finish,
            Target::Both,
            "Post-sync: copy the mail that still reached the old server during the switch (incremental; never --delete now).".into(),
            Action::PostSync,
        );
        push(
            "restore-ttl".into(),
            Phase::Finish,
            Target::Dns,
            format!(
                "Restore the TTL of the MX of {d} and of {h} to {} s.",
                self.old_ttl
            ),
            Action::RestoreTtl {
                names,
                ttl: self.old_ttl,
            },
        );
        push(
            "mail-dns-after".into(),
            Phase::Finish,
            Target::Dns,
            format!(
                "Check the mail records of {d} again: MX names {h}, SPF allows the new address, DKIM carried over, DMARC, PTR."
            ),
            check(true),
        );
        v
    }
}

/// The migrate-dns request for a `MailDnsCheck` step: `server` is an
/// authoritative server of the zone, `lookup` a resolver for PTR and the
/// host's address.
pub fn dns_check_request(
    action: &Action,
    server: SocketAddr,
    lookup: SocketAddr,
) -> Option<migrate_dns::mail::MailCheck> {
    let Action::MailDnsCheck {
        domain,
        host,
        ip,
        dkim_selector,
        ..
    } = action
    else {
        return None;
    };
    Some(migrate_dns::mail::MailCheck {
        domain: domain.clone(),
        host: Some(host.clone()),
        ip: *ip,
        dkim_selector: dkim_selector.clone(),
        server,
        lookup,
        lookup_recursive: true,
        timeout: Duration::from_secs(5),
    })
}

/// Run a mail DNS check step through migrate-dns.
pub async fn dns_check(
    c: &migrate_dns::mail::MailCheck,
) -> Result<Vec<migrate_dns::mail::Finding>, migrate_dns::DnsError> {
    migrate_dns::mail::check(c).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_follows_the_plan() {
        let mut c = Cutover::new("example.org.", "mail.example.org");
        c.presyncs = 3;
        c.last_presync = Some(Duration::from_secs(42));
        let ids: Vec<_> = c.steps().iter().map(|s| s.id.clone()).collect();
        assert_eq!(
            ids,
            [
                "mail-dns-before",
                "lower-mx-ttl",
                "provision-users",
                "presync-1",
                "presync-2",
                "presync-3",
                "wait-old-ttl",
                "stop-old-access",
                "final-sync",
                "switch-mx",
                "wait-ttl",
                "post-sync",
                "restore-ttl",
                "mail-dns-after"
            ]
        );
        let steps = c.steps();
        assert!(matches!(
            steps[5].action,
            Action::PreSync { measure: true, .. }
        ));
        assert!(matches!(
            steps[3].action,
            Action::PreSync { measure: false, .. }
        ));
        assert!(steps[8].text.contains("about 42 s"));
        let req = dns_check_request(
            &steps[0].action,
            "127.0.0.1:53".parse().unwrap(),
            "127.0.0.1:53".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(req.domain, "example.org");
    }
}
