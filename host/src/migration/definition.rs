//! The migration definition: which recipe, from where to where, where the
//! app lives on each side, the domain and the target version. Given as CLI
//! flags or a TOML file; file errors name file:line:column like recipes do.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Migration {
    /// Recipe id (`recipes/NAME.toml`).
    pub app: String,
    /// The production hostname; checks send it as the Host header.
    pub domain: String,
    /// The hostname the app had on the source, when the move changes it
    /// (plugins then rewrite it, e.g. Discourse's remap and rebake). Not
    /// part of `id()`: naming it later keeps the migration's journal.
    #[serde(default)]
    pub old_domain: Option<String>,
    /// The version the destination runs; the detected source version when
    /// absent (a move without upgrade).
    #[serde(default)]
    pub target_version: Option<String>,
    /// Where backups go on the source (default: `<source root>.migrate-backup`).
    #[serde(default)]
    pub backup_dir: Option<String>,
    /// Plugin steps to leave out, by id (each is named in the plan as skipped).
    #[serde(default)]
    pub skip_steps: Vec<String>,
    /// Fix the files the web server's user cannot read under the recipe's
    /// served directories (on the destination), instead of only naming
    /// them (`--fix-permissions`).
    #[serde(default)]
    pub fix_permissions: bool,
    pub source: Side,
    pub destination: Side,
    /// A PEM file of CA certificates the HTTPS checks trust instead of the
    /// built-in roots (a private CA, or a lab's).
    #[serde(default)]
    pub tls_ca: Option<String>,
    /// DNS moves with the app when given: TTLs lowered early, the name
    /// pointed at the destination after its checks pass, TTLs restored.
    #[serde(default)]
    pub dns: Option<Dns>,
    /// Move through the app's own backup and restore even when a
    /// file-level copy would do (Discourse: `discourse backup`/`restore`).
    #[serde(default)]
    pub logical: bool,
    /// Mailu's mail checks (host/src/migration/mailu.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailu: Option<super::mailu::MailuDef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    /// `rfc2136` (with a TSIG key) or `manual`.
    pub provider: String,
    /// Where RFC 2136 updates go (`ADDRESS:PORT`).
    #[serde(default)]
    pub server: Option<String>,
    /// The authoritative servers to read and verify (`ADDRESS:PORT`); the
    /// system resolver finds them when empty.
    #[serde(default)]
    pub authoritative: Vec<String>,
    #[serde(default)]
    pub zone: Option<String>,
    /// More names moved with the domain (www., ...).
    #[serde(default)]
    pub names: Vec<String>,
    /// The destination's public addresses.
    pub to: Vec<String>,
    /// A file holding the TSIG key (`hmac-sha256:name.:base64`); only the
    /// path is ever stored.
    #[serde(default)]
    pub tsig_key_file: Option<String>,
    #[serde(default)]
    pub lowered_ttl: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Side {
    /// `ssh://user@host:port`, `user@host`, an ssh_config alias, or `local`.
    pub host: String,
    /// Directory holding the app (mapped onto the recipe's main volume
    /// mount, e.g. Nextcloud's /var/www/html). With `compose` and `volume`
    /// it defaults to that volume's directory under /var/lib/docker.
    #[serde(default)]
    pub root: String,
    /// A docker-compose project holds the app here: the directory of its
    /// compose file. Recipe services' commands then run in their containers
    /// (`compose exec`), the database is dumped and loaded inside its
    /// container, and stop/start default to `compose stop`/`up -d`.
    #[serde(default)]
    pub compose: Option<String>,
    /// A Co-op Cloud app here instead: the docker swarm stack abra deployed
    /// (its name is the domain with dots as underscores). Commands run in
    /// the stack's service containers, the database in its `db` service,
    /// stop/start scale the app's services to zero and back, and its swarm
    /// secrets are carried to a destination stack before it is deployed.
    #[serde(default)]
    pub stack: Option<String>,
    /// The compose project name (default: compose's own rule, the
    /// directory's basename in lower case letters and digits).
    #[serde(default)]
    pub project: Option<String>,
    /// The compose volume holding the recipe's main mount (the app's files);
    /// created on the destination with compose's labels before the copy.
    #[serde(default)]
    pub volume: Option<String>,
    /// Recipe service -> compose service name, where they differ.
    #[serde(default)]
    pub compose_services: BTreeMap<String, String>,
    /// `ADDRESS:PORT` the app's HTTP answers on for this server (checks
    /// connect here and send the production hostname).
    #[serde(default)]
    pub http: Option<String>,
    /// `ADDRESS:PORT` the app answers HTTPS on for this server; checks then
    /// speak TLS with the production hostname as SNI and verify the
    /// certificate for it (what browsers will see once DNS points here).
    #[serde(default)]
    pub https: Option<String>,
    /// Shell command starting the app on this server (plain installs).
    #[serde(default)]
    pub start: Option<String>,
    /// Shell command deploying the app on this server (a stack destination:
    /// e.g. `docker stack deploy -c compose.yml NAME`); without it the plan
    /// asks a person to deploy (with abra) and waits for `--done`.
    #[serde(default)]
    pub deploy: Option<String>,
    /// Shell command stopping the app on this server.
    #[serde(default)]
    pub stop: Option<String>,
    /// A Discourse launcher install here (discourse_docker's directory,
    /// e.g. /var/discourse): the forum runs in its `app` container, its
    /// data under shared/standalone (the root by default), and it stops
    /// and starts with `./launcher stop|start app` (launcher.rs).
    #[serde(default)]
    pub launcher: Option<String>,
    /// Extra directories put in front of PATH for the app's commands.
    #[serde(default)]
    pub path: Vec<String>,
    /// Recipe database name -> the name on this server (also in the
    /// recipe's check commands).
    #[serde(default)]
    pub databases: BTreeMap<String, String>,
    /// The system user a recipe service's commands run as on this server
    /// (plain installs: e.g. Mastodon's `db` checks as `mastodon`, so
    /// PostgreSQL's peer authentication accepts `psql -U mastodon`).
    #[serde(default)]
    pub service_users: BTreeMap<String, String>,
    /// The app's systemd unit files on this server (the source's are
    /// carried to the destination and enabled there before it starts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

impl Migration {
    /// Stable id: reruns of the same migration find their journal.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            &self.app,
            &self.domain,
            &self.source.host,
            &self.source.root,
            &self.destination.host,
            &self.destination.root,
        ] {
            h.update(part.as_bytes());
            h.update(b"\n");
        }
        format!("{}-{}", self.app, hex::encode(&h.finalize()[..5]))
    }

    pub fn side(&self, s: crate::plugin::Side) -> &Side {
        match s {
            crate::plugin::Side::Source => &self.source,
            crate::plugin::Side::Destination => &self.destination,
        }
    }

    pub fn backup_dir(&self) -> String {
        self.backup_dir
            .clone()
            .unwrap_or_else(|| format!("{}.migrate-backup", self.source.root))
    }

    /// What TOML cannot say.
    pub fn validate(&self, file: &str) -> Result<(), DefinitionError> {
        let invalid = |message: String| DefinitionError::Invalid {
            file: file.to_string(),
            message,
        };
        if self.app.trim().is_empty() {
            return Err(invalid(
                "`app` is empty: name a recipe (migrate recipe list)".into(),
            ));
        }
        if !valid_domain(&self.domain) {
            return Err(invalid(format!(
                "domain {:?} is not a hostname (letters, digits, '-' and dots, e.g. cloud.example.net)",
                self.domain
            )));
        }
        if let Some(old) = &self.old_domain
            && !valid_domain(old)
        {
            return Err(invalid(format!(
                "old_domain {old:?} is not a hostname (letters, digits, '-' and dots, e.g. talk.example.org)"
            )));
        }
        for (name, s) in [("source", &self.source), ("destination", &self.destination)] {
            migrate_remote::HostSpec::parse(&s.host)
                .map_err(|e| invalid(format!("{name}.host: {e}")))?;
            if let Some(c) = &s.compose
                && (!c.starts_with('/') || super::layout::default_project(c).is_empty())
            {
                return Err(invalid(format!(
                    "{name}.compose {c:?} must be the absolute directory of the compose file"
                )));
            }
            if s.compose.is_some() && s.stack.is_some() {
                return Err(invalid(format!(
                    "{name} names both a compose project and a stack: the app lives in one of them"
                )));
            }
            if let Some(st) = &s.stack
                && (st.is_empty()
                    || !st
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            {
                return Err(invalid(format!(
                    "{name}.stack {st:?} is not a stack name (letters, digits, '_' and '-', e.g. cloud_example_net)"
                )));
            }
            if s.compose.is_none() && s.project.is_some() {
                return Err(invalid(format!(
                    "{name}.project needs {name}.compose (the compose project's directory)"
                )));
            }
            if s.compose.is_none() && s.stack.is_none() && s.volume.is_some() {
                return Err(invalid(format!(
                    "{name}.volume and {name}.project need {name}.compose (the compose project's directory) or {name}.stack"
                )));
            }
            if s.root.is_empty() {
                return Err(invalid(format!(
                    "{name}.root is missing: name the app's directory, or a compose volume with {name}.compose and {name}.volume"
                )));
            }
            if !s.root.starts_with('/') || s.root == "/" || s.root.contains("/../") {
                return Err(invalid(format!(
                    "{name}.root {:?} must be an absolute directory other than /",
                    s.root
                )));
            }
            for (key, v) in [("http", &s.http), ("https", &s.https)] {
                if let Some(h) = v
                    && h.parse::<std::net::SocketAddr>().is_err()
                {
                    return Err(invalid(format!(
                        "{name}.{key} {h:?} is not ADDRESS:PORT (e.g. 127.0.0.2:8080)"
                    )));
                }
            }
        }
        if let Some(d) = &self.dns {
            if !matches!(d.provider.as_str(), "rfc2136" | "manual") {
                return Err(invalid(format!(
                    "dns.provider {:?} is not one `migrate app` drives yet (rfc2136, manual); use `migrate dns` for the others",
                    d.provider
                )));
            }
            for a in d.server.iter().chain(&d.authoritative) {
                if a.parse::<std::net::SocketAddr>().is_err() {
                    return Err(invalid(format!("dns server {a:?} is not ADDRESS:PORT")));
                }
            }
            if d.provider == "rfc2136" && d.server.is_none() {
                return Err(invalid(
                    "dns.server is required for rfc2136 (ADDRESS:PORT of the primary)".into(),
                ));
            }
            if d.to.is_empty() || d.to.iter().any(|a| a.parse::<std::net::IpAddr>().is_err()) {
                return Err(invalid(
                    "dns.to must list the destination's IP addresses".into(),
                ));
            }
        }
        if self.source.host == self.destination.host && self.source.root == self.destination.root {
            return Err(invalid(
                "source and destination are the same place: name another host or root".into(),
            ));
        }
        Ok(())
    }
}

fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Parse a migration file's text; `file` is for messages.
pub fn parse(file: &str, text: &str) -> Result<Migration, DefinitionError> {
    let m = parse_open(file, text)?;
    m.validate(file)?;
    Ok(m)
}

/// Parse without validating: what the file leaves open (the source's
/// layout) may still be discovered before `validate`.
pub fn parse_open(file: &str, text: &str) -> Result<Migration, DefinitionError> {
    let m: Migration = crate::toml_file::from_str(text).map_err(|e| DefinitionError::Syntax {
        file: file.to_string(),
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    let mut m = m;
    m.source.resolve();
    m.destination.resolve();
    Ok(m)
}

pub fn load(path: &Path) -> Result<Migration, DefinitionError> {
    let m = load_open(path)?;
    m.validate(&path.display().to_string())?;
    Ok(m)
}

/// Read a migration file without validating it (see `parse_open`).
pub fn load_open(path: &Path) -> Result<Migration, DefinitionError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| DefinitionError::Io {
        file: file.clone(),
        source,
    })?;
    parse_open(&file, &text)
}

impl Side {
    /// Fill what a compose layout implies: the root is the app volume's
    /// directory when none is named.
    pub fn resolve(&mut self) {
        if self.root.is_empty()
            && let (Some(c), Some(v)) = (super::layout::Project::of(self), &self.volume)
        {
            self.root = super::layout::volume_root(&c, v);
        }
        super::launcher::resolve(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"app = "nextcloud"
domain = "cloud.example.test"

[source]
host = "ssh://root@127.0.0.2:22"
root = "/srv/nc"
http = "127.0.0.2:8080"

[destination]
host = "ssh://root@127.0.0.3:22"
root = "/srv/nc"
"#;

    #[test]
    fn a_good_file_parses_and_has_a_stable_id() {
        let m = parse("m.toml", GOOD).unwrap();
        assert_eq!(m.app, "nextcloud");
        assert_eq!(m.id(), parse("other.toml", GOOD).unwrap().id());
        assert!(m.id().starts_with("nextcloud-"));
    }

    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("../../../examples/migration.toml");
        let m = parse("examples/migration.toml", text).unwrap();
        assert_eq!(m.dns.as_ref().map(|d| d.to.len()), Some(1));
        assert_eq!(
            m.source.service_users.get("app").map(String::as_str),
            Some("www-data")
        );
        // A compose destination's root is its app volume's directory.
        assert_eq!(
            m.destination.root,
            "/var/lib/docker/volumes/nextcloud_html/_data"
        );
        assert_eq!(m.destination.https.as_deref(), Some("198.51.100.20:443"));
    }

    #[test]
    fn the_old_domain_is_validated_and_keeps_the_id() {
        let plain = parse("m.toml", GOOD).unwrap();
        let text = GOOD.replace(
            "domain = \"cloud.example.test\"\n",
            "domain = \"cloud.example.test\"\nold_domain = \"nc.example.org\"\n",
        );
        let moved = parse("m.toml", &text).unwrap();
        assert_eq!(moved.old_domain.as_deref(), Some("nc.example.org"));
        assert_eq!(plain.old_domain, None);
        assert_eq!(
            moved.id(),
            plain.id(),
            "naming the old domain keeps the journal"
        );
        let bad = text.replace("nc.example.org", "nc example org");
        let e = parse("m.toml", &bad).unwrap_err().to_string();
        assert!(
            e.contains("old_domain \"nc example org\" is not a hostname"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        let bad = GOOD.replace("root = \"/srv/nc\"\nhttp", "root = 5\nhttp");
        let e = parse("m.toml", &bad).unwrap_err().to_string();
        assert!(e.starts_with("m.toml:6:8:"), "{e}");
        let bad = GOOD.replace("[destination]", "colour = 1\n[destination]");
        let e = parse("m.toml", &bad).unwrap_err().to_string();
        assert!(
            e.starts_with("m.toml:9:1:") && e.contains("colour") && e.contains("expected one of"),
            "{e}"
        );
        let bad = GOOD.replace("127.0.0.2:8080", "nowhere");
        let e = parse("m.toml", &bad).unwrap_err().to_string();
        assert!(e.contains("source.http"), "{e}");
        // A compose volume without its project directory, and no root at all.
        let bad = GOOD.replace("root = \"/srv/nc\"\nhttp", "volume = \"html\"\nhttp");
        let e = parse("m.toml", &bad).unwrap_err().to_string();
        assert!(
            e.contains("source.volume and source.project need source.compose"),
            "{e}"
        );
        let bad = GOOD.replace("root = \"/srv/nc\"\nhttp", "http");
        let e = parse("m.toml", &bad).unwrap_err().to_string();
        assert!(e.contains("source.root is missing"), "{e}");
    }
}
