//! RFC 2136 dynamic UPDATE signed with TSIG (RFC 8945): BIND, Knot,
//! PowerDNS and anything else that takes updates.
//!
//! Every change set is ONE UPDATE message, so the server applies all of it
//! or none of it. Each replaced RRset carries a value-dependent prerequisite
//! (RFC 2136 §2.4.2) with what was read, so a zone edited by someone else in
//! the meantime is refused rather than overwritten. A TTL change is "delete
//! RRset + add" because Knot ignores an add that differs only in TTL
//! ("DDNS, finished, no changes to the zone were made").

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::update_message::UpdateMessage;
use hickory_proto::op::{Message, OpCode, Query};
use hickory_proto::rr::{DNSClass, RecordType};

use super::{BoxFut, Provider};
use crate::change::ChangeSet;
use crate::error::Result;
use crate::query;
use crate::record::{Rrset, parse_name};
use crate::secret::TsigKey;

pub struct Rfc2136 {
    server: SocketAddr,
    key: Option<TsigKey>,
    timeout: Duration,
}

impl Rfc2136 {
    pub fn new(server: SocketAddr, key: Option<TsigKey>, timeout: Duration) -> Self {
        Rfc2136 {
            server,
            key,
            timeout,
        }
    }

    /// The UPDATE message for a change set (public so tests and `--dry-run`
    /// can look at exactly what would be sent).
    pub fn message(set: &ChangeSet) -> Result<Message> {
        let origin = parse_name(&set.zone)?;
        let mut msg = Message::query();
        msg.metadata.op_code = OpCode::Update;
        msg.metadata.recursion_desired = false;
        let mut zq = Query::new();
        zq.set_name(origin)
            .set_query_class(DNSClass::IN)
            .set_query_type(RecordType::SOA);
        msg.add_zone(zq);
        for c in &set.changes {
            match &c.before {
                Some(before) => {
                    // Prerequisite: the RRset is exactly what we read
                    // (class IN, TTL 0, every RR: RFC 2136 §2.4.2).
                    for mut r in before.to_records()? {
                        r.ttl = 0;
                        msg.add_pre_requisite(r);
                    }
                    // Delete the RRset: class ANY, TTL 0, no RDATA (§2.5.2).
                    let mut del = hickory_proto::rr::Record::update0(
                        before.owner()?,
                        0,
                        before.record_type()?,
                    );
                    del.dns_class = DNSClass::ANY;
                    msg.add_update(del);
                }
                None => {
                    if let Some(after) = &c.after {
                        // Prerequisite: the RRset does not exist (class NONE, §2.4.3).
                        let mut pre = hickory_proto::rr::Record::update0(
                            after.owner()?,
                            0,
                            after.record_type()?,
                        );
                        pre.dns_class = DNSClass::NONE;
                        msg.add_pre_requisite(pre);
                    }
                }
            }
            if let Some(after) = &c.after {
                for r in after.to_records()? {
                    msg.add_update(r);
                }
            }
        }
        Ok(msg)
    }
}

impl Provider for Rfc2136 {
    fn name(&self) -> &'static str {
        "rfc2136"
    }

    fn min_ttl<'a>(&'a self, _zone: &'a str) -> BoxFut<'a, Result<u32>> {
        Box::pin(async { Ok(1) })
    }

    fn list<'a>(&'a self, zone: &'a str) -> BoxFut<'a, Result<Option<Vec<Rrset>>>> {
        Box::pin(async move {
            match query::axfr(self.server, zone, self.key.as_ref(), self.timeout).await {
                Ok(sets) => Ok(Some(sets)),
                // A zone transfer may simply not be allowed; the safety limit
                // then says it could not be applied.
                Err(e) => {
                    tracing::info!(error = %e, "AXFR not available");
                    Ok(None)
                }
            }
        })
    }

    fn apply<'a>(&'a self, set: &'a ChangeSet) -> BoxFut<'a, Result<()>> {
        Box::pin(async move {
            if set.is_empty() {
                return Ok(());
            }
            let msg = Self::message(set)?;
            query::send_update(self.server, self.key.as_ref(), msg, self.timeout).await
        })
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::update_message::UpdateMessage;
    use hickory_proto::rr::DNSClass;

    use super::*;
    use crate::change::Change;

    #[test]
    fn one_message_with_prerequisites_delete_and_add() {
        let before = Rrset::new("cloud.example.test", "A", 3600, vec!["192.0.2.10".into()]);
        let mut after = before.clone();
        after.ttl = 300;
        let wildcard = Rrset::new(
            "*.cloud.example.test",
            "A",
            300,
            vec!["198.51.100.20".into()],
        );
        let set = ChangeSet {
            zone: "example.test.".into(),
            purpose: "t".into(),
            changes: vec![
                Change {
                    before: Some(before),
                    after: Some(after),
                },
                Change {
                    before: None,
                    after: Some(wildcard),
                },
            ],
        };
        let m = Rfc2136::message(&set).unwrap();
        // Value-dependent prerequisite for the existing RRset, "does not
        // exist" for the new one.
        let pre = m.prerequisites();
        assert_eq!(pre.len(), 2);
        assert_eq!(pre[0].dns_class, DNSClass::IN);
        assert_eq!(pre[0].ttl, 0);
        assert_eq!(pre[1].dns_class, DNSClass::NONE);
        // Delete-RRset (class ANY) then the adds: Knot ignores TTL-only adds.
        let up = m.updates();
        assert_eq!(up.len(), 3);
        assert_eq!(up[0].dns_class, DNSClass::ANY);
        assert_eq!(up[1].ttl, 300);
        assert_eq!(up[2].name.to_ascii(), "*.cloud.example.test.");
    }
}
