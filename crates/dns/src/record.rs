//! Provider-neutral RRsets. Values are kept in zone-file presentation form
//! ("10 mail.example.net.", "\"v=spf1 mx -all\"") so the same data can be
//! printed as a diff, sent to an HTTP API or turned into wire records.

use std::fmt;
use std::str::FromStr;

use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use serde::{Deserialize, Serialize};

use crate::error::{DnsError, Result};

/// The record types a migration reads and may change.
pub const MOVED_TYPES: [RecordType; 7] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::MX,
    RecordType::TXT,
    RecordType::SRV,
    RecordType::CAA,
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rrset {
    /// Fully qualified, lower case, with the trailing dot.
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub ttl: u32,
    /// Sorted presentation-form values.
    pub values: Vec<String>,
}

impl Rrset {
    pub fn new(name: &str, rtype: &str, ttl: u32, mut values: Vec<String>) -> Self {
        values.sort();
        values.dedup();
        Rrset {
            name: fqdn(name),
            rtype: rtype.to_ascii_uppercase(),
            ttl,
            values,
        }
    }

    /// Groups wire records (one name) into RRsets per type.
    pub fn from_records(records: &[Record]) -> Vec<Rrset> {
        let mut out: Vec<Rrset> = Vec::new();
        for r in records {
            if r.dns_class != DNSClass::IN {
                continue;
            }
            let rtype = r.record_type().to_string();
            let name = fqdn(&r.name.to_ascii());
            let value = present(&r.data);
            match out.iter_mut().find(|s| s.name == name && s.rtype == rtype) {
                Some(s) => {
                    // An RRset has one TTL; if a server serves mixed TTLs,
                    // the largest is what a resolver may hold longest.
                    s.ttl = s.ttl.max(r.ttl);
                    if !s.values.contains(&value) {
                        s.values.push(value);
                        s.values.sort();
                    }
                }
                None => out.push(Rrset::new(&name, &rtype, r.ttl, vec![value])),
            }
        }
        out
    }

    pub fn key(&self) -> (String, String) {
        (self.name.clone(), self.rtype.clone())
    }

    pub fn same_key(&self, other: &Rrset) -> bool {
        self.name == other.name && self.rtype == other.rtype
    }

    pub fn record_type(&self) -> Result<RecordType> {
        RecordType::from_str(&self.rtype)
            .map_err(|_| DnsError::Invalid(format!("unknown record type {}", self.rtype)))
    }

    pub fn owner(&self) -> Result<Name> {
        parse_name(&self.name)
    }

    /// Wire records for an UPDATE add section.
    pub fn to_records(&self) -> Result<Vec<Record>> {
        let name = self.owner()?;
        let rt = self.record_type()?;
        self.values
            .iter()
            .map(|v| {
                let data = RData::try_from_str(rt, v).map_err(|e| {
                    DnsError::Invalid(format!("{} {} value {v:?}: {e}", self.name, self.rtype))
                })?;
                Ok(Record::from_rdata(name.clone(), self.ttl, data))
            })
            .collect()
    }

    /// One zone-file line per value.
    pub fn zone_lines(&self) -> Vec<String> {
        self.values
            .iter()
            .map(|v| format!("{} {} IN {} {}", self.name, self.ttl, self.rtype, v))
            .collect()
    }

    /// The name relative to `zone` ("@" for the apex), as HTTP APIs want it.
    pub fn relative_name(&self, zone: &str) -> String {
        relative(&self.name, zone)
    }
}

impl fmt::Display for Rrset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.name,
            self.ttl,
            self.rtype,
            self.values.join(" | ")
        )
    }
}

/// "Cloud.Example.NET" -> "cloud.example.net."
pub fn fqdn(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    if n.ends_with('.') { n } else { format!("{n}.") }
}

pub fn parse_name(name: &str) -> Result<Name> {
    Name::from_ascii(fqdn(name))
        .map_err(|e| DnsError::Invalid(format!("bad domain name {name:?}: {e}")))
}

/// `name` relative to `zone`: "@" for the apex, "www" for www.zone.
pub fn relative(name: &str, zone: &str) -> String {
    let (n, z) = (fqdn(name), fqdn(zone));
    if n == z {
        "@".to_string()
    } else if let Some(prefix) = n.strip_suffix(&format!(".{z}")) {
        prefix.to_string()
    } else {
        n
    }
}

/// Presentation form of RDATA. hickory's TXT Display joins the strings
/// without quotes, which would not parse back, so TXT is quoted here.
pub fn present(data: &RData) -> String {
    match data {
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|s| quote_txt(&String::from_utf8_lossy(s)))
            .collect::<Vec<_>>()
            .join(" "),
        RData::CNAME(n) => fqdn(&n.0.to_ascii()),
        RData::MX(mx) => format!("{} {}", mx.preference, fqdn(&mx.exchange.to_ascii())),
        RData::PTR(n) => fqdn(&n.0.to_ascii()),
        RData::NS(n) => fqdn(&n.0.to_ascii()),
        other => other.to_string(),
    }
}

pub fn quote_txt(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The text of a TXT value with its quoting removed and strings joined
/// (what SPF/DMARC parsers see).
pub fn unquote_txt(v: &str) -> String {
    let mut out = String::new();
    let mut in_q = false;
    let mut esc = false;
    for c in v.chars() {
        if esc {
            out.push(c);
            esc = false;
        } else if c == '\\' && in_q {
            esc = true;
        } else if c == '"' {
            in_q = !in_q;
        } else if in_q || !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_round_trips_through_wire_form() {
        let set = Rrset::new(
            "example.test",
            "TXT",
            300,
            vec![quote_txt("v=spf1 mx \"q\" -all")],
        );
        let recs = set.to_records().unwrap();
        let back = Rrset::from_records(&recs);
        assert_eq!(back, vec![set]);
        assert_eq!(unquote_txt(&back[0].values[0]), "v=spf1 mx \"q\" -all");
    }

    #[test]
    fn relative_names() {
        assert_eq!(relative("example.test.", "example.test"), "@");
        assert_eq!(relative("Cloud.Example.test", "example.test."), "cloud");
        assert_eq!(relative("*.cloud.example.test", "example.test."), "*.cloud");
    }
}
