//! What a Mastodon move copies, fixes, clears and checks.
//!
//! From the official "Migrating to a new machine" guide
//! (mastodon/documentation:content/en/admin/migrating.md@1a4b9dae), the
//! tootctl reference (tootctl.md@00277c3e) and upstream's
//! docker-compose.yml@004f3aa2 (facts §1.4–1.7). Co-op Cloud recipe
//! volume names were not readable (facts §5), so the layout names the
//! upstream compose paths; a recipe TOML may override them.

use migrate_plugin_sdk::prelude::*;

use crate::path::WEB;

fn tootctl(side: Side, args: &[&str]) -> Command {
    let mut argv = vec!["bin/tootctl"];
    argv.extend_from_slice(args);
    in_service(side, WEB, &argv).env("RAILS_ENV", "production")
}

pub fn data_layout() -> Vec<DataItem> {
    let item = |id: &str,
                kind,
                location: &str,
                engine,
                service: Option<&str>,
                description: &str,
                cache| DataItem {
        id: id.to_string(),
        kind,
        location: location.to_string(),
        engine,
        service: service.map(str::to_string),
        description: description.to_string(),
        cache,
    };
    vec![
        item(
            "media",
            DataKind::Directory,
            "public/system",
            DbEngine::None,
            Some(WEB),
            "User uploads and cached remote media (~/live/public/system; docker: ./public/system mounted at /mastodon/public/system). Paths are computed from record ids (:id_partition), so the tree must arrive byte for byte. Empty when media is on S3.",
            false,
        ),
        item(
            "database",
            DataKind::Database,
            "mastodon_production",
            DbEngine::Postgresql,
            Some("db"),
            "The PostgreSQL database (pg_dump -Fc, restored with pg_restore --no-owner --role=mastodon).",
            false,
        ),
        item(
            "redis",
            DataKind::Volume,
            "redis",
            DbEngine::Redis,
            Some("redis"),
            "Redis data (/var/lib/redis; docker: ./redis at /data): holds unprocessed Sidekiq jobs, so it is copied after `redis-cli SAVE`, not rebuilt (the host's Redis step carries it, from the REDIS_* settings in .env.production).",
            false,
        ),
        item(
            "env",
            DataKind::Secret,
            ".env.production",
            DbEngine::None,
            None,
            "Configuration and secrets: SECRET_KEY_BASE, VAPID keys, Active Record encryption keys (4.3+), database and SMTP passwords.",
            false,
        ),
        item(
            "elasticsearch",
            DataKind::Volume,
            "elasticsearch",
            DbEngine::None,
            Some("es"),
            "Optional full-text search indices; rebuilt with `tootctl search deploy`.",
            true,
        ),
    ]
}

pub fn pre_copy(app: &str) -> Vec<Step> {
    vec![
        step(
            "maintenance-page",
            Phase::Prepare,
            Risk::Reversible,
            "Optionally show a maintenance page on the source during the move",
            manual(
                "Edit ~/live/public/500.html on the source so visitors see a notice while Mastodon is down (migrating.md).",
            ),
        ),
        step(
            "stop-app",
            Phase::Cutover,
            Risk::Reversible,
            &format!("Stop {app}'s web, sidekiq and streaming on the source"),
            manual(
                "Stop web, sidekiq and streaming on the source (systemd: systemctl stop 'mastodon-*.service'; docker: docker compose stop web sidekiq streaming). Leave PostgreSQL and Redis running for the dumps.",
            ),
        ),
    ]
}

