//! Where an IMAP server is and how to talk to it safely.

use std::fmt;

use crate::error::{MailError, Result};

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (`imaps://`, port 993).
    Implicit,
    /// Plain connect, then STARTTLS before login; refused if the server
    /// does not offer it (`imap://`, port 143). Never falls back to plain.
    StartTls,
    /// No TLS at all (`imap+plain://`): for loopback and lab servers.
    Plain,
}

/// Trust for the server's certificate. There is deliberately no "accept
/// anything": a self-signed certificate is pinned by its fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// SHA-256 of the server's end-entity certificate (DER).
    pub pin_sha256: Option<[u8; 32]>,
    /// PEM file of CA certificates to trust instead of the built-in roots.
    pub ca_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub trust: Trust,
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.security {
            Security::Implicit => "imaps",
            Security::StartTls => "imap",
            Security::Plain => "imap+plain",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

impl Server {
    /// `imaps://host[:993]`, `imap://host[:143]` (STARTTLS) or
    /// `imap+plain://host[:143]`.
    pub fn parse(url: &str) -> Result<Server> {
        let bad = |why: &str| {
            MailError::Input(format!(
                "{url:?} is not an IMAP server address ({why}); use imaps://HOST[:PORT], imap://HOST[:PORT] (STARTTLS) or imap+plain://HOST[:PORT]"
            ))
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let (security, default_port) = match scheme {
            "imaps" => (Security::Implicit, 993),
            "imap" => (Security::StartTls, 143),
            "imap+plain" => (Security::Plain, 143),
            _ => return Err(bad("unknown scheme")),
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('@') || rest.contains('/') {
            return Err(bad("user names and paths go in the users file"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("bad port"))?,
                None if after.is_empty() => default_port,
                None => return Err(bad("junk after ]")),
            };
            (h.to_string(), port)
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad("bad port"))?),
                None => (rest.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Server {
            host,
            port,
            security,
            trust: Trust::default(),
        })
    }
}

/// `sha256:AB:CD:…` or plain hex (64 digits) → bytes.
pub fn parse_pin(s: &str) -> Result<[u8; 32]> {
    let hexs: String = s
        .trim()
        .trim_start_matches("sha256:")
        .trim_start_matches("SHA256:")
        .chars()
        .filter(|c| *c != ':')
        .collect();
    let bytes = hex::decode(&hexs)
        .map_err(|_| MailError::Input(format!("pin {s:?} is not a SHA-256 fingerprint in hex")))?;
    bytes.try_into().map_err(|_| {
        MailError::Input(format!(
            "pin {s:?} is not 32 bytes; give the SHA-256 fingerprint (openssl x509 -noout -fingerprint -sha256)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let s = Server::parse("imaps://mail.example.org").unwrap();
        assert_eq!((s.port, s.security), (993, Security::Implicit));
        let s = Server::parse("imap://127.0.0.1:10143").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.security),
            ("127.0.0.1", 10143, Security::StartTls)
        );
        let s = Server::parse("imap+plain://[::1]:20143").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("::1", 20143));
        assert_eq!(s.to_string(), "imap+plain://[::1]:20143");
        assert!(Server::parse("pop3://x").is_err());
        assert!(Server::parse("imaps://u@x").is_err());
        assert!(Server::parse("imaps://x:port").is_err());
    }

    #[test]
    fn pins() {
        let hexpin = "AB".repeat(32);
        assert_eq!(parse_pin(&hexpin).unwrap(), [0xab; 32]);
        let colons = vec!["ab"; 32].join(":");
        assert_eq!(parse_pin(&format!("sha256:{colons}")).unwrap(), [0xab; 32]);
        assert!(parse_pin("abcd").is_err());
    }
}
