//! Mailu: versions, upgrade paths and migration steps.
//!
//! Sources: Mailu/Mailu at the snapshot HEAD bbb1c206 (docs/releases.rst,
//! maintain.rst, configuration.rst, the setup compose template,
//! Dockerfiles), digested in facts/apps.md §4.

use migrate_plugin_sdk::prelude::*;

mod path;
pub mod version;

/// The setup's default root (`{{ root }}` in setup/flavors/compose).
pub(crate) const ROOT: &str = "/mailu";

pub struct Mailu;

fn dir(id: &str, sub: &str, service: Option<&str>, cache: bool, description: &str) -> DataItem {
    DataItem {
        id: id.into(),
        kind: DataKind::Directory,
        location: format!("{ROOT}/{sub}"),
        engine: DbEngine::None,
        service: service.map(str::to_string),
        description: description.into(),
        cache,
    }
}

/// Whether the destination runs 2024.06 or later, when the operator said
/// which version it will run.
fn target_is_2024_or_later(ctx: &Context) -> bool {
    ctx.target_version
        .as_deref()
        .and_then(|v| version::parse(v).ok())
        .is_some_and(|v| v.series().major >= 2000)
}

impl Plugin for Mailu {
    fn info() -> AppInfo {
        AppInfo {
            homepage: Some("https://mailu.io".to_string()),
            ..app_info(
                "mailu",
                "Mailu",
                "Mailu 1.8, 1.9, 2.0 and 2024.06: forward only, one series per hop, downgrades inside one series",
            )
        }
    }

    /// "Every docker image will have a docker label with the version. Every
    /// docker image will have the file /version" (releases.rst 1.9); the
    /// compose file takes `${MAILU_VERSION:-…}` from .env.
    fn probes(ctx: &Context) -> Vec<Probe> {
        let probes = vec![
            Probe {
                id: "admin-label".into(),
                side: Side::Source,
                kind: ProbeKind::DockerLabel(("admin".into(), "version".into())),
            },
            Probe {
                id: "admin-image-tag".into(),
                side: Side::Source,
                kind: ProbeKind::ImageTag("admin".into()),
            },
            Probe {
                id: "env-mailu-version".into(),
                side: Side::Source,
                kind: ProbeKind::FilePattern((
                    format!("{ROOT}/.env"),
                    r"(?m)^MAILU_VERSION=(\S+)".into(),
                )),
            },
        ];
        migrate_plugin_sdk::coopcloud::with_label_probe(ctx, probes)
    }

    fn parse_probe(probe_id: &str, raw: &str) -> Result<String, Refusal> {
        let text = raw.trim().trim_matches('"');
        if text.is_empty() {
            return Err(refuse(
                RefusalKind::MalformedVersion,
                format!("probe {probe_id} returned nothing"),
            ));
        }
        if probe_id != "admin-image-tag" {
            return Ok(text.to_string());
        }
        // `ghcr.io/mailu/admin:2024.06`, possibly with `@sha256:…`.
        let tag = image_tag(text).map_err(|why| refuse(RefusalKind::MalformedVersion, why))?;
        version::parse(tag).map(|_| tag.to_string())
    }

    fn parse(raw: &str) -> Result<Version, Refusal> {
        version::parse(raw).map(|v| v.to_version(raw))
    }

    fn known() -> Vec<String> {
        version::known()
    }

    fn upgrade_path(req: &UpgradeRequest) -> Result<UpgradePlan, Refusal> {
        path::upgrade_path(req)
    }

