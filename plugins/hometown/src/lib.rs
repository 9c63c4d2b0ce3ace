//! The `hometown` recipe plugin: Hometown, the Mastodon fork, with its own
//! version forms and the Mastodon bases it shipped; everything else
//! (dependency minimums, migrations, layout, checks) is Mastodon's, reused
//! from the `mastodon-rules` crate.

pub mod path;
pub mod version;

use mastodon_rules::{ops, probe};
use migrate_plugin_sdk::prelude::*;

use crate::version::HometownVersion;

pub struct Hometown;

impl Plugin for Hometown {
    fn info() -> AppInfo {
        AppInfo {
            homepage: Some("https://github.com/hometown-fork/hometown".to_string()),
            ..app_info(
                "hometown",
                "Hometown",
                "Hometown 1.0.3 (Mastodon 3.0.1) to 1.2.1 (Mastodon 4.5.11), on Mastodon 3.0, 3.2, 3.5, 4.0, 4.2 and 4.5 bases",
            )
        }
    }

    fn parse(raw: &str) -> Result<Version, Refusal> {
        HometownVersion::parse(raw).map(|v| v.to_version(raw))
    }

    fn upgrade_path(req: &UpgradeRequest) -> Result<UpgradePlan, Refusal> {
        let from = HometownVersion::parse(&req.from)?;
        let to = HometownVersion::parse(&req.to)?;
        path::plan(&from, &to, req.zero_downtime, &req.facts)
    }

    fn probes(ctx: &Context) -> Vec<Probe> {
        // Hometown publishes no official image; its version comes from the
        // instance API (hometown#1335) or the Co-op Cloud deploy label.
        probe::probes(ctx)
            .into_iter()
            .filter(|p| p.id != probe::IMAGE)
            .collect()
    }

    fn parse_probe(probe_id: &str, raw: &str) -> Result<String, Refusal> {
        probe::parse_probe("Hometown", probe_id, raw)
    }

    fn known() -> Vec<String> {
        version::known()
    }

    fn data_layout() -> Vec<DataItem> {
        ops::data_layout()
    }
    fn pre_copy(_ctx: &Context) -> Vec<Step> {
        ops::pre_copy("Hometown")
    }
    fn post_copy(ctx: &Context) -> Vec<Step> {
        ops::post_copy(ctx, "Hometown")
    }
    fn cache_clears(_ctx: &Context) -> Vec<Step> {
        ops::cache_clears()
    }
    fn smoke_checks(_ctx: &Context) -> Vec<SmokeCheck> {
        ops::smoke_checks()
    }
    fn manual_follow_ups() -> Vec<String> {
        let mut out = ops::manual_follow_ups("Hometown");
        out.push("Check that the footer and /api/v1/instance show the Hometown number on the destination (hometown#1335).".to_string());
        out
    }

    fn examples() -> Vec<Example> {
        vec![
            example(
                "4.2.17+hometown-1.1.2",
                "4.5.11+hometown-1.2.1",
                false,
                hops(&["4.5.11+hometown-1.2.1"]),
            ),
            example(
                "v4.0.15+hometown-1.1.1",
                "v4.5.11+hometown-1.2.1",
                false,
                hops(&["4.2.17+hometown-1.1.2", "4.5.11+hometown-1.2.1"]),
            ),
            example(
                "v1.0.5+3.2.0",
                "v4.0.6+hometown-1.1.1",
                false,
                hops(&["3.5.5+hometown-1.0.8", "4.0.6+hometown-1.1.1"]),
            ),
            example(
                "4.0.10",
                "4.0.10+hometown-1.1.1",
                false,
                hops(&["4.0.10+hometown-1.1.1"]),
            ),
            example(
                "4.5.11+hometown-1.2.1",
                "4.2.17+hometown-1.1.2",
                false,
                Expectation::Refused(RefusalKind::Downgrade),
            ),
            example(
                "4.0.15+hometown-1.1.1",
                "4.2.17+hometown-1.1.2",
                true,
                Expectation::Refused(RefusalKind::ZeroDowntimeUnsupported),
            ),
            example(
                "4.2.12+hometown-1.1.1",
                "4.3.5+hometown-1.1.2",
                false,
                Expectation::Refused(RefusalKind::UnknownVersion),
            ),
            example(
                "4.2.12+hometown-1.1.1",
                "4.5.11",
                false,
                Expectation::Refused(RefusalKind::NoPath),
            ),
            example(
                "4.5.11+hometown-1.2.1",
                "4.5.11+hometown-1.2.1",
                true,
                hops(&[]),
            ),
        ]
    }
}

migrate_plugin_sdk::register_plugin!(Hometown);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_plugin_sdk::upgrade_path_native;

    fn req(from: &str, to: &str, zd: bool) -> UpgradeRequest {
        UpgradeRequest {
            from: from.to_string(),
            to: to.to_string(),
            zero_downtime: zd,
            facts: Vec::new(),
        }
    }

    #[test]
    fn declared_examples_hold() {
        let failures = migrate_plugin_sdk::example_failures::<Hometown>();
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn hops_check_out_hometown_tags_and_keep_mastodon_steps() {
        let plan = upgrade_path_native::<Hometown>(&req(
            "v4.0.15+hometown-1.1.1",
            "4.5.11+hometown-1.2.1",
            false,
        ))
        .unwrap();
        let first: Vec<&str> = plan.hops[0].steps.iter().map(|s| s.id.as_str()).collect();
        let deploy = &plan.hops[0]
            .steps
            .iter()
            .find(|s| s.id == "hop1-deploy")
            .unwrap()
            .action;
        assert!(
            matches!(deploy, Action::Manual(m) if m.contains("git checkout v4.2.17+hometown-1.1.2")),
            "{deploy:?}"
        );
        assert!(
            first.contains(&"hop1-notes-4.1") && first.contains(&"hop1-notes-4.2"),
            "{first:?}"
        );
        let second: Vec<&str> = plan.hops[1].steps.iter().map(|s| s.id.as_str()).collect();
        assert!(second.contains(&"hop2-ar-encryption-init"), "{second:?}");
        assert!(
            plan.hops[1]
                .notes
                .iter()
                .any(|n| n.contains("4.3.0, 4.4.0 and 4.5.0"))
        );
    }

    #[test]
    fn plain_versions_say_hometown_may_not_be_checked_out() {
        let plan = upgrade_path_native::<Hometown>(&req("4.0.10", "4.2.12+hometown-1.1.1", false))
            .unwrap();
        assert!(plan.caveats.iter().any(|c| c.contains("#1335")));
        assert_eq!(plan.hops.len(), 1);
    }

    #[test]
    fn recipe_versions_wrap_hometown_ones() {
        let v =
            migrate_plugin_sdk::parse_native::<Hometown>("1.2.0+v4.2.12+hometown-1.1.1").unwrap();
        assert_eq!(v.canonical, "4.2.12+hometown-1.1.1");
    }
}