pub fn post_copy(ctx: &Context, app: &str) -> Vec<Step> {
    let reason_enc = "Mastodon 4.3+ encrypts data with it; it can never be regenerated without losing that data (db:encryption:init refuses to overwrite it).";
    let mut steps = vec![
        step(
            "carry-secret-key-base",
            Phase::Cutover,
            Risk::Reversible,
            "Keep SECRET_KEY_BASE",
            carry(
                ".env.production",
                "SECRET_KEY_BASE",
                "Sessions, signed ids and some stored data depend on it; a new one logs everyone out and breaks links.",
                true,
            ),
        ),
        step(
            "carry-vapid-private",
            Phase::Cutover,
            Risk::Reversible,
            "Keep VAPID_PRIVATE_KEY",
            carry(
                ".env.production",
                "VAPID_PRIVATE_KEY",
                "Web push subscriptions are bound to the VAPID key pair; new keys silently break every browser's notifications.",
                true,
            ),
        ),
        step(
            "carry-vapid-public",
            Phase::Cutover,
            Risk::Reversible,
            "Keep VAPID_PUBLIC_KEY",
            carry(
                ".env.production",
                "VAPID_PUBLIC_KEY",
                "The public half of the VAPID pair the push subscriptions use.",
                false,
            ),
        ),
    ];
    for key in [
        "ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY",
        "ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT",
        "ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY",
    ] {
        steps.push(step(
            &format!("carry-{}", key.to_ascii_lowercase().replace('_', "-")),
            Phase::Cutover,
            Risk::Reversible,
            &format!("Keep {key} (Mastodon 4.3+)"),
            carry(".env.production", key, reason_enc, true),
        ));
    }
    steps.push(step(
        "carry-otp-secret",
        Phase::Cutover,
        Risk::Reversible,
        "Keep OTP_SECRET (used until Mastodon 4.4.0 removed it)",
        carry(".env.production", "OTP_SECRET", "Before 4.4.0, two-factor secrets are encrypted with it; a new one locks users with 2FA out.", true),
    ));
    // Accounts federate as acct:user@LOCAL_DOMAIN, a "verifiable global
    // name for the user across Mastodon instances" (tootsuite/documentation
    // Running-Mastodon/Serving_a_different_domain.md); not in the facts file.
    steps.push(step(
        "carry-local-domain",
        Phase::Cutover,
        Risk::Reversible,
        "Keep LOCAL_DOMAIN unchanged",
        carry(".env.production", "LOCAL_DOMAIN", "Accounts are federated as user@LOCAL_DOMAIN; other servers keep those ids, so the domain must not change with the move.", false),
    ));
    // Upstream's image compiles its assets when it is built (Dockerfile:
    // `bundle exec rails assets:precompile` in the build stage), so only a
    // from-source destination needs this; the context says which it is.
    // Without an upgrade the copied public/packs already hold the compiled
    // assets; a target version is named only for a move that upgrades.
    if ctx.destination.runs_in_containers() || ctx.target_version.is_none() {
        return steps;
    }
    steps.push(step(
        "assets-precompile",
        Phase::Cutover,
        Risk::Reversible,
        &format!("Precompile {app}'s assets on the destination"),
        exec(
            in_service(
                Side::Destination,
                WEB,
                &["bundle", "exec", "rails", "assets:precompile"],
            )
            .env("RAILS_ENV", "production"),
        ),
    ));
    steps
}

pub fn cache_clears() -> Vec<Step> {
    vec![
        step(
            "tootctl-cache-clear",
            Phase::Finish,
            Risk::Reversible,
            "Clear Mastodon's cache storage",
            exec(tootctl(Side::Destination, &["cache", "clear"])),
        ),
        // migrating.md writes `tootctl feeds build` without an argument, but
        // the tootctl reference takes USERNAME or --all (tootctl.md@00277c3e).
        step(
            "tootctl-feeds-build",
            Phase::Finish,
            Risk::Reversible,
            "Rebuild every user's home and list feeds in Redis (left out when Redis travels with the move)",
            exec(tootctl(Side::Destination, &["feeds", "build", "--all"])),
        ),
        step(
            "tootctl-search-deploy",
            Phase::Finish,
            Risk::Reversible,
            "Rebuild the Elasticsearch indices when search is enabled",
            exec(
                in_service(
                    Side::Destination,
                    WEB,
                    &[
                        "sh",
                        "-c",
                        // A from-source install keeps ES_ENABLED in
                        // .env.production (tootctl reads it, the shell
                        // does not); a container has it in its environment.
                        "if [ \"$ES_ENABLED\" = true ] || grep -qs '^ES_ENABLED=true' .env.production; then exec bin/tootctl search deploy; fi",
                    ],
                )
                .env("RAILS_ENV", "production"),
            ),
        ),
    ]
}

pub fn smoke_checks() -> Vec<SmokeCheck> {
    let mut out = Vec::new();
    for side in [Side::Source, Side::Destination] {
        let tag = match side {
            Side::Source => "source",
            Side::Destination => "destination",
        };
        out.push(check(
            &format!("health-{tag}"),
            "The web process answers /health with OK",
            side,
            Action::Http(http("/health", 200).contains("OK")),
        ));
        out.push(check(
            &format!("streaming-health-{tag}"),
            "The streaming server answers /api/v1/streaming/health with OK",
            side,
            Action::Http(http("/api/v1/streaming/health", 200).contains("OK")),
        ));
        out.push(check(
            &format!("instance-{tag}"),
            "/api/v1/instance reports a version",
            side,
            Action::Http(http("/api/v1/instance", 200).json("version", "*")),
        ));
    }
    out
}

pub fn manual_follow_ups(app: &str) -> Vec<String> {
    vec![
        "Copy or recreate the nginx site (/etc/nginx/sites-available/mastodon) and re-run Let's Encrypt for the domain on the destination.".to_string(),
        format!("Copy the systemd units (/etc/systemd/system/mastodon-*.service) or the compose file, and /etc/pgbouncer if {app} used PgBouncer."),
        "If media lives on S3-compatible storage, nothing under public/system needs copying, but the S3 credentials in .env.production must reach the destination.".to_string(),
        "Lower the DNS TTL to 30–60 minutes a day before, switch the records after the smoke checks pass, and restore the TTL afterwards.".to_string(),
        "Watch Sidekiq's queues (Administration → Sidekiq) drain on the destination after the start.".to_string(),
        "On Co-op Cloud, check the data layout against the recipe's compose.yml: its service and volume names could not be read for this plugin (the layout names upstream's docker-compose paths).".to_string(),
    ]
}
