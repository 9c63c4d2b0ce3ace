//! Host addresses as the operator types them, and `HOST:PATH` locations.

use std::fmt;

use crate::error::RemoteError;

/// Where commands run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostSpec {
    /// This machine, no ssh involved.
    Local,
    /// A destination handed to the system `ssh` exactly as written
    /// (`ssh://user@host:port`, `user@host`, or an ssh_config alias), so the
    /// operator's ssh_config decides user, port, keys and proxies.
    Ssh { dest: String },
}

impl HostSpec {
    /// Parse a host address on its own (no path).
    pub fn parse(s: &str) -> Result<HostSpec, RemoteError> {
        let bad = |why: &str| RemoteError::BadAddress {
            input: s.to_string(),
            why: why.to_string(),
        };
        if s == "local" {
            return Ok(HostSpec::Local);
        }
        if s.is_empty() {
            return Err(bad("the host is empty"));
        }
        if s.starts_with('-') {
            return Err(bad("a host cannot start with '-'"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("a host cannot contain spaces or control characters"));
        }
        if let Some(rest) = s.strip_prefix("ssh://") {
            let (user, hostport) = match rest.rsplit_once('@') {
                Some((u, h)) => (Some(u), h),
                None => (None, rest),
            };
            if user == Some("") {
                return Err(bad("the user before '@' is empty"));
            }
            if rest.contains('/') {
                return Err(bad("unexpected '/' in the host part"));
            }
            let host = if let Some(v6) = hostport.strip_prefix('[') {
                let (h, tail) = v6
                    .split_once(']')
                    .ok_or_else(|| bad("unclosed '[' in an IPv6 address"))?;
                check_port(tail.strip_prefix(':'), &bad)?;
                h
            } else {
                match hostport.split_once(':') {
                    Some((h, p)) => {
                        check_port(Some(p), &bad)?;
                        h
                    }
                    None => hostport,
                }
            };
            if host.is_empty() {
                return Err(bad("the host name is empty"));
            }
            return Ok(HostSpec::Ssh {
                dest: s.to_string(),
            });
        }
        match s.rsplit_once('@') {
            Some(("", _)) => return Err(bad("the user before '@' is empty")),
            Some((_, "")) => return Err(bad("the host after '@' is empty")),
            _ => {}
        }
        Ok(HostSpec::Ssh {
            dest: s.to_string(),
        })
    }

    pub fn is_local(&self) -> bool {
        matches!(self, HostSpec::Local)
    }
}

fn check_port(p: Option<&str>, bad: &dyn Fn(&str) -> RemoteError) -> Result<(), RemoteError> {
    match p {
        None => Ok(()),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(()),
            _ => Err(bad("the port must be a number from 1 to 65535")),
        },
    }
}

impl fmt::Display for HostSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostSpec::Local => f.write_str("local"),
            HostSpec::Ssh { dest } => f.write_str(dest),
        }
    }
}

/// A directory on a host: `HOST:PATH`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub host: HostSpec,
    /// Absolute path, without trailing slashes (except `/` itself).
    pub path: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostSpec::Ssh { dest } if dest.starts_with("ssh://") => {
                write!(f, "{dest}{}", self.path)
            }
            h => write!(f, "{h}:{}", self.path),
        }
    }
}

/// Parse `HOST:PATH` (`ssh://user@host:port/PATH` for the URL form).
pub fn parse_location(s: &str) -> Result<Location, RemoteError> {
    let bad = |why: &str| RemoteError::BadAddress {
        input: s.to_string(),
        why: why.to_string(),
    };
    // Errors about the host part still quote the whole argument.
    let rewrap = |e: RemoteError| match e {
        RemoteError::BadAddress { why, .. } => bad(&why),
        other => other,
    };
    let (host, path) = if let Some(rest) = s.strip_prefix("ssh://") {
        let slash = rest
            .find('/')
            .ok_or_else(|| bad("no path: write ssh://user@host:port/absolute/path"))?;
        (
            HostSpec::parse(&s[..6 + slash]).map_err(rewrap)?,
            &rest[slash..],
        )
    } else if s.starts_with('/') {
        return Err(bad(
            "no host: write HOST:PATH, e.g. local:/srv/data or root@server:/srv/data",
        ));
    } else {
        let split = if s.starts_with('[') || s.contains("@[") {
            let close = s.find(']').ok_or_else(|| bad("unclosed '['"))?;
            s[close..].find(':').map(|i| close + i)
        } else {
            s.find(':')
        };
        let i = split.ok_or_else(|| bad("no ':PATH' part: write HOST:PATH, e.g. src:/srv/data"))?;
        (HostSpec::parse(&s[..i]).map_err(rewrap)?, &s[i + 1..])
    };
    if !path.starts_with('/') {
        return Err(bad("the path must be absolute (start with '/')"));
    }
    if path.contains('\0') || path.contains('\n') {
        return Err(bad("the path contains a NUL or newline"));
    }
    if path.split('/').any(|c| c == "..") {
        return Err(bad("the path must not contain '..'"));
    }
    let trimmed = path.trim_end_matches('/');
    let path = if trimmed.is_empty() { "/" } else { trimmed };
    Ok(Location {
        host,
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh(d: &str) -> HostSpec {
        HostSpec::Ssh { dest: d.into() }
    }

    #[test]
    fn parses_every_address_form() {
        let l = parse_location("src:/srv/data/").unwrap();
        assert_eq!(l.host, ssh("src"));
        assert_eq!(l.path, "/srv/data");
        let l = parse_location("root@10.0.0.2:/srv").unwrap();
        assert_eq!(l.host, ssh("root@10.0.0.2"));
        let l = parse_location("ssh://root@host:2222/srv/x").unwrap();
        assert_eq!(l.host, ssh("ssh://root@host:2222"));
        assert_eq!(l.path, "/srv/x");
        let l = parse_location("local:/tmp/x").unwrap();
        assert_eq!(l.host, HostSpec::Local);
        let l = parse_location("root@[::1]:/srv").unwrap();
        assert_eq!(l.host, ssh("root@[::1]"));
        assert_eq!(l.path, "/srv");
        assert_eq!(parse_location("src:/").unwrap().path, "/");
    }

    #[test]
    fn refuses_bad_addresses_with_a_reason() {
        for (input, why) in [
            ("/srv/data", "no host"),
            ("src", "no ':PATH'"),
            ("src:relative", "absolute"),
            ("ssh://host:99999/srv", "port"),
            ("ssh://host:abc/srv", "port"),
            ("ssh://host", "no path"),
            ("@host:/x", "user"),
            ("-oProxyCommand=x:/x", "'-'"),
            ("src:/a/../etc", ".."),
            ("my host:/x", "spaces"),
        ] {
            let e = parse_location(input).unwrap_err().to_string();
            assert!(e.contains(why), "{input}: {e}");
            assert!(e.contains(input), "{input}: {e}");
        }
    }
}
