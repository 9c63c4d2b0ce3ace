//! Nextcloud: versions, upgrade paths and migration steps.
//!
//! Every rule cites its source; facts/apps.md §2 is the digest, and where
//! this code disagrees with it the comment says why.

use migrate_plugin_sdk::prelude::*;

mod path;
mod steps;
pub mod version;

/// The compose/stack service running Nextcloud in the official examples.
/// Co-op Cloud's recipe service names were not readable (facts §5).
pub(crate) const APP_SERVICE: &str = "app";
/// The official image's install directory (facts §2.3).
pub(crate) const WEBROOT: &str = "/var/www/html";

pub struct Nextcloud;

impl Plugin for Nextcloud {
    fn info() -> AppInfo {
        AppInfo {
            homepage: Some("https://nextcloud.com".to_string()),
            ..app_info(
                "nextcloud",
                "Nextcloud",
                "Nextcloud 20 to 34: one major per hop following $OC_VersionCanBeUpgradedFrom, no downgrades",
            )
        }
    }

    fn probes(ctx: &Context) -> Vec<Probe> {
        let probes = vec![
            // status.php: `version` is 4-part, `versionstring` the public one
            // (nextcloud/server status.php @0eebff15).
            Probe {
                id: "status-version".into(),
                side: Side::Source,
                kind: ProbeKind::HttpJson(("/status.php".into(), "version".into())),
            },
            Probe {
                id: "status-versionstring".into(),
                side: Side::Source,
                kind: ProbeKind::HttpJson(("/status.php".into(), "versionstring".into())),
            },
            // The code on disk (version.php) and the installed/DB version
            // (config.php 'version'); they differ while an upgrade is pending.
            Probe {
                id: "version-php".into(),
                side: Side::Source,
                kind: ProbeKind::FilePattern((
                    format!("{WEBROOT}/version.php"),
                    r"\$OC_VersionString\s*=\s*'([^']+)'".into(),
                )),
            },
            Probe {
                id: "config-version".into(),
                side: Side::Source,
                kind: ProbeKind::FilePattern((
                    format!("{WEBROOT}/config/config.php"),
                    r"'version'\s*=>\s*'([0-9.]+)'".into(),
                )),
            },
            Probe {
                id: "image-tag".into(),
                side: Side::Source,
                kind: ProbeKind::ImageTag(APP_SERVICE.into()),
            },
        ];
        // abra labels the app service `coop-cloud.<stack>.version` (facts §5).
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
        if probe_id != "image-tag" {
            return Ok(text.to_string());
        }
        // `nextcloud:28.0.4-apache`, `…/nextcloud:28.0.4-fpm-alpine@sha256:…`
        let tag = image_tag(text).map_err(|why| refuse(RefusalKind::MalformedVersion, why))?;
        let tag = ["-fpm-alpine", "-apache", "-fpm"]
            .iter()
            .find_map(|v| tag.strip_suffix(v))
            .unwrap_or(tag);
        if version::parse_form(tag).is_err() {
            return Err(refuse(
                RefusalKind::MalformedVersion,
                format!(
                    "image tag {tag:?} does not pin a Nextcloud release (moving tags like `28`, `stable` or `production` name no exact version); read status.php instead"
                ),
            ));
        }
        Ok(tag.to_string())
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

    fn data_layout() -> Vec<DataItem> {
        steps::data_layout()
    }
    fn pre_copy(_ctx: &Context) -> Vec<Step> {
        steps::pre_copy()
    }
    fn post_copy(ctx: &Context) -> Vec<Step> {
        steps::post_copy(ctx)
    }
    fn cache_clears(_ctx: &Context) -> Vec<Step> {
        steps::cache_clears()
    }
    fn smoke_checks(ctx: &Context) -> Vec<SmokeCheck> {
        steps::smoke_checks(ctx)
    }
    fn manual_follow_ups() -> Vec<String> {
        steps::manual_follow_ups()
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
            hops("27.1.4", "28.0.0", &["28.0.0"]),
            hops("25.0.13", "28.0.4", &["26.0.13", "27.0.2", "28.0.4"]),
            hops("22.1.1", "23.0.12", &["22.2.10", "23.0.12"]),
            hops("28.0.4", "28.0.4", &[]),
            hops("5.0.0+28.0.4", "6.0.0+29.0.1", &["29.0.1"]),
            refused("28.0.4", "27.1.11", false, RefusalKind::Downgrade),
            refused("28.0.1.2", "28.0.1.1", false, RefusalKind::Downgrade),
            refused(
                "28.0.4",
                "29.0.1",
                true,
                RefusalKind::ZeroDowntimeUnsupported,
            ),
            refused("27.2.0", "28.0.0", false, RefusalKind::UnknownVersion),
        ]
    }
}

migrate_plugin_sdk::register_plugin!(Nextcloud);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_plugin_sdk::{parse_native, upgrade_path_native};

    #[test]
    fn examples_hold_natively() {
        let failures = migrate_plugin_sdk::example_failures::<Nextcloud>();
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn recipe_forms_parse_through_the_sdk() {
        assert_eq!(
            parse_native::<Nextcloud>("5.0.0+28.0.4").unwrap().canonical,
            "28.0.4"
        );
        assert_eq!(
            parse_native::<Nextcloud>("28.0.4_1").unwrap().canonical,
            "28.0.4"
        );
        let unknown = parse_native::<Nextcloud>("5.0.0+27.2.0").unwrap_err();
        assert!(
            matches!(unknown.kind, RefusalKind::UnknownVersion),
            "{}",
            unknown.message
        );
        assert!(!unknown.suggestions.is_empty());
        let down = upgrade_path_native::<Nextcloud>(&UpgradeRequest {
            from: "6.0.0+29.0.1".into(),
            to: "5.0.0+28.0.4".into(),
            zero_downtime: false,
            facts: Vec::new(),
        });
        assert!(matches!(down.unwrap_err().kind, RefusalKind::Downgrade));
    }

    #[test]
    fn image_tags_are_read_or_refused() {
        assert_eq!(
            Nextcloud::parse_probe("image-tag", "nextcloud:28.0.4-apache").unwrap(),
            "28.0.4"
        );
        assert_eq!(
            Nextcloud::parse_probe("image-tag", "docker.io/library/nextcloud:29.0.1-fpm-alpine")
                .unwrap(),
            "29.0.1"
        );
        assert!(Nextcloud::parse_probe("image-tag", "nextcloud:stable").is_err());
        assert!(Nextcloud::parse_probe("image-tag", "nextcloud:28").is_err());
        assert_eq!(
            Nextcloud::parse_probe("status-version", " \"31.0.3.2\" ").unwrap(),
            "31.0.3.2"
        );
    }
}
