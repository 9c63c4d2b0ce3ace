//! PowerDNS Authoritative HTTP API (doc.powerdns.com/authoritative/http-api/zone.html):
//! `GET /api/v1/servers/{id}/zones/{zone}` lists RRsets, `PATCH` with
//! `changetype: REPLACE|DELETE` changes them in one database transaction.
//! Auth header `X-API-Key`.

use std::time::Duration;

use serde_json::{Value, json};

use super::http::{Http, short};
use super::{BoxFut, Provider};
use crate::change::ChangeSet;
use crate::error::{DnsError, Result};
use crate::record::{Rrset, fqdn};
use crate::secret::Secret;

pub struct PowerDns {
    base: String,
    http: Http,
}

impl PowerDns {
    pub fn new(api_url: &str, server_id: &str, key: Secret, timeout: Duration) -> Self {
        let root = api_url.trim_end_matches('/').trim_end_matches("/api/v1");
        PowerDns {
            base: format!("{root}/api/v1/servers/{server_id}"),
            http: Http::new("PowerDNS", "X-API-Key", "", key, timeout),
        }
    }

    fn zone_url(&self, zone: &str) -> String {
        format!("{}/zones/{}", self.base, fqdn(zone))
    }

    fn err(&self, what: &str, status: u16, body: &str) -> DnsError {
        // Errors come as {"error": "..."} (HTTP 404 unknown zone, 422 invalid data).
        let msg = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| short(body));
        let hint = if status == 404 {
            " (is the zone name right? PowerDNS does not host it)"
        } else {
            ""
        };
        DnsError::Api {
            provider: "PowerDNS".into(),
            message: format!("{what} failed with HTTP {status}: {msg}{hint}. Nothing was changed"),
        }
    }
}

impl Provider for PowerDns {
    fn name(&self) -> &'static str {
        "powerdns"
    }

    fn min_ttl<'a>(&'a self, _zone: &'a str) -> BoxFut<'a, Result<u32>> {
        Box::pin(async { Ok(1) })
    }

    fn list<'a>(&'a self, zone: &'a str) -> BoxFut<'a, Result<Option<Vec<Rrset>>>> {
        Box::pin(async move {
            let r = self
                .http
                .request("GET", &self.zone_url(zone), None, &[])
                .await?;
            if r.status != 200 {
                return Err(self.err("reading the zone", r.status, &r.body));
            }
            let v: Value = serde_json::from_str(&r.body).map_err(|e| DnsError::Api {
                provider: "PowerDNS".into(),
                message: format!("zone listing is not JSON: {e}"),
            })?;
            let mut out = Vec::new();
            for s in v
                .get("rrsets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let values: Vec<String> = s
                    .get("records")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|r| !r.get("disabled").and_then(Value::as_bool).unwrap_or(false))
                    .filter_map(|r| r.get("content").and_then(Value::as_str).map(str::to_string))
                    .collect();
                if values.is_empty() {
                    continue;
                }
                out.push(Rrset::new(
                    s.get("name").and_then(Value::as_str).unwrap_or_default(),
                    s.get("type").and_then(Value::as_str).unwrap_or_default(),
                    s.get("ttl").and_then(Value::as_u64).unwrap_or(0) as u32,
                    values,
                ));
            }
            Ok(Some(out))
        })
    }

    fn apply<'a>(&'a self, set: &'a ChangeSet) -> BoxFut<'a, Result<()>> {
        Box::pin(async move {
            if set.is_empty() {
                return Ok(());
            }
            let rrsets: Vec<Value> = set
                .changes
                .iter()
                .map(|c| match &c.after {
                    Some(a) => json!({
                        "name": a.name, "type": a.rtype, "ttl": a.ttl, "changetype": "REPLACE",
                        "records": a.values.iter().map(|v| json!({"content": v, "disabled": false})).collect::<Vec<_>>(),
                    }),
                    None => json!({"name": c.name(), "type": c.rtype(), "changetype": "DELETE"}),
                })
                .collect();
            let r = self
                .http
                .request(
                    "PATCH",
                    &self.zone_url(&set.zone),
                    Some(json!({ "rrsets": rrsets })),
                    &[],
                )
                .await?;
            if r.status / 100 != 2 {
                return Err(self.err("PATCH", r.status, &r.body));
            }
            Ok(())
        })
    }
}
