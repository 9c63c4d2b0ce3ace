//! Secrets (TSIG keys, API tokens) come from a file or an environment
//! variable, never from a command-line value, and never print themselves.

use std::fmt;
use std::path::Path;

use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{Name, TSigner};

use crate::error::{DnsError, Result};

/// A string that is redacted in Debug/Display and is not serialisable, so
/// it cannot end up in a log line, a plan file or a JSON report by accident.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A file's text, trimmed (a TSIG key file may span several lines).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| DnsError::Io {
            action: "read secret file",
            path: path.to_path_buf(),
            source,
        })?;
        let t = text.trim();
        if t.is_empty() {
            return Err(DnsError::Invalid(format!(
                "secret file {} is empty",
                path.display()
            )));
        }
        Ok(Secret(t.to_string()))
    }

    /// The first non-empty line (API tokens; files usually end in a newline).
    pub fn first_line(&self) -> Secret {
        Secret(
            self.0
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or_default()
                .to_string(),
        )
    }

    /// The file if given, else the environment variable, else None.
    pub fn from_file_or_env(file: Option<&Path>, env: &str) -> Result<Option<Self>> {
        if let Some(f) = file {
            return Self::from_file(f).map(Some);
        }
        match std::env::var(env) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(Secret(v.trim().to_string()))),
            _ => Ok(None),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A TSIG key: name and algorithm are not secret, the key bytes are.
#[derive(Clone)]
pub struct TsigKey {
    pub name: String,
    pub algorithm: String,
    secret: Vec<u8>,
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl TsigKey {
    /// Accepts the forms operators already have:
    /// * `hmac-sha256:keyname:BASE64` (nsupdate -y, lego's env vars),
    /// * a BIND `key "name" { algorithm hmac-sha256; secret "..."; };` file,
    /// * Knot's `keymgr -t` output (`- id: name` / `algorithm:` / `secret:`).
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        if t.is_empty() {
            return Err(DnsError::BadKey("empty".into()));
        }
        if !t.contains('\n') && !t.contains('{') && t.matches(':').count() >= 2 {
            let mut parts = t.splitn(3, ':');
            let alg = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default();
            let secret = parts.next().unwrap_or_default();
            return Self::build(name, alg, secret);
        }
        if t.contains('{') {
            // BIND: key "name" { algorithm X; secret "Y"; };
            let name = t.split('"').nth(1).unwrap_or_default();
            let alg = field_after(t, "algorithm").unwrap_or_default();
            let secret = field_after(t, "secret").unwrap_or_default();
            return Self::build(name, &alg, &secret);
        }
        // Knot keymgr: "key:\n  - id: name\n    algorithm: x\n    secret: y"
        let get = |k: &str| {
            t.lines()
                .map(|l| l.trim().trim_start_matches("- ").trim())
                .find_map(|l| {
                    l.strip_prefix(&format!("{k}:"))
                        .map(|v| v.trim().to_string())
                })
        };
        match (get("id"), get("algorithm"), get("secret")) {
            (Some(n), Some(a), Some(s)) => Self::build(&n, &a, &s),
            _ => Err(DnsError::BadKey("unrecognised key format".into())),
        }
    }

    fn build(name: &str, alg: &str, secret_b64: &str) -> Result<Self> {
        let name = name.trim().trim_matches('"');
        if name.is_empty() {
            return Err(DnsError::BadKey("no key name".into()));
        }
        let alg = alg.trim().trim_end_matches('.').to_ascii_lowercase();
        algorithm(&alg)?;
        let secret = data_encoding::BASE64
            .decode(secret_b64.trim().trim_matches('"').as_bytes())
            .map_err(|_| DnsError::BadKey("the secret is not valid base64".into()))?;
        Ok(TsigKey {
            name: crate::record::fqdn(name),
            algorithm: alg,
            secret,
        })
    }

    pub fn signer(&self) -> Result<TSigner> {
        let name = Name::from_ascii(&self.name)
            .map_err(|e| DnsError::BadKey(format!("key name {:?}: {e}", self.name)))?;
        // 300 s fudge is what BIND and Knot use by default.
        TSigner::new(self.secret.clone(), algorithm(&self.algorithm)?, name, 300)
            .map_err(|e| DnsError::BadKey(e.to_string()))
    }
}

fn field_after(text: &str, key: &str) -> Option<String> {
    let i = text.find(key)? + key.len();
    let rest = &text[i..];
    let end = rest.find(';')?;
    Some(rest[..end].trim().trim_matches('"').to_string())
}

fn algorithm(alg: &str) -> Result<TsigAlgorithm> {
    match alg {
        "hmac-sha256" => Ok(TsigAlgorithm::HmacSha256),
        "hmac-sha384" => Ok(TsigAlgorithm::HmacSha384),
        "hmac-sha512" => Ok(TsigAlgorithm::HmacSha512),
        other => Err(DnsError::BadKey(format!(
            "algorithm {other:?} is not supported (use hmac-sha256, hmac-sha384 or hmac-sha512)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B64: &str = "f5vfslF9IWHSNxQEKQ+FqzYPteGcgIL9aBE1zVt/bNE=";

    #[test]
    fn parses_the_three_key_formats() {
        let a = TsigKey::parse(&format!("hmac-sha256:migrate-key.:{B64}\n")).unwrap();
        let b = TsigKey::parse(&format!(
            "key \"migrate-key\" {{\n algorithm hmac-sha256;\n secret \"{B64}\";\n}};"
        ))
        .unwrap();
        let c = TsigKey::parse(&format!(
            "# hmac-sha256:migrate-key:{B64}\nkey:\n  - id: migrate-key\n    algorithm: hmac-sha256\n    secret: {B64}\n"
        ))
        .unwrap();
        for k in [&a, &b, &c] {
            assert_eq!(k.name, "migrate-key.");
            assert_eq!(k.secret, a.secret);
            assert!(k.signer().is_ok());
        }
        assert!(!format!("{a:?}").contains(B64));
    }

    #[test]
    fn rejects_garbage_with_reason() {
        let e = TsigKey::parse("hmac-md5:k:abc").unwrap_err().to_string();
        assert!(e.contains("hmac-md5"), "{e}");
        let e = TsigKey::parse("hmac-sha256:k:not base64!")
            .unwrap_err()
            .to_string();
        assert!(e.contains("base64"), "{e}");
    }
}
