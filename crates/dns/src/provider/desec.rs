//! deSEC (desec.readthedocs.io, desec-stack docs/dns/rrsets.rst and
//! docs/dns/domains.rst): `GET /domains/{name}/` has `minimum_ttl`;
//! `GET /domains/{name}/rrsets/` lists RRsets (`Link` pagination beyond 500);
//! a bulk `PATCH /domains/{name}/rrsets/` with `[{subname,type,ttl,records}]`
//! is atomic ("either all given RRsets are accepted ... or none of them"),
//! `records: []` deletes, the apex is `"subname": ""`. Auth
//! `Authorization: Token <token>`. Validation errors are a list, one object
//! per bulk item, e.g. `[{"ttl": ["Ensure this value is greater than or equal to 3600."]}, {}]`.
//! Bulk writes also respect deSEC's RRset write rate limits (one request).

use std::time::Duration;

use serde_json::{Value, json};

use super::http::{Http, next_link, short};
use super::{BoxFut, Provider};
use crate::change::ChangeSet;
use crate::error::{DnsError, Result};
use crate::record::{Rrset, fqdn};
use crate::secret::Secret;

/// deSEC's usual `minimum_ttl` (desec-io/desec-stack#216).
pub const DESEC_DEFAULT_MIN_TTL: u32 = 3600;

pub struct Desec {
    base: String,
    http: Http,
}

impl Desec {
    pub fn new(api_url: &str, token: Secret, timeout: Duration) -> Self {
        Desec {
            base: api_url.trim_end_matches('/').to_string(),
            http: Http::new("deSEC", "Authorization", "Token ", token, timeout),
        }
    }

    fn domain_url(&self, zone: &str) -> String {
        format!(
            "{}/domains/{}/",
            self.base,
            fqdn(zone).trim_end_matches('.')
        )
    }

    fn subname(name: &str, zone: &str) -> String {
        let rel = crate::record::relative(name, zone);
        if rel == "@" { String::new() } else { rel }
    }

    async fn minimum(&self, zone: &str) -> Result<u32> {
        let r = self
            .http
            .request("GET", &self.domain_url(zone), None, &[])
            .await?;
        if r.status != 200 {
            return Err(DnsError::Api {
                provider: "deSEC".into(),
                message: format!(
                    "reading domain {zone} failed with HTTP {}: {}",
                    r.status,
                    short(&r.body)
                ),
            });
        }
        let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        Ok(v.get("minimum_ttl")
            .and_then(Value::as_u64)
            .map(|m| m as u32)
            .unwrap_or(DESEC_DEFAULT_MIN_TTL))
    }
}

impl Provider for Desec {
    fn name(&self) -> &'static str {
        "desec"
    }

    fn min_ttl<'a>(&'a self, zone: &'a str) -> BoxFut<'a, Result<u32>> {
        Box::pin(self.minimum(zone))
    }

    fn list<'a>(&'a self, zone: &'a str) -> BoxFut<'a, Result<Option<Vec<Rrset>>>> {
        Box::pin(async move {
            let mut url = format!("{}rrsets/", self.domain_url(zone));
            let mut out = Vec::new();
            for _page in 0..1000 {
                let r = self.http.request("GET", &url, None, &[]).await?;
                if r.status == 400 && !url.contains("cursor=") {
                    // More than 500 RRsets: pagination must be asked for.
                    url = format!("{}rrsets/?cursor=", self.domain_url(zone));
                    continue;
                }
                if r.status != 200 {
                    return Err(DnsError::Api {
                        provider: "deSEC".into(),
                        message: format!(
                            "listing RRsets failed with HTTP {}: {}",
                            r.status,
                            short(&r.body)
                        ),
                    });
                }
                let v: Value = serde_json::from_str(&r.body).map_err(|e| DnsError::Api {
                    provider: "deSEC".into(),
                    message: format!("RRset listing is not JSON: {e}"),
                })?;
                for s in v.as_array().into_iter().flatten() {
                    let sub = s.get("subname").and_then(Value::as_str).unwrap_or_default();
                    let owner = if sub.is_empty() {
                        fqdn(zone)
                    } else {
                        format!("{sub}.{}", fqdn(zone))
                    };
                    let values = s
                        .get("records")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect();
                    out.push(Rrset::new(
                        &owner,
                        s.get("type").and_then(Value::as_str).unwrap_or_default(),
                        s.get("ttl").and_then(Value::as_u64).unwrap_or(0) as u32,
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
            if set.is_empty() {
                return Ok(());
            }
            let body: Vec<Value> = set
                .changes
                .iter()
                .map(|c| match &c.after {
                    Some(a) => json!({"subname": Self::subname(&a.name, &set.zone), "type": a.rtype, "ttl": a.ttl, "records": a.values}),
                    None => json!({"subname": Self::subname(c.name(), &set.zone), "type": c.rtype(), "records": []}),
                })
                .collect();
            let url = format!("{}rrsets/", self.domain_url(&set.zone));
            let r = self
                .http
                .request("PATCH", &url, Some(Value::Array(body)), &[])
                .await?;
            if r.status / 100 == 2 {
                return Ok(());
            }
            let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            let ttl_refused = v
                .as_array()
                .into_iter()
                .flatten()
                .any(|item| item.get("ttl").is_some());
            if r.status == 400 && ttl_refused {
                let requested = set
                    .changes
                    .iter()
                    .filter_map(|c| c.after.as_ref().map(|a| a.ttl))
                    .min()
                    .unwrap_or(0);
                let minimum = self
                    .minimum(&set.zone)
                    .await
                    .unwrap_or(DESEC_DEFAULT_MIN_TTL);
                return Err(DnsError::BelowMinimumTtl {
                    provider: "deSEC".into(),
                    requested,
                    minimum,
                    consequence: format!(
                        "deSEC said: {}. Nothing was changed (bulk requests are atomic)",
                        short(&r.body)
                    ),
                });
            }
            Err(DnsError::Api {
                provider: "deSEC".into(),
                message: format!(
                    "bulk PATCH failed with HTTP {}: {}. Nothing was changed (bulk requests are atomic)",
                    r.status,
                    short(&r.body)
                ),
            })
        })
    }
}
