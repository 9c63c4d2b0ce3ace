//! Users provisioned on Mailu: through its REST API (Mailu 2.0+,
//! `/api/v1/user`), or as a `config-import` YAML file for the admin CLI.
//!
//! API contract (Mailu `core/admin/mailu/api/common.py` and
//! `api/v1/user.py`, docs/api.rst): `Authorization: Bearer <API_TOKEN>`
//! (the prefix is optional); a missing header is 401, a wrong token 403
//! `{"message": "Invalid API token"}`, too many wrong tokens 429.
//! `GET /user/<email>` → 200 with the user (incl. `quota_bytes`) or 404;
//! `POST /user` `{"email", "raw_password", "quota_bytes"}` → 200, 400
//! (invalid email), 404 (domain missing), 409 (duplicate);
//! `PATCH /user/<email>` `{"raw_password"?, "quota_bytes"?}` → 200 or 404.
//! Error bodies are `{"code": N, "message": "..."}`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{MailError, Result};
use crate::secret::Secret;

/// A Mailu API endpoint, e.g. `https://mail.example.org/api/v1`.
pub struct Api {
    base: String,
    token: Secret,
    agent: ureq::Agent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Outcome {
    Created {
        quota_bytes: Option<u64>,
    },
    Updated {
        password: bool,
        quota_bytes: Option<u64>,
    },
    Unchanged,
    /// Dry run: what would be done.
    WouldCreate,
    WouldUpdate {
        password: bool,
        quota_bytes: Option<u64>,
    },
}

impl Outcome {
    pub fn describe(&self) -> String {
        let quota = |q: &Option<u64>| q.map(|b| format!(", quota {b} bytes")).unwrap_or_default();
        match self {
            Outcome::Created { quota_bytes } => {
                format!("created with its password{}", quota(quota_bytes))
            }
            Outcome::Updated {
                password,
                quota_bytes,
            } => format!(
                "updated:{}{}",
                if *password { " password set" } else { "" },
                quota(quota_bytes)
            ),
            Outcome::Unchanged => "exists, unchanged".into(),
            Outcome::WouldCreate => "would be created (dry run)".into(),
            Outcome::WouldUpdate {
                password,
                quota_bytes,
            } => format!(
                "would be updated (dry run):{}{}",
                if *password { " password" } else { "" },
                quota(quota_bytes)
            ),
        }
    }
}

fn is_loopback_host(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Api {
    /// `base` is the API root (`…/api/v1`; a bare `https://host` gets
    /// `/api/v1` appended). Plain `http://` is accepted only to loopback:
    /// the token and passwords must not cross a network in clear.
    pub fn new(base: &str, token: Secret) -> Result<Api> {
        let mut base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(MailError::Input(format!("{base:?} is not an http(s) URL")));
        }
        if base.starts_with("http://") && !is_loopback_host(&base) {
            return Err(MailError::Input(format!(
                "{base} is plain HTTP to a remote host: the API token and passwords would travel in clear; use https://"
            )));
        }
        if !base.contains("/api/") {
            base.push_str("/api/v1");
        }
        if token.expose().len() < 4 {
            // Mailu rejects tokens shorter than 4 characters outright
            // (common.py `len(v1.api_token) < 4`; docs/api.rst says 3).
            return Err(MailError::Input(
                "the Mailu API token is shorter than 4 characters; Mailu refuses such tokens"
                    .into(),
            ));
        }
        crate::conn::keep_passwords_out_of_logs();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        Ok(Api { base, token, agent })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        let url = self.url(path);
        let span = tracing::info_span!("mailu_api", method, url = %url);
        let _g = span.enter();
        let auth = format!("Bearer {}", self.token.expose());
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("POST", Some(b)) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_json(b),
            ("PATCH", Some(b)) => self
                .agent
                .patch(&url)
                .header("Authorization", &auth)
                .send_json(b),
            _ => {
                return Err(MailError::Input(format!(
                    "unsupported API call {method} {path}"
                )));
            }
        };
        let mut resp = resp.map_err(|e| MailError::ApiConnect {
            url: url.clone(),
            detail: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        tracing::debug!(status, "answer");
        if status == 401 || status == 403 {
            return Err(MailError::ApiAuth {
                url,
                status,
                message: message(&value),
            });
        }
        if status == 429 {
            return Err(MailError::Api {
                url,
                status,
                message: format!(
                    "{} (Mailu rate-limits wrong tokens; wait and check the token)",
                    message(&value)
                ),
            });
        }
        Ok((status, value))
    }

    /// Create the user, or bring an existing one to the wanted quota (and
    /// password, when `set_password`). Passwords travel only in the body.
    pub fn provision(
        &self,
        email: &str,
        password: &Secret,
        quota_bytes: Option<u64>,
        set_password: bool,
        dry_run: bool,
    ) -> Result<Outcome> {
        let path = format!("/user/{}", encode_path(email));
        let (status, current) = self.call("GET", &path, None)?;
        match status {
            404 => {
                if dry_run {
                    return Ok(Outcome::WouldCreate);
                }
                let mut body = json!({"email": email, "raw_password": password.expose()});
                if let Some(q) = quota_bytes {
                    body["quota_bytes"] = json!(q);
                }
                let (status, v) = self.call("POST", "/user", Some(&body))?;
                match status {
                    200 | 201 => Ok(Outcome::Created { quota_bytes }),
                    404 => Err(MailError::Api {
                        url: self.url("/user"),
                        status,
                        message: format!(
                            "{}: create the mail domain in Mailu first (admin UI or `flask mailu domain`)",
                            message(&v)
                        ),
                    }),
                    _ => Err(MailError::Api {
                        url: self.url("/user"),
                        status,
                        message: message(&v),
                    }),
                }
            }
            200 => {
                let have = current.get("quota_bytes").and_then(Value::as_u64);
                let quota_change = quota_bytes.filter(|q| Some(*q) != have);
                if quota_change.is_none() && !set_password {
                    return Ok(Outcome::Unchanged);
                }
                if dry_run {
                    return Ok(Outcome::WouldUpdate {
                        password: set_password,
                        quota_bytes: quota_change,
                    });
                }
                let mut body = json!({});
                if set_password {
                    body["raw_password"] = json!(password.expose());
                }
                if let Some(q) = quota_change {
                    body["quota_bytes"] = json!(q);
                }
                let (status, v) = self.call("PATCH", &path, Some(&body))?;
                if status == 200 {
                    Ok(Outcome::Updated {
                        password: set_password,
                        quota_bytes: quota_change,
                    })
                } else {
                    Err(MailError::Api {
                        url: self.url(&path),
                        status,
                        message: message(&v),
                    })
                }
            }
            _ => Err(MailError::Api {
                url: self.url(&path),
                status,
                message: message(&current),
            }),
        }
    }
}

fn message(v: &Value) -> String {
    match v.get("message").and_then(Value::as_str) {
        Some(m) => m.to_string(),
        None => match v {
            Value::String(s) if s.len() < 300 => s.clone(),
            _ => "no message".into(),
        },
    }
}

fn encode_path(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"@.-_+~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One user for the `config-import` YAML.
pub struct ImportUser<'a> {
    pub email: &'a str,
    pub password: &'a Secret,
    pub quota_bytes: Option<u64>,
}

/// Write Mailu `config-import` YAML (Mailu `core/admin/mailu/schemas.py`:
/// `hash_password: true` makes Mailu hash the plain `password` on import).
/// The file holds passwords: it is created with mode 0600 and never
/// overwritten unless `overwrite`.
pub fn write_config_import(path: &Path, users: &[ImportUser<'_>], overwrite: bool) -> Result<()> {
    let mut domains: Vec<&str> = users
        .iter()
        .filter_map(|u| u.email.rsplit_once('@').map(|(_, d)| d))
        .collect();
    domains.sort();
    domains.dedup();
    // JSON strings are valid YAML double-quoted scalars: no hand escaping.
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let mut y = String::new();
    y.push_str("# Mailu config-import file written by `migrate mail users`.\n");
    y.push_str("# It holds plain passwords (hashed by Mailu on import): keep it private, delete it after use.\n");
    y.push_str("# Import WITH --update (without it Mailu replaces the whole configuration):\n");
    y.push_str(
        "#   docker compose exec -T admin flask mailu config-import --update -v < THIS_FILE\n",
    );
    y.push_str("domain:\n");
    for d in &domains {
        y.push_str(&format!("  - name: {}\n", q(d)));
    }
    y.push_str("user:\n");
    for u in users {
        y.push_str(&format!("  - email: {}\n", q(u.email)));
        y.push_str(&format!("    password: {}\n", q(u.password.expose())));
        y.push_str("    hash_password: true\n");
        if let Some(b) = u.quota_bytes {
            y.push_str(&format!("    quota_bytes: {b}\n"));
        }
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if overwrite {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            MailError::Input(format!(
                "{} exists; pass --force to overwrite it",
                path.display()
            ))
        } else {
            MailError::Input(format!("cannot create {}: {e}", path.display()))
        }
    })?;
    f.write_all(y.as_bytes())
        .map_err(|e| MailError::Input(format!("cannot write {}: {e}", path.display())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        let t = Secret::new("token-1234");
        assert!(Api::new("http://127.0.0.1:8080/api/v1", t.clone()).is_ok());
        assert!(Api::new("http://[::1]:8080", t.clone()).is_ok());
        let e = Api::new("http://mail.example.org/api/v1", t.clone())
            .err()
            .unwrap();
        assert!(e.to_string().contains("in clear"));
        assert!(Api::new("https://mail.example.org", Secret::new("abc")).is_err());
        let api = Api::new("https://mail.example.org", t).unwrap();
        assert_eq!(api.url("/user"), "https://mail.example.org/api/v1/user");
    }

    #[test]
    fn yaml_is_private_and_quoted() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("import.yml");
        let pw = Secret::new("p\"w: #x");
        let users = [ImportUser {
            email: "a@example.test",
            password: &pw,
            quota_bytes: Some(5),
        }];
        write_config_import(&p, &users, false).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("password: \"p\\\"w: #x\""), "{text}");
        assert!(text.contains("  - name: \"example.test\""));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(
            write_config_import(&p, &users, false).is_err(),
            "no silent overwrite"
        );
    }
}
