//! The `discourse` recipe plugin: Discourse's old and date-based versions,
//! forward-only upgrades by rebuild, the restore schema rule and the
//! PostgreSQL upgrade disk rule of discourse_docker (facts §3).

pub mod ops;
pub mod path;
pub mod probe;
pub mod version;

use migrate_plugin_sdk::prelude::*;

use crate::version::DiscourseVersion;

pub struct Discourse;

impl Plugin for Discourse {
    fn info() -> AppInfo {
        AppInfo {
            homepage: Some("https://www.discourse.org".to_string()),
            ..app_info(
                "discourse",
                "Discourse",
                "Discourse 2.x to 3.5 (and 3.x betas), date-based 2025.11 to 2026.11 (and -latest builds), on discourse_docker",
            )
        }
    }

    fn parse(raw: &str) -> Result<Version, Refusal> {
        DiscourseVersion::parse(raw).map(|v| v.to_version(raw))
    }

    fn upgrade_path(req: &UpgradeRequest) -> Result<UpgradePlan, Refusal> {
        let from = DiscourseVersion::parse(&req.from)?;
        let to = DiscourseVersion::parse(&req.to)?;
        path::plan(&from, &to, req.zero_downtime, &req.facts)
    }

    fn probes(ctx: &Context) -> Vec<Probe> {
        probe::probes(ctx)
    }

    fn parse_probe(probe_id: &str, raw: &str) -> Result<String, Refusal> {
        probe::parse_probe(probe_id, raw)
    }

    fn known() -> Vec<String> {
        version::known()
    }

    fn data_layout() -> Vec<DataItem> {
        ops::data_layout()
    }
    fn pre_copy(_ctx: &Context) -> Vec<Step> {
        ops::pre_copy()
    }
    fn post_copy(ctx: &Context) -> Vec<Step> {
        ops::post_copy(ctx)
    }
    fn cache_clears(ctx: &Context) -> Vec<Step> {
        ops::cache_clears(ctx)
    }
    fn smoke_checks(_ctx: &Context) -> Vec<SmokeCheck> {
        ops::smoke_checks()
    }
    fn manual_follow_ups() -> Vec<String> {
        ops::manual_follow_ups()
    }

    fn examples() -> Vec<Example> {
        vec![
            example(
                "3.1.0.beta6",
                "2026.3.0-latest",
                false,
                hops(&["2026.3.0-latest"]),
            ),
            example("v3.4.7", "v3.5.4", true, hops(&["3.5.4"])),
            example("2026.2.0", "2026.2.0", false, hops(&[])),
            example(
                "2026.3.0",
                "2026.3.0-latest",
                false,
                Expectation::Refused(RefusalKind::Downgrade),
            ),
            example(
                "2025.11.0",
                "3.5.4",
                false,
                Expectation::Refused(RefusalKind::Downgrade),
            ),
            example(
                "3.2.0",
                "2026.2.0",
                true,
                Expectation::Refused(RefusalKind::ZeroDowntimeUnsupported),
            ),
            example(
                "3.1.0.rc1",
                "3.2.0",
                false,
                Expectation::Refused(RefusalKind::MalformedVersion),
            ),
            example(
                "3.5.4",
                "2027.1.0",
                false,
                Expectation::Refused(RefusalKind::UnknownVersion),
            ),
            example(
                "1.0.0+3.4.7",
                "1.1.0+2025.12.1",
                false,
                hops(&["2025.12.1"]),
            ),
        ]
    }
}

migrate_plugin_sdk::register_plugin!(Discourse);

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

    #[test]
    fn declared_examples_hold() {
        let failures = migrate_plugin_sdk::example_failures::<Discourse>();
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn disk_rule_refuses_a_postgres_upgrade_without_room() {
        let r = upgrade_path_native::<Discourse>(&req(
            "3.4.7",
            "2026.2.0",
            false,
            &[
                ("source-postgresql-version", "13"),
                ("free-disk-bytes", "10G"),
                ("database-bytes", "6G"),
            ],
        ))
        .unwrap_err();
        assert!(
            matches!(r.kind, RefusalKind::PreconditionFailed),
            "{}",
            r.message
        );
        assert!(
            r.message.contains("postgres.15.template.yml"),
            "{}",
            r.message
        );
        let plan = upgrade_path_native::<Discourse>(&req(
            "3.4.7",
            "2026.2.0",
            false,
            &[
                ("source-postgresql-version", "13"),
                ("free-disk-bytes", "13G"),
                ("database-bytes", "6G"),
            ],
        ))
        .unwrap();
        assert!(
            plan.hops[0]
                .steps
                .iter()
                .any(|s| s.id == "hop1-postgres-upgrade")
        );
    }

    #[test]
    fn newer_backup_schema_is_refused() {
        let r = upgrade_path_native::<Discourse>(&req(
            "3.4.7",
            "3.4.7",
            false,
            &[
                ("backup-schema-version", "20250520015508"),
                ("destination-schema-version", "20250103134013"),
            ],
        ))
        .unwrap_err();
        assert!(
            matches!(r.kind, RefusalKind::PreconditionFailed),
            "{}",
            r.message
        );
    }

    #[test]
    fn latest_builds_warn_that_they_move() {
        let plan =
            upgrade_path_native::<Discourse>(&req("2026.2.0", "2026.3.0-latest", false, &[]))
                .unwrap();
        assert!(plan.caveats.iter().any(|c| c.contains("development build")));
        assert!(
            plan.preconditions
                .iter()
                .any(|p| p.what == "Backup schema version" && p.met.is_none())
        );
    }

    fn ids(steps: &[Step]) -> Vec<&str> {
        steps.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn a_domain_change_remaps_and_rebakes() {
        use migrate_plugin_sdk::testing;
        let moved = testing::context("forum.example.net")
            .old_domain("talk.example.org")
            .build();
        let clears = Discourse::cache_clears(&moved);
        assert_eq!(ids(&clears), ["remap-domain", "rebake"]);
        assert!(matches!(&clears[0].action, Action::Exec(c)
            if c.argv == ["discourse", "remap", "talk.example.org", "forum.example.net"]));
        let post = Discourse::post_copy(&moved);
        assert!(
            matches!(&post[0].action, Action::Manual(t) if t.contains("DISCOURSE_HOSTNAME: forum.example.net"))
        );

        // The same domain, or none given before: no remap, only the reminder.
        for ctx in [
            testing::context("forum.example.net").build(),
            testing::context("forum.example.net")
                .old_domain("forum.example.net")
                .build(),
        ] {
            assert_eq!(ids(&Discourse::cache_clears(&ctx)), ["domain-change"]);
        }
    }

    #[test]
    fn a_stack_source_reads_the_recipe_label_first() {
        use migrate_plugin_sdk::testing;
        let ctx = testing::context("forum.example.net")
            .source_stack("forum_example_net", "/shared")
            .build();
        let probes = Discourse::probes(&ctx);
        assert!(matches!(&probes[0].kind, ProbeKind::DockerLabel((s, l))
            if s == "app" && l == "coop-cloud.forum_example_net.version"));
        let plain = Discourse::probes(&testing::context("forum.example.net").build());
        assert!(
            !plain
                .iter()
                .any(|p| matches!(p.kind, ProbeKind::DockerLabel(_)))
        );
    }
}
