//! What a Discourse move copies, fixes, clears and checks (facts §3.3–3.6).
//!
//! discourse_docker keeps all state in /var/discourse/shared/standalone
//! (the container's /shared: "The Docker container is stateless; all data
//! is stored in /shared", samples/standalone.yml@06400eaa) plus the
//! container definition containers/app.yml.

use migrate_plugin_sdk::prelude::*;

use crate::path::DISCOURSE_DIR;

const SHARED: &str = "/var/discourse/shared/standalone";
/// `./launcher enter app` enters the container named `app`.
const APP: &str = "app";

pub fn data_layout() -> Vec<DataItem> {
    let item = |id: &str, kind, location: String, engine, description: &str, cache| DataItem {
        id: id.to_string(),
        kind,
        location,
        engine,
        service: Some(APP.to_string()),
        description: description.to_string(),
        cache,
    };
    vec![
        item(
            "database",
            DataKind::Database,
            "discourse".to_string(),
            DbEngine::Postgresql,
            "The forum database; its files are /shared/postgres_data, whose PG_VERSION says the PostgreSQL major.",
            false,
        ),
        item(
            "postgres-data",
            DataKind::Directory,
            format!("{SHARED}/postgres_data"),
            DbEngine::Postgresql,
            "PostgreSQL's data directory; copy it only with the container stopped.",
            false,
        ),
        item(
            "redis",
            DataKind::Directory,
            format!("{SHARED}/redis_data"),
            DbEngine::Redis,
            "Redis data (dir /shared/redis_data): queued Sidekiq jobs.",
            false,
        ),
        item(
            "uploads",
            DataKind::Directory,
            format!("{SHARED}/uploads"),
            DbEngine::None,
            "Uploaded files and images (public/uploads in the container).",
            false,
        ),
        item(
            "backups",
            DataKind::Directory,
            format!("{SHARED}/backups"),
            DbEngine::None,
            "Discourse's own backups (backups/default/*.tar.gz).",
            false,
        ),
        item(
            "postgres-old",
            DataKind::Directory,
            format!("{SHARED}/postgres_data_old"),
            DbEngine::None,
            "The cluster a previous PostgreSQL upgrade left behind (and postgres_data_older): not used by the running forum; may stay on the source.",
            true,
        ),
        item(
            "logs",
            DataKind::Directory,
            format!("{SHARED}/log"),
            DbEngine::None,
            "Rails, nginx and other logs (/var/log in the container): not needed to run the forum.",
            true,
        ),
        DataItem {
            id: "app-yml".to_string(),
            kind: DataKind::ConfigFile,
            location: format!("{DISCOURSE_DIR}/containers/app.yml"),
            engine: DbEngine::None,
            service: None,
            description: "The container definition: DISCOURSE_HOSTNAME, SMTP settings, plugins (hooks.after_code), templates and params.version. Copy it to keep plugins and settings.".to_string(),
            cache: false,
        },
    ]
}

pub fn pre_copy() -> Vec<Step> {
    vec![
        step(
            "backup",
            Phase::Prepare,
            Risk::Reversible,
            "Take a Discourse backup with uploads on the source as a fallback",
            manual(
                "Admin → Backups → Backup (include uploads). It lands in /var/discourse/shared/standalone/backups/default/ and can be restored on any same-or-newer Discourse.",
            ),
        ),
        step(
            "stop-app",
            Phase::Cutover,
            Risk::Reversible,
            "Stop the Discourse container on the source for the final copy",
            exec(cmd(Side::Source, &["./launcher", "stop", "app"]).workdir(DISCOURSE_DIR)),
        ),
    ]
}

pub fn post_copy(ctx: &Context) -> Vec<Step> {
    let mut steps = Vec::new();
    match ctx.domain_change() {
        Some((_, new)) => steps.push(step(
            "hostname",
            Phase::Cutover,
            Risk::Reversible,
            "Set DISCOURSE_HOSTNAME to the new domain in containers/app.yml",
            manual(&format!("Set DISCOURSE_HOSTNAME: {new} (and the Let's Encrypt email if it changes) in {DISCOURSE_DIR}/containers/app.yml on the destination.")),
        )),
        None => steps.push(step(
            "hostname",
            Phase::Cutover,
            Risk::ReadOnly,
            "Check DISCOURSE_HOSTNAME in containers/app.yml",
            manual(&format!("Check that DISCOURSE_HOSTNAME in {DISCOURSE_DIR}/containers/app.yml names the domain the forum keeps.")),
        )),
    }
    steps.push(step(
        "rebuild",
        Phase::Cutover,
        Risk::Destructive,
        "Rebuild and start the container on the destination",
        exec(cmd(Side::Destination, &["./launcher", "rebuild", "app"]).workdir(DISCOURSE_DIR)),
    ));
    steps
}

pub fn cache_clears(ctx: &Context) -> Vec<Step> {
    match ctx.domain_change() {
        // The command forms come from meta.discourse.org/t/16098 via a
        // gist (facts §3.5, [unverified] there).
        Some((old, new)) => vec![
            step(
                "remap-domain",
                Phase::Finish,
                Risk::Destructive,
                &format!("Rewrite {old} to {new} in posts and settings"),
                exec(in_service(
                    Side::Destination,
                    APP,
                    &["discourse", "remap", old, new],
                )),
            ),
            step(
                "rebake",
                Phase::Finish,
                Risk::Reversible,
                "Rebake every post so cooked HTML uses the new domain",
                exec(
                    in_service(Side::Destination, APP, &["rake", "posts:rebake"])
                        .workdir("/var/www/discourse"),
                ),
            ),
        ],
        None => vec![step(
            "domain-change",
            Phase::Finish,
            Risk::ReadOnly,
            "Only if the domain changed: remap and rebake",
            manual(
                "If the forum changed domain: ./launcher enter app, then discourse remap OLD NEW and rake posts:rebake (meta.discourse.org/t/16098).",
            ),
        )],
    }
}

pub fn smoke_checks() -> Vec<SmokeCheck> {
    let mut out = Vec::new();
    for side in [Side::Source, Side::Destination] {
        let tag = match side {
            Side::Source => "source",
            Side::Destination => "destination",
        };
        out.push(check(
            &format!("srv-status-{tag}"),
            "/srv/status answers 200 (never geo- or crawler-blocked)",
            side,
            Action::Http(http("/srv/status", 200)),
        ));
        out.push(check(
            &format!("about-{tag}"),
            "/about.json reports a version",
            side,
            Action::Http(http("/about.json", 200).json("about.version", "*")),
        ));
    }
    out
}

pub fn manual_follow_ups() -> Vec<String> {
    vec![
        "Point DNS at the destination; the Let's Encrypt certificate is issued on the first rebuild once the name resolves there.".to_string(),
        "Send a test email from Admin → Emails: SMTP settings come from containers/app.yml and may need the new server allowed by the mail provider.".to_string(),
        "After checking the site, remove /var/discourse/shared/standalone/postgres_data_old on the destination if a PostgreSQL upgrade left it.".to_string(),
        "If the site shows as read-only (response header Discourse-Readonly), disable read-only mode in Admin after the move.".to_string(),
        "This layout is discourse_docker's. A Co-op Cloud deployment uses its recipe's compose.yml instead, whose services and volumes could not be read for this plugin: check them before copying.".to_string(),
    ]
}
