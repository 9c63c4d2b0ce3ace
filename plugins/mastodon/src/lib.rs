//! The `mastodon` recipe plugin: Mastodon's versions, upgrade rules, data
//! layout and checks, from the facts in the project's app notes (§1).
//!
//! The rules live in the `mastodon-rules` crate, which Hometown shares.

use mastodon_rules::version::MastodonVersion;
use mastodon_rules::{ops, path, probe, release};
use migrate_plugin_sdk::prelude::*;

pub struct Mastodon;

impl Plugin for Mastodon {
    fn info() -> AppInfo {
        AppInfo {
            homepage: Some("https://joinmastodon.org".to_string()),
            ..app_info(
                "mastodon",
                "Mastodon",
                "Mastodon 3.0 to 4.7.4; dependency minimums for 4.0 to 4.5",
            )
        }
    }

    fn parse(raw: &str) -> Result<Version, Refusal> {
        MastodonVersion::parse(raw).map(|v| v.to_version(raw))
    }

    fn upgrade_path(req: &UpgradeRequest) -> Result<UpgradePlan, Refusal> {
        let from = MastodonVersion::parse(&req.from)?;
        let to = MastodonVersion::parse(&req.to)?;
        path::plan(&from, &to, req.zero_downtime, &req.facts)
    }

    fn probes(ctx: &Context) -> Vec<Probe> {
        probe::probes(ctx)
    }

    fn parse_probe(probe_id: &str, raw: &str) -> Result<String, Refusal> {
        probe::parse_probe("Mastodon", probe_id, raw)
    }

    fn known() -> Vec<String> {
        release::known()
    }

    fn data_layout() -> Vec<DataItem> {
        ops::data_layout()
    }
    fn pre_copy(_ctx: &Context) -> Vec<Step> {
        ops::pre_copy("Mastodon")
    }
    fn post_copy(ctx: &Context) -> Vec<Step> {
        ops::post_copy(ctx, "Mastodon")
    }
    fn cache_clears(_ctx: &Context) -> Vec<Step> {
        ops::cache_clears()
    }
    fn smoke_checks(_ctx: &Context) -> Vec<SmokeCheck> {
        ops::smoke_checks()
    }
    fn manual_follow_ups() -> Vec<String> {
        ops::manual_follow_ups("Mastodon")
    }

    fn examples() -> Vec<Example> {
        vec![
            example("4.2.10", "4.5.11", false, hops(&["4.5.11"])),
            example("v4.3.13", "v4.4.8", true, hops(&["4.4.8"])),
            example("4.3.17", "4.3.17", false, hops(&[])),
            example(
                "4.5.11",
                "4.4.8",
                false,
                Expectation::Refused(RefusalKind::Downgrade),
            ),
            example(
                "4.1.25",
                "4.3.21",
                true,
                Expectation::Refused(RefusalKind::ZeroDowntimeUnsupported),
            ),
            example("4.1.25", "4.3.21", false, hops(&["4.3.21"])),
            example("2.0.1+v4.2.1", "2.1.0+v4.3.0", false, hops(&["4.3.0"])),
            example(
                "4.2.1.1",
                "4.3.0",
                false,
                Expectation::Refused(RefusalKind::MalformedVersion),
            ),
            example(
                "4.2.10",
                "4.9.0",
                false,
                Expectation::Refused(RefusalKind::UnknownVersion),
            ),
        ]
    }
}