    /// The setup compose template's mounts (facts §4.3).
    fn data_layout() -> Vec<DataItem> {
        vec![
            dir("data", "data", Some("admin"), false, "Admin database main.db (SQLite by default), roundcube.db, fetchmail state."),
            DataItem {
                kind: DataKind::Secret,
                ..dir("dkim", "dkim", Some("admin"), false, "DKIM private keys; the DNS DKIM records publish their public halves, so they must come across unchanged.")
            },
            dir("mail", "mail", Some("imap"), false, "Mailboxes (Dovecot)."),
            dir("mailqueue", "mailqueue", Some("smtp"), false, "Postfix queue: mail not yet delivered."),
            dir("certs", "certs", Some("front"), false, "TLS certificates."),
            dir("overrides", "overrides", None, false, "Local overrides for nginx, dovecot, postfix, rspamd and the webmail."),
            dir("filter", "filter", Some("antispam"), false, "Rspamd state (learned spam/ham, history)."),
            dir("dav", "dav", Some("webdav"), false, "Radicale calendars and contacts."),
            dir("webmail", "webmail", Some("webmail"), false, "Webmail user data."),
            dir("redis", "redis", Some("redis"), false, "Redis data."),
            dir("clamav", "clamav", Some("antivirus"), true, "ClamAV signatures; freshclam downloads them again [inferred]."),
            DataItem {
                id: "main-db".into(),
                kind: DataKind::Database,
                location: format!("{ROOT}/data/main.db"),
                engine: DbEngine::Sqlite,
                service: Some("admin".into()),
                description: "Users, aliases, domains (SQLALCHEMY_DATABASE_URI default sqlite:////data/main.db). With DB_FLAVOR=postgresql or mysql the database lives on DB_HOST instead.".into(),
                cache: false,
            },
            DataItem {
                id: "compose".into(),
                kind: DataKind::ConfigFile,
                location: format!("{ROOT}/docker-compose.yml"),
                engine: DbEngine::None,
                service: None,
                description: "The compose file (maintain.rst: copy it with the env files).".into(),
                cache: false,
            },
            DataItem {
                id: "env".into(),
                kind: DataKind::ConfigFile,
                location: format!("{ROOT}/mailu.env"),
                engine: DbEngine::None,
                service: None,
                description: "Mailu settings, including SECRET_KEY and API_TOKEN.".into(),
                cache: false,
            },
            DataItem {
                id: "dotenv".into(),
                kind: DataKind::ConfigFile,
                location: format!("{ROOT}/.env"),
                engine: DbEngine::None,
                service: None,
                description: "Compose variables, including MAILU_VERSION.".into(),
                cache: false,
            },
        ]
    }

    /// maintain.rst "Migrating an instance": rsync while live, then stop
    /// Mailu on the old server and rsync once more. The host stops and
    /// starts the compose project itself (its layout knows the directory,
    /// the project and the compose CLI), and stops `smtp` first, checking
    /// its queue (host/src/migration/mailu.rs): nothing for the plugin to
    /// add before the copy.
    fn pre_copy(_ctx: &Context) -> Vec<Step> {
        Vec::new()
    }

    fn post_copy(_ctx: &Context) -> Vec<Step> {
        let carry_env = |key: &str, reason: &str, secret: bool| {
            step(
                &format!("mailu-carry-{}", key.to_ascii_lowercase().replace('_', "-")),
                Phase::Cutover,
                Risk::Reversible,
                &format!("Keep the source's {key} in the destination's mailu.env"),
                carry("mailu.env", key, reason, secret),
            )
        };
        vec![
            carry_env(
                "SECRET_KEY",
                "Mailu's secret key; 1.8 asked operators to recreate it, a new one logs everyone out",
                true,
            ),
            carry_env(
                "DKIM_SELECTOR",
                "the selector is part of the published DKIM record name (<selector>._domainkey); a different one breaks signatures",
                false,
            ),
            carry_env(
                "API_TOKEN",
                "scripts and integrations authenticate to the REST API with it",
                true,
            ),
            step(
                "mailu-check-dkim-keys",
                Phase::Cutover,
                Risk::ReadOnly,
                "Check the DKIM private keys arrived (regenerating them would break signatures until DNS changes)",
                // /dkim is the admin service's mount of the project's dkim/.
                exec(in_service(
                    Side::Destination,
                    "admin",
                    &["sh", "-c", "ls /dkim/*.key >/dev/null"],
                )),
            ),
        ]
    }

    /// Front `/health` answers 204 (core/nginx/conf/nginx.conf); ports 25,
    /// 465 and 993 cannot be disabled (configuration.rst).
    fn smoke_checks(ctx: &Context) -> Vec<SmokeCheck> {
        let mut checks = vec![
            check(
                "mailu-health",
                "The front answers /health with 204",
                Side::Destination,
                Action::Http(http("/health", 204)),
            ),
            check(
                "mailu-smtp",
                "SMTP on 25 greets with 220",
                Side::Destination,
                tcp(25, Some("220"), false),
            ),
            check(
                "mailu-smtps",
                "SMTP over TLS on 465 greets with 220",
                Side::Destination,
                tcp(465, Some("220"), true),
            ),
            check(
                "mailu-imaps",
                "IMAP over TLS on 993 greets with * OK",
                Side::Destination,
                tcp(993, Some("* OK"), true),
            ),
            check(
                "mailu-admin-running",
                "The admin service runs",
                Side::Destination,
                exec(in_service(Side::Destination, "admin", &["cat", "/version"])),
            ),
        ];
        if target_is_2024_or_later(ctx) {
            // ManageSieve on 4190 is part of 2024.06's default PORTS; its
            // greeting starts with the capability list [inferred, RFC 5804].
            checks.push(check(
                "mailu-managesieve",
                "ManageSieve on 4190 answers",
                Side::Destination,
                tcp(4190, Some("\"IMPLEMENTATION\""), false),
            ));
        }
        checks
    }

