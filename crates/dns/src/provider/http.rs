//! A small blocking JSON-over-HTTPS helper for the API providers, run on
//! tokio's blocking pool. Tokens go into headers only and never into
//! errors or logs.

use std::time::Duration;

use tracing::{Instrument, debug, info_span};

use crate::error::{DnsError, Result};
use crate::secret::Secret;

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub link: Option<String>,
}

/// An API token travels only over TLS, or to this machine itself (a local
/// PowerDNS, a test's fake): over plain http to another host anyone on the
/// path could read it and take over the zone.
pub fn token_may_go_to(provider: &str, url: &str) -> Result<()> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = lower.strip_prefix("http://") else {
        return Err(DnsError::Invalid(format!(
            "{provider}: the API URL {url:?} must start with https:// (or http:// to this machine)"
        )));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit('@').next().unwrap_or("");
    let host = match hostport.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => hostport.split(':').next().unwrap_or(""),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(DnsError::Invalid(format!(
            "{provider}: refusing to send the API token over plain http to {host}, where anyone on the way could read it; use https://{}, or plain http only to this machine (127.0.0.1, ::1, localhost). Nothing was sent",
            &url.trim()[7..]
        )))
    }
}

pub struct Http {
    agent: ureq::Agent,
    auth_header: &'static str,
    auth_prefix: &'static str,
    token: Secret,
    provider: &'static str,
}

impl Http {
    pub fn new(
        provider: &'static str,
        auth_header: &'static str,
        auth_prefix: &'static str,
        token: Secret,
        timeout: Duration,
    ) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build();
        Http {
            agent: config.into(),
            auth_header,
            auth_prefix,
            token,
            provider,
        }
    }

    /// One request. `extra` adds headers (Gandi's `Dry-Run: 1`).
    pub async fn request(
        &self,
        method: &'static str,
        url: &str,
        body: Option<serde_json::Value>,
        extra: &[(&'static str, &'static str)],
    ) -> Result<Reply> {
        token_may_go_to(self.provider, url)?;
        let agent = self.agent.clone();
        let auth = format!("{}{}", self.auth_prefix, self.token.expose());
        let (url_s, header, provider) = (url.to_string(), self.auth_header, self.provider);
        let extra: Vec<(&'static str, &'static str)> = extra.to_vec();
        let span = info_span!("dns.api", provider, method, url = %url_s);
        let res = tokio::task::spawn_blocking(move || -> std::result::Result<Reply, String> {
            let send = |b: Option<String>| -> std::result::Result<
                    ureq::http::Response<ureq::Body>,
                    ureq::Error,
                > {
                    macro_rules! hdrs {
                        ($r:expr) => {{
                            let mut r = $r
                                .header(header, &auth)
                                .header("Accept", "application/json");
                            for (k, v) in &extra {
                                r = r.header(*k, *v);
                            }
                            r
                        }};
                    }
                    match method {
                        "GET" => hdrs!(agent.get(&url_s)).call(),
                        "DELETE" => hdrs!(agent.delete(&url_s)).call(),
                        "PUT" => hdrs!(agent.put(&url_s))
                            .header("Content-Type", "application/json")
                            .send(b.unwrap_or_default()),
                        "PATCH" => hdrs!(agent.patch(&url_s))
                            .header("Content-Type", "application/json")
                            .send(b.unwrap_or_default()),
                        _ => hdrs!(agent.post(&url_s))
                            .header("Content-Type", "application/json")
                            .send(b.unwrap_or_default()),
                    }
                };
            let mut resp = send(body.map(|b| b.to_string())).map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let link = resp
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            Ok(Reply { status, body, link })
        })
        .instrument(span)
        .await
        .map_err(|e| DnsError::Api {
            provider: provider.into(),
            message: format!("request task failed: {e}"),
        })?;
        let reply = res.map_err(|e| DnsError::Api {
            provider: provider.into(),
            message: format!("{method} {url}: {e}; check --api-url and that the API is reachable"),
        })?;
        debug!(status = reply.status, "reply");
        if reply.status == 401 || reply.status == 403 {
            return Err(DnsError::Api {
                provider: provider.into(),
                message: format!(
                    "{method} {url} answered {}: the token was rejected or lacks permission for this zone ({}). Nothing was changed",
                    reply.status,
                    short(&reply.body)
                ),
            });
        }
        Ok(reply)
    }
}

/// The next page from an RFC 8288 `Link` header, if any.
pub fn next_link(link: Option<&str>) -> Option<String> {
    link?.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        if params.contains("rel=\"next\"") {
            Some(
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string(),
            )
        } else {
            None
        }
    })
}

pub fn short(body: &str) -> String {
    let b = body.trim();
    if b.len() > 400 {
        format!(
            "{}...",
            &b[..b.char_indices().nth(400).map(|(i, _)| i).unwrap_or(b.len())]
        )
    } else {
        b.to_string()
    }
}

#[cfg(test)]
mod token_tests {
    use super::token_may_go_to;

    #[test]
    fn tokens_go_over_tls_or_to_this_machine_only() {
        for ok in [
            "https://api.gandi.net/v5/livedns",
            "HTTPS://desec.io/api/v1",
            "http://127.0.0.1:8081",
            "http://127.3.4.5/api",
            "http://localhost:8081/x",
            "http://[::1]:8081/",
            "http://user@127.0.0.1:1",
        ] {
            assert!(token_may_go_to("P", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://192.0.2.1:8081",
            "http://pdns.example.net/api",
            "http://127.0.0.1.example.net/",
            "http://localhost.example.net/",
            "http://0.0.0.0:8081",
            "http://[2001:db8::1]:8081",
            "http://127.0.0.1@192.0.2.1/",
            "ftp://127.0.0.1/",
            "api.gandi.net",
        ] {
            let e = token_may_go_to("P", bad).unwrap_err().to_string();
            assert!(e.contains("P: "), "{bad}: {e}");
        }
        let e = token_may_go_to("PowerDNS", "http://192.0.2.1:8081/api")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("plain http to 192.0.2.1") && e.contains("use https://192.0.2.1:8081/api"),
            "{e}"
        );
    }
}