migrate_plugin_sdk::register_plugin!(Mastodon);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_plugin_sdk::upgrade_path_native;

    fn req(from: &str, to: &str, zd: bool, facts: &[(&str, &str)]) -> UpgradeRequest {
        UpgradeRequest {
            from: from.to_string(),
            to: to.to_string(),
            zero_downtime: zd,
            facts: facts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn run(from: &str, to: &str, zd: bool, facts: &[(&str, &str)]) -> Result<UpgradePlan, Refusal> {
        upgrade_path_native::<Mastodon>(&req(from, to, zd, facts))
    }

    #[test]
    fn declared_examples_hold() {
        let failures = migrate_plugin_sdk::example_failures::<Mastodon>();
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn crossing_4_3_generates_and_stores_encryption_secrets() {
        let plan = run("4.2.10", "4.5.11", false, &[]).unwrap();
        let ids: Vec<&str> = plan.hops[0].steps.iter().map(|s| s.id.as_str()).collect();
        assert!(ids.contains(&"hop1-ar-encryption-init"), "{ids:?}");
        assert!(ids.contains(&"hop1-notes-4.3"));
        assert!(ids.contains(&"hop1-notes-4.4"));
        assert!(ids.contains(&"hop1-notes-4.5"));
        assert!(!ids.contains(&"hop1-notes-4.2"));
        assert!(
            plan.caveats
                .iter()
                .any(|c| c.contains("documentation#1356"))
        );
        let plan = run("4.3.13", "4.4.8", false, &[]).unwrap();
        assert!(
            !plan.hops[0]
                .steps
                .iter()
                .any(|s| s.id.contains("encryption"))
        );
    }

    #[test]
    fn secrets_are_carried_as_secrets() {
        let post = Mastodon::post_copy(
            &migrate_plugin_sdk::testing::context("social.example.net").build(),
        );
        for key in [
            "SECRET_KEY_BASE",
            "VAPID_PRIVATE_KEY",
            "ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY",
        ] {
            let found = post
                .iter()
                .any(|s| matches!(&s.action, Action::Carry(c) if c.key == key && c.secret));
            assert!(found, "{key}");
        }
    }

    #[test]
    fn zero_downtime_uses_two_phase_migrations() {
        let plan = run("4.2.10", "4.3.21", true, &[]).unwrap();
        let pre = plan.hops[0]
            .steps
            .iter()
            .find(|s| s.id == "hop1-migrate-pre")
            .unwrap();
        match &pre.action {
            Action::Exec(c) => assert!(
                c.env
                    .iter()
                    .any(|(k, v)| k == "SKIP_POST_DEPLOYMENT_MIGRATIONS" && v == "true")
            ),
            other => panic!("{other:?}"),
        }
        let refused = run("4.1.25", "4.3.21", true, &[]).unwrap_err();
        assert!(
            refused.message.contains("without --zero-downtime"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn failed_preconditions_refuse_and_missing_ones_stay_unknown() {
        let r = run("4.2.10", "4.3.21", false, &[("postgresql-version", "14.1")]).unwrap_err();
        assert!(
            matches!(r.kind, RefusalKind::PreconditionFailed),
            "{}",
            r.message
        );
        let plan = run("4.2.10", "4.3.21", false, &[("postgresql-version", "16.4")]).unwrap();
        let pg = plan
            .preconditions
            .iter()
            .find(|p| p.what == "PostgreSQL")
            .unwrap();
        assert_eq!(pg.met, Some(true));
        let redis = plan
            .preconditions
            .iter()
            .find(|p| p.what == "Redis")
            .unwrap();
        assert_eq!(redis.met, None);
    }

    #[test]
    fn recipe_versions_are_split_by_the_sdk() {
        let v = migrate_plugin_sdk::parse_native::<Mastodon>("2.0.1+v4.2.1").unwrap();
        assert_eq!(v.canonical, "4.2.1");
        let r = upgrade_path_native::<Mastodon>(&req("2.1.0+v4.3.0", "2.0.1+v4.2.1", false, &[]))
            .unwrap_err();
        assert!(matches!(r.kind, RefusalKind::Downgrade));
    }

    #[test]
    fn assets_are_precompiled_only_for_a_from_source_destination_that_upgrades() {
        use migrate_plugin_sdk::testing;
        let precompiles = |ctx: &Context| {
            Mastodon::post_copy(ctx)
                .iter()
                .any(|s| s.id == "assets-precompile")
        };
        assert!(precompiles(
            &testing::context("social.example.net")
                .target_version("4.4.8")
                .build()
        ));
        // The same version: the copied public/packs are the compiled assets.
        assert!(!precompiles(
            &testing::context("social.example.net").build()
        ));
        let stack = testing::context("social.example.net")
            .target_version("4.4.8")
            .destination_stack("social_example_net", "/opt/mastodon")
            .build();
        assert!(!precompiles(&stack));
        let compose = testing::context("social.example.net")
            .target_version("4.4.8")
            .destination(LayoutKind::Compose, "/opt/mastodon")
            .build();
        assert!(!precompiles(&compose));
    }
}
