//! Gandi LiveDNS v5 (api.gandi.net/docs/livedns/): RRsets under
//! `/domains/{fqdn}/records/{name}/{type}` (PUT `{"rrset_ttl","rrset_values"}`,
//! DELETE), listing at `/domains/{fqdn}/records` (paginated by `Link`),
//! `Authorization: Bearer <personal access token>`, a `Dry-Run: 1` header
//! that validates without changing anything, errors as
//! `{"code","message","cause","errors":[{"location","name","description"}]}`
//! (go-gandi internal/client/gandi.go and types.StandardResponse).
//! Minimum TTL 300 s (octodns/octodns#1234).
//!
//! Gandi has no multi-RRset transaction, so every change is first sent with
//! `Dry-Run: 1`; only when all of them validate are they sent for real.

use std::time::Duration;

use serde_json::{Value, json};

use super::http::{Http, next_link, short};
use super::{BoxFut, Provider};
use crate::change::ChangeSet;
use crate::error::{DnsError, Result};
use crate::record::{Rrset, fqdn};
use crate::secret::Secret;

pub const GANDI_MIN_TTL: u32 = 300;

pub struct Gandi {
    base: String,
    http: Http,
    min_ttl: u32,
}

impl Gandi {
    pub fn new(api_url: &str, token: Secret, min_ttl: Option<u32>, timeout: Duration) -> Self {
        Gandi {
            base: api_url.trim_end_matches('/').to_string(),
            http: Http::new("Gandi", "Authorization", "Bearer ", token, timeout),
            min_ttl: min_ttl.unwrap_or(GANDI_MIN_TTL),
        }
    }

    fn domain(zone: &str) -> String {
        fqdn(zone).trim_end_matches('.').to_string()
    }

    fn error(&self, what: &str, status: u16, body: &str, requested_ttl: Option<u32>) -> DnsError {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let details: Vec<(String, String)> = v
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    e.get("description")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect();
        if let (Some(ttl), true) = (requested_ttl, details.iter().any(|(n, _)| n == "rrset_ttl")) {
            return DnsError::BelowMinimumTtl {
                provider: "Gandi LiveDNS".into(),
                requested: ttl,
                minimum: GANDI_MIN_TTL,
                consequence: format!(
                    "Gandi said: {}. Nothing was changed",
                    details
                        .iter()
                        .map(|(n, d)| format!("{n}: {d}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            };
        }
        let msg = if details.is_empty() {
            v.get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| short(body))
        } else {
            details
                .iter()
                .map(|(n, d)| format!("{n}: {d}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        DnsError::Api {
            provider: "Gandi".into(),
            message: format!("{what} failed with HTTP {status}: {msg}"),
        }
    }
}

impl Provider for Gandi {
    fn name(&self) -> &'static str {
        "gandi"
    }

    fn min_ttl<'a>(&'a self, _zone: &'a str) -> BoxFut<'a, Result<u32>> {
        Box::pin(async move { Ok(self.min_ttl) })
    }

    fn list<'a>(&'a self, zone: &'a str) -> BoxFut<'a, Result<Option<Vec<Rrset>>>> {
        Box::pin(async move {
            let mut url = format!("{}/domains/{}/records", self.base, Self::domain(zone));
            let mut out = Vec::new();
            for _page in 0..1000 {
                let r = self.http.request("GET", &url, None, &[]).await?;
                if r.status != 200 {
                    return Err(self.error("listing records", r.status, &r.body, None));
                }
                let v: Value = serde_json::from_str(&r.body).map_err(|e| DnsError::Api {
                    provider: "Gandi".into(),
                    message: format!("record listing is not JSON: {e}"),
                })?;
                for s in v.as_array().into_iter().flatten() {
                    let name = s.get("rrset_name").and_then(Value::as_str).unwrap_or("@");
                    let owner = if name == "@" {
                        fqdn(zone)
                    } else {
                        format!("{name}.{}", fqdn(zone))
                    };
                    let values = s
                        .get("rrset_values")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect();
                    out.push(Rrset::new(
                        &owner,
                        s.get("rrset_type")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                        s.get("rrset_ttl").and_then(Value::as_u64).unwrap_or(0) as u32,
                        values,
                    ));
                }
                match next_link(r.link.as_deref()) {
                    Some(next) => url = next,
                    None => break,
                }
            }
            Ok(Some(out))
        })
    }

    fn apply<'a>(&'a self, set: &'a ChangeSet) -> BoxFut<'a, Result<()>> {
        Box::pin(async move {
            let domain = Self::domain(&set.zone);
            let mut applied: Vec<String> = Vec::new();
            for dry in [true, false] {
                let extra: &[(&'static str, &'static str)] =
                    if dry { &[("Dry-Run", "1")] } else { &[] };
                for c in &set.changes {
                    let rel = c
                        .after
                        .as_ref()
                        .or(c.before.as_ref())
                        .map(|r| r.relative_name(&set.zone))
                        .unwrap_or_default();
                    let url = format!("{}/domains/{domain}/records/{rel}/{}", self.base, c.rtype());
                    let (reply, ttl) = match &c.after {
                        Some(a) => (
                            self.http
                                .request(
                                    "PUT",
                                    &url,
                                    Some(json!({"rrset_ttl": a.ttl, "rrset_values": a.values})),
                                    extra,
                                )
                                .await?,
                            Some(a.ttl),
                        ),
                        None => (self.http.request("DELETE", &url, None, extra).await?, None),
                    };
                    if reply.status / 100 != 2 {
                        let e = self.error(
                            &format!(
                                "{} {rel} {}",
                                if dry { "validating" } else { "changing" },
                                c.rtype()
                            ),
                            reply.status,
                            &reply.body,
                            ttl,
                        );
                        if applied.is_empty() {
                            return Err(e);
                        }
                        return Err(DnsError::Api {
                            provider: "Gandi".into(),
                            message: format!(
                                "{e}; ALREADY APPLIED before this failure: {}",
                                applied.join(", ")
                            ),
                        });
                    }
                    if !dry {
                        applied.push(c.diff_line());
                    }
                }
            }
            Ok(())
        })
    }
}