    fn manual_follow_ups() -> Vec<String> {
        vec![
            "Set the reverse DNS (PTR) of the destination's IP to the Mailu HOSTNAME at your hosting provider: with incorrect reverse DNS most mail systems reject your mail (docs/dns.rst).".into(),
            "Make the destination the main MX (or change the A/AAAA record of the MX name), then remove the old server from MX once its queue is empty (maintain.rst).".into(),
            "Check SPF, DKIM and DMARC records still match (the admin domain page shows them; 2024.06 offers a zone file download).".into(),
            "If you publish TLSA (DANE) records for the MX, check they still match the destination's certificates.".into(),
            "Log in to /admin and /webmail with a real account and send and receive a test mail both ways.".into(),
            "If clients used STARTTLS on 143/110/587 and the destination runs 2024.06, re-enable those ports in PORTS or move clients to 993/995/465.".into(),
        ]
    }

    fn examples() -> Vec<Example> {
        let hops = |from: &str, to: &str, h: &[&str]| Example {
            from: from.into(),
            to: to.into(),
            zero_downtime: false,
            expect: Expectation::Hops(h.iter().map(|s| s.to_string()).collect()),
        };
        let refused = |from: &str, to: &str, zd: bool, k: RefusalKind| Example {
            from: from.into(),
            to: to.into(),
            zero_downtime: zd,
            expect: Expectation::Refused(k),
        };
        vec![
            hops("1.9.3", "2024.06.3", &["2.0", "2024.06.3"]),
            hops("2.0.22", "2024.06.57", &["2024.06.57"]),
            hops("2024.06.3", "2024.06.1", &["2024.06.1"]),
            hops("2024.06.5", "2024.06.5", &[]),
            hops("1.0.0+2.0.22", "2.0.0+2024.06.10", &["2024.06.10"]),
            refused("2024.06.3", "2.0.22", false, RefusalKind::Downgrade),
            refused(
                "2.0.22",
                "2024.06.5",
                true,
                RefusalKind::ZeroDowntimeUnsupported,
            ),
            refused("2025.01", "2024.06.3", false, RefusalKind::UnknownVersion),
            refused("master", "2024.06.3", false, RefusalKind::MalformedVersion),
        ]
    }
}

migrate_plugin_sdk::register_plugin!(Mailu);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_plugin_sdk::{parse_native, upgrade_path_native};

    #[test]
    fn examples_hold_natively() {
        let failures = migrate_plugin_sdk::example_failures::<Mailu>();
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn recipe_versions_split_and_refuse_recipe_downgrades() {
        assert_eq!(
            parse_native::<Mailu>("1.0.0+2024.06.3").unwrap().canonical,
            "2024.06.3"
        );
        assert_eq!(
            parse_native::<Mailu>("2.0.22_1").unwrap().canonical,
            "2.0.22"
        );
        let down = upgrade_path_native::<Mailu>(&UpgradeRequest {
            from: "2.0.0+2024.06.10".into(),
            to: "1.0.0+2024.06.10".into(),
            zero_downtime: false,
            facts: Vec::new(),
        });
        assert!(matches!(down.unwrap_err().kind, RefusalKind::Downgrade));
    }

    #[test]
    fn dkim_keys_are_secret_and_carried() {
        let layout = Mailu::data_layout();
        assert!(
            layout
                .iter()
                .any(|d| d.id == "dkim" && matches!(d.kind, DataKind::Secret))
        );
        let post =
            Mailu::post_copy(&migrate_plugin_sdk::testing::context("mail.example.net").build());
        assert!(
            post.iter().any(
                |s| matches!(&s.action, Action::Carry(c) if c.key == "SECRET_KEY" && c.secret)
            )
        );
        assert!(post.iter().any(|s| s.id == "mailu-check-dkim-keys"));
    }

    #[test]
    fn image_tags() {
        assert_eq!(
            Mailu::parse_probe("admin-image-tag", "ghcr.io/mailu/admin:2024.06").unwrap(),
            "2024.06"
        );
        assert!(Mailu::parse_probe("admin-image-tag", "ghcr.io/mailu/admin:master").is_err());
        assert_eq!(
            Mailu::parse_probe("admin-label", "2.0.22\n").unwrap(),
            "2.0.22"
        );
    }
}
