//! A change is a list of RRset transitions (before -> after). It is what
//! `--dry-run` prints, what the safety limit measures and what a provider
//! applies, so all three always agree.

use serde::{Deserialize, Serialize};

use crate::error::{DnsError, Result};
use crate::record::Rrset;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// What the zone holds now (None: the RRset does not exist).
    pub before: Option<Rrset>,
    /// What it should hold (None: delete the RRset).
    pub after: Option<Rrset>,
}

impl Change {
    pub fn name(&self) -> &str {
        self.after
            .as_ref()
            .or(self.before.as_ref())
            .map(|r| r.name.as_str())
            .unwrap_or_default()
    }
    pub fn rtype(&self) -> &str {
        self.after
            .as_ref()
            .or(self.before.as_ref())
            .map(|r| r.rtype.as_str())
            .unwrap_or_default()
    }

    /// One diff line: `~ name TYPE ttl 3600 -> 300 | values`.
    pub fn diff_line(&self) -> String {
        match (&self.before, &self.after) {
            (None, Some(a)) => format!(
                "+ {} {} ttl {} {}",
                a.name,
                a.rtype,
                a.ttl,
                a.values.join(", ")
            ),
            (Some(b), None) => format!(
                "- {} {} ttl {} {}",
                b.name,
                b.rtype,
                b.ttl,
                b.values.join(", ")
            ),
            (Some(b), Some(a)) => {
                let ttl = if a.ttl == b.ttl {
                    format!("ttl {}", a.ttl)
                } else {
                    format!("ttl {} -> {}", b.ttl, a.ttl)
                };
                let vals = if a.values == b.values {
                    a.values.join(", ")
                } else {
                    format!("{} -> {}", b.values.join(", "), a.values.join(", "))
                };
                format!("~ {} {} {} {}", a.name, a.rtype, ttl, vals)
            }
            (None, None) => String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSet {
    pub zone: String,
    /// Why: "lower TTLs", "cutover", ...
    pub purpose: String,
    pub changes: Vec<Change>,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn diff(&self) -> String {
        let mut s = format!("zone {} ({}):\n", self.zone, self.purpose);
        if self.changes.is_empty() {
            s.push_str("  (no change needed)\n");
        }
        for c in &self.changes {
            s.push_str("  ");
            s.push_str(&c.diff_line());
            s.push('\n');
        }
        s
    }

    /// What every authoritative server must serve once the change is live.
    pub fn expected(&self) -> Vec<Rrset> {
        self.changes
            .iter()
            .filter_map(|c| c.after.clone())
            .collect()
    }

    /// RRsets that must be gone once the change is live.
    pub fn removed(&self) -> Vec<(String, String)> {
        self.changes
            .iter()
            .filter(|c| c.after.is_none())
            .filter_map(|c| c.before.as_ref().map(Rrset::key))
            .collect()
    }

    /// Numbered, provider-neutral steps a person can follow in any DNS panel.
    pub fn manual_instructions(&self) -> String {
        let mut s = format!(
            "In the DNS control panel of zone {} make these {} change(s) ({}):\n",
            self.zone.trim_end_matches('.'),
            self.changes.len(),
            self.purpose
        );
        for (i, c) in self.changes.iter().enumerate() {
            let n = i + 1;
            let step = match (&c.before, &c.after) {
                (None, Some(a)) => format!(
                    "{n}. ADD record {} type {} with TTL {} and value(s): {}",
                    a.relative_name(&self.zone),
                    a.rtype,
                    a.ttl,
                    a.values.join(" ; ")
                ),
                (Some(b), None) => format!(
                    "{n}. DELETE every {} record of {} (value(s) now: {})",
                    b.rtype,
                    b.relative_name(&self.zone),
                    b.values.join(" ; ")
                ),
                (Some(b), Some(a)) => {
                    let mut what = Vec::new();
                    if a.ttl != b.ttl {
                        what.push(format!("set TTL from {} to {}", b.ttl, a.ttl));
                    }
                    if a.values != b.values {
                        what.push(format!(
                            "replace value(s) {} with {}",
                            b.values.join(" ; "),
                            a.values.join(" ; ")
                        ));
                    } else {
                        what.push(format!("keep value(s) {}", a.values.join(" ; ")));
                    }
                    format!(
                        "{n}. EDIT record {} type {}: {}",
                        a.relative_name(&self.zone),
                        a.rtype,
                        what.join(", ")
                    )
                }
                (None, None) => continue,
            };
            s.push_str(&step);
            s.push('\n');
        }
        s.push_str("The same, as zone-file lines once done:\n");
        for c in &self.changes {
            if let Some(a) = &c.after {
                for l in a.zone_lines() {
                    s.push_str("    ");
                    s.push_str(&l);
                    s.push('\n');
                }
            }
        }
        s
    }
}

/// octoDNS's rule (octodns/provider/plan.py: MAX_SAFE_UPDATE_PCENT = 0.3,
/// applied only from MIN_EXISTING_RECORDS = 10): a change touching more
/// than `max_share` of a zone of at least 10 RRsets is refused unless forced.
/// TTL-only changes do not count: they change how long answers are cached,
/// not what the zone answers, and counting them would make lowering the
/// apex of a typical 10-20 RRset zone need --force every time (which trains
/// operators to always pass it).
pub fn check_safety(
    set: &ChangeSet,
    zone_rrsets: Option<usize>,
    max_share: f64,
    force: bool,
) -> Result<Option<String>> {
    let touched = set
        .changes
        .iter()
        .filter(|c| match (&c.before, &c.after) {
            (Some(b), Some(a)) => b.values != a.values,
            _ => true,
        })
        .count();
    if touched == 0 {
        return Ok(None);
    }
    let Some(total) = zone_rrsets else {
        return Ok(Some(
            "the zone's size is unknown (the provider does not list it), so the change-share safety limit was not applied".into(),
        ));
    };
    if total < 10 {
        return Ok(None);
    }
    let share = touched as f64 / total as f64;
    if share > max_share {
        if force {
            return Ok(Some(format!(
                "--force: touching {touched} of {total} RRsets ({:.0}%) despite the {:.0}% safety limit",
                share * 100.0,
                max_share * 100.0
            )));
        }
        return Err(DnsError::SafetyLimit {
            touched,
            total,
            pct: share * 100.0,
            limit_pct: max_share * 100.0,
        });
    }
    Ok(None)
}
