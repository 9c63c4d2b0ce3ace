//! What a Nextcloud move needs around the copy: data layout, pre-copy,
//! post-copy fixes, cache clears, smoke checks (facts/apps.md §2.3-2.6).

use migrate_plugin_sdk::host;
use migrate_plugin_sdk::prelude::*;

use crate::{APP_SERVICE, WEBROOT};

fn occ(side: Side, args: &[&str]) -> Command {
    let mut argv = vec!["php", "occ"];
    argv.extend_from_slice(args);
    in_service(side, APP_SERVICE, &argv)
        .as_user("www-data")
        .workdir(WEBROOT)
}

fn item(
    id: &str,
    kind: DataKind,
    location: &str,
    engine: DbEngine,
    cache: bool,
    description: &str,
) -> DataItem {
    DataItem {
        id: id.into(),
        kind,
        location: location.into(),
        engine,
        service: Some(APP_SERVICE.into()),
        description: description.into(),
        cache,
    }
}

/// "the configuration directory, the data directory, the database, the
/// theme directory" (restore.rst @01d2d3af); the official image keeps
/// `config data custom_apps themes` across upgrades (docker entrypoint).
pub fn data_layout() -> Vec<DataItem> {
    vec![
        item(
            "config",
            DataKind::ConfigFile,
            &format!("{WEBROOT}/config"),
            DbEngine::None,
            false,
            "config.php: instanceid, passwordsalt, secret, database and host settings. If the destination was installed fresh, keep its own file and let the carry steps move the keys that matter.",
        ),
        item(
            "data",
            DataKind::Directory,
            &format!("{WEBROOT}/data"),
            DbEngine::None,
            false,
            "User files and appdata_<instanceid>/. Keep timestamps, or every sync client downloads everything again (migrating.rst).",
        ),
        item(
            "previews",
            DataKind::Directory,
            &format!("{WEBROOT}/data/appdata_*/preview"),
            DbEngine::None,
            true,
            "Generated thumbnails; Nextcloud regenerates them on demand [inferred], so a tight copy may skip them.",
        ),
        item(
            "custom-apps",
            DataKind::Directory,
            &format!("{WEBROOT}/custom_apps"),
            DbEngine::None,
            false,
            "Apps installed from the app store.",
        ),
        item(
            "themes",
            DataKind::Directory,
            &format!("{WEBROOT}/themes"),
            DbEngine::None,
            false,
            "Custom themes.",
        ),
        DataItem {
            service: None,
            ..item(
                "database",
                DataKind::Database,
                "nextcloud",
                database_engine(),
                false,
                "The Nextcloud database (name as config.php dbname). Engine per config.php dbtype: mysql -> MariaDB/MySQL, pgsql -> PostgreSQL, sqlite3 -> a file inside data/. You need both the database and the data directory (restore.rst).",
            )
        },
        DataItem {
            kind: DataKind::Secret,
            ..item(
                "passwordsalt",
                DataKind::Secret,
                "config/config.php:passwordsalt",
                DbEngine::None,
                false,
                "\"If you lose this salt, you lose all your passwords\" (config sample).",
            )
        },
        item(
            "secret",
            DataKind::Secret,
            "config/config.php:secret",
            DbEngine::None,
            false,
            "Server secret from config.php; a new one invalidates what it protects [inferred].",
        ),
    ]
}

/// The engine, if the source's config.php can be read while planning;
/// `none` (unknown) otherwise, so nothing guesses a database that is not there.
fn database_engine() -> DbEngine {
    let Ok(text) = host::read_file(Side::Source, &format!("{WEBROOT}/config/config.php")) else {
        return DbEngine::None;
    };
    config_value(&text, "dbtype").map_or(DbEngine::None, |t| match t.as_str() {
        "pgsql" => DbEngine::Postgresql,
        "mysql" => DbEngine::Mariadb,
        "sqlite3" | "sqlite" => DbEngine::Sqlite,
        _ => DbEngine::None,
    })
}

/// A string value of config.php (`'key' => 'value',`).
pub(crate) fn config_value(php: &str, key: &str) -> Option<String> {
    let needle = format!("'{key}'");
    let at = php.find(&needle)? + needle.len();
    let rest = php[at..].trim_start().strip_prefix("=>")?.trim_start();
    let rest = rest.strip_prefix('\'')?;
    let end = rest.find('\'')?;
    Some(rest[..end].to_string())
}

/// migrating.rst @127bb14a: maintenance mode on the original, wait 6-7
/// minutes for sync clients, stop the web server. "At NO TIME any changes to
/// the ORIGINAL system are required EXCEPT putting Nextcloud into
/// maintenance mode."
pub fn pre_copy() -> Vec<Step> {
    vec![
        step(
            "nextcloud-maintenance-on",
            Phase::Cutover,
            Risk::Reversible,
            "Put the source Nextcloud into maintenance mode",
            exec(occ(Side::Source, &["maintenance:mode", "--on"])),
        ),
        step(
            "nextcloud-wait-for-sync-clients",
            Phase::Cutover,
            Risk::ReadOnly,
            "Wait 7 minutes so sync clients notice maintenance mode (migrating.rst: 6-7 minutes)",
            exec(cmd(Side::Source, &["sleep", "420"])),
        ),
        step(
            "nextcloud-stop-web",
            Phase::Cutover,
            Risk::Reversible,
            "Stop the source web server and cron so nothing writes; keep the database up for the dump",
            manual(
                "Stop the web server (or the app, web and cron services) on the source; leave the database running for the dump.",
            ),
        ),
    ]
}

/// §2.5: keep instanceid/passwordsalt/secret, set the new host, data
/// fingerprint when the source had one, then maintenance off and only then
/// files:scan (the files commands do not exist in maintenance mode,
/// nextcloud/server#20515).
pub fn post_copy(ctx: &Context) -> Vec<Step> {
    let mut steps = vec![
        step(
            "nextcloud-carry-instanceid",
            Phase::Cutover,
            Risk::Reversible,
            "Keep the source's instanceid on the destination",
            carry(
                "config/config.php",
                "instanceid",
                "apps address their storage as data/appdata_<instanceid>; a new id orphans app data, previews and keys",
                false,
            ),
        ),
        step(
            "nextcloud-carry-passwordsalt",
            Phase::Cutover,
            Risk::Reversible,
            "Keep the source's passwordsalt on the destination",
            carry(
                "config/config.php",
                "passwordsalt",
                "\"If you lose this salt, you lose all your passwords\"",
                true,
            ),
        ),
        step(
            "nextcloud-carry-secret",
            Phase::Cutover,
            Risk::Reversible,
            "Keep the source's secret on the destination",
            carry(
                "config/config.php",
                "secret",
                "the server secret; a new one invalidates what it signed and encrypted",
                true,
            ),
        ),
    ];
    // The domain is always part of the context: both settings are commands.
    let domain = &ctx.domain;
    let set = |id: &str, title: &str, key: &str, value: &str| {
        step(
            id,
            Phase::Cutover,
            Risk::Reversible,
            title,
            exec(occ(
                Side::Destination,
                &["config:system:set", key, "--value", value],
            )),
        )
    };
    let mut trusted = set(
        "nextcloud-trusted-domains",
        "Trust the destination's hostname",
        "trusted_domains",
        domain,
    );
    if let Action::Exec(c) = &mut trusted.action {
        // `trusted_domains 0`: the first entry of the list.
        c.argv.insert(4, "0".into());
    }
    steps.push(trusted);
    steps.push(set(
        "nextcloud-overwrite-cli-url",
        "Point overwrite.cli.url at the destination's hostname",
        "overwrite.cli.url",
        &format!("https://{domain}"),
    ));
    if let Some(s) = data_fingerprint_step() {
        steps.push(s);
    }
    if let Some(s) = datadirectory_step(ctx) {
        steps.push(s);
    }
    steps.push(step(
        "nextcloud-maintenance-off",
        Phase::Cutover,
        Risk::Reversible,
        "After the upgrade hops and a check that the maintenance page shows, turn maintenance mode off",
        exec(occ(Side::Destination, &["maintenance:mode", "--off"])),
    ));
    steps.push(step(
        "nextcloud-files-scan",
        Phase::Finish,
        Risk::Reversible,
        "Rescan all files (only after maintenance mode is off: the files commands do not exist in maintenance mode)",
        exec(occ(Side::Destination, &["files:scan", "--all"])),
    ));
    steps
}

/// The data directory is an absolute path in config.php; when the app's
/// directory is another path on the destination (a plain install moving
/// into a container's /var/www/html, or another root), the copied config
/// still points at the old one and Nextcloud stops with "data directory
/// invalid". migrating.rst: "If you change the data directory path, update
/// `datadirectory` in config.php".
fn datadirectory_step(ctx: &Context) -> Option<Step> {
    let (from, to) = (&ctx.source.app_dir, &ctx.destination.app_dir);
    let text = host::read_file(Side::Source, &format!("{WEBROOT}/config/config.php")).ok()?;
    let current = config_value(&text, "datadirectory")?;
    let rest = current.strip_prefix(from.trim_end_matches('/'))?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let new = format!("{}{rest}", to.trim_end_matches('/'));
    (new != current).then(|| {
        step(
            "nextcloud-datadirectory",
            Phase::Cutover,
            Risk::Reversible,
            &format!(
                "Point datadirectory at {new} (the app's directory is {to} on the destination)"
            ),
            exec(occ(
                Side::Destination,
                &["config:system:set", "datadirectory", "--value", &new],
            )),
        )
    })
}

/// migrating.rst step 5: run `maintenance:data-fingerprint` on the new system
/// only if the original config.php has a non-empty `data-fingerprint` (it
/// can cause conflict dialogs otherwise, restore.rst).
fn data_fingerprint_step() -> Option<Step> {
    let run = || {
        step(
            "nextcloud-data-fingerprint",
            Phase::Cutover,
            Risk::Reversible,
            "Update the data fingerprint, as the source had one, so clients resolve conflicts instead of overwriting",
            exec(occ(Side::Destination, &["maintenance:data-fingerprint"])),
        )
    };
    match host::read_file(Side::Source, &format!("{WEBROOT}/config/config.php")) {
        Ok(text) => match config_value(&text, "data-fingerprint") {
            Some(v) if !v.is_empty() => Some(run()),
            _ => None,
        },
        Err(_) => Some(step(
            "nextcloud-data-fingerprint",
            Phase::Cutover,
            Risk::Reversible,
            "If the source config.php has a non-empty data-fingerprint, update it on the destination",
            manual(
                "The source config.php could not be read while planning. If its 'data-fingerprint' is non-empty, run `occ maintenance:data-fingerprint` on the destination; if it is empty, skip this.",
            ),
        )),
    }
}

pub fn cache_clears() -> Vec<Step> {
    vec![step(
        "nextcloud-maintenance-repair",
        Phase::Finish,
        Risk::Reversible,
        "Run Nextcloud's repair steps on the destination",
        exec(occ(Side::Destination, &["maintenance:repair"])),
    )]
}

/// §2.6: status.php fields (200 JSON), `occ status -e` (1 = maintenance,
/// 2 = needs DB upgrade), the OCS capabilities version.
pub fn smoke_checks(ctx: &Context) -> Vec<SmokeCheck> {
    let status = |id: &str, title: &str, field: &str, value: &str| {
        check(
            id,
            title,
            Side::Destination,
            Action::Http(http("/status.php", 200).json(field, value)),
        )
    };
    let version = ctx.target_version.clone().unwrap_or_else(|| "*".into());
    vec![
        status(
            "nextcloud-installed",
            "status.php says installed",
            "installed",
            "true",
        ),
        status(
            "nextcloud-not-in-maintenance",
            "status.php says not in maintenance",
            "maintenance",
            "false",
        ),
        status(
            "nextcloud-no-db-upgrade",
            "status.php says no database upgrade is pending",
            "needsDbUpgrade",
            "false",
        ),
        status(
            "nextcloud-versionstring",
            "status.php reports the expected version",
            "versionstring",
            &version,
        ),
        check(
            "nextcloud-occ-status",
            "occ status -e exits 0 (1 = maintenance, 2 = needs DB upgrade)",
            Side::Destination,
            exec(occ(Side::Destination, &["status", "-e"])),
        ),
        // The OCS-APIRequest header requirement is unverified (facts §2.6);
        // sending it is harmless either way.
        check(
            "nextcloud-capabilities",
            "The OCS capabilities API answers with a version",
            Side::Destination,
            Action::Http(
                http("/ocs/v2.php/cloud/capabilities?format=json", 200)
                    .header("OCS-APIRequest", "true")
                    .json("ocs.data.version.major", "*"),
            ),
        ),
    ]
}

pub fn manual_follow_ups() -> Vec<String> {
    vec![
        "Log in as an admin on the destination and open a few files before switching DNS (migrating.rst step 6).".into(),
        "Point the DNS record at the destination only after the checks pass (migrating.rst step 7).".into(),
        "If the data directory path changed, set `datadirectory` in config.php to the new path.".into(),
        "Set up background jobs (cron) on the destination as on the source.".into(),
        "Check with WebDAV (PROPFIND /remote.php/dav/files/<user>/ with a user's credentials) that files list with their original modification times.".into(),
        "If you renamed data/appdata_<old-id> instead of carrying instanceid, run `occ files:scan --all` (and `occ files:scan-app-data` where it exists [unverified]).".into(),
        "Watch desktop clients after the move: if they report conflicts or re-download everything, timestamps or the data fingerprint did not come across.".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_plugin_sdk::testing;

    #[test]
    fn reads_config_values() {
        let php = "<?php\n$CONFIG = array (\n  'instanceid' => 'oc1x2',\n  'data-fingerprint' => '',\n  'dbtype' => 'pgsql',\n);";
        assert_eq!(config_value(php, "dbtype").as_deref(), Some("pgsql"));
        assert_eq!(config_value(php, "data-fingerprint").as_deref(), Some(""));
        assert_eq!(config_value(php, "missing"), None);
    }

    #[test]
    fn secrets_are_marked_and_files_scan_follows_maintenance_off() {
        let steps = post_copy(&testing::context("cloud.example.net").build());
        let carried: Vec<(&str, bool)> = steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Carry(c) => Some((c.key.as_str(), c.secret)),
                _ => None,
            })
            .collect();
        assert_eq!(
            carried,
            [
                ("instanceid", false),
                ("passwordsalt", true),
                ("secret", true)
            ]
        );
        let pos = |id: &str| steps.iter().position(|s| s.id == id).unwrap();
        assert!(pos("nextcloud-maintenance-off") < pos("nextcloud-files-scan"));
        // Natively the planning imports are absent: the fingerprint is a manual step.
        assert!(matches!(
            steps[pos("nextcloud-data-fingerprint")].action,
            Action::Manual(_)
        ));
    }

    #[test]
    fn smoke_checks_read_status_php() {
        let checks = smoke_checks(&testing::context("cloud.example.net").build());
        assert!(checks.iter().any(|c| matches!(&c.action, Action::Http(h) if h.path == "/status.php" && h.json_field == Some(("needsDbUpgrade".into(), "false".into())))));
    }

    fn config_php(datadirectory: &str) -> String {
        format!(
            "<?php\n$CONFIG = array (\n  'datadirectory' => '{datadirectory}',\n  'data-fingerprint' => 'f1',\n);"
        )
    }

    #[test]
    fn the_trusted_domain_and_cli_url_come_from_the_context() {
        let steps = post_copy(&testing::context("cloud.example.net").build());
        let argv = |id: &str| match &steps.iter().find(|s| s.id == id).unwrap().action {
            Action::Exec(c) => c.argv.join(" "),
            other => panic!("{id}: {other:?}"),
        };
        assert!(
            argv("nextcloud-trusted-domains")
                .ends_with("trusted_domains 0 --value cloud.example.net")
        );
        assert!(argv("nextcloud-overwrite-cli-url").ends_with("--value https://cloud.example.net"));
    }

    #[test]
    fn datadirectory_follows_the_app_dir_into_a_container() {
        let ctx = testing::context("cloud.example.net")
            .source(LayoutKind::Directory, "/srv/nextcloud")
            .destination_stack("cloud_example_net", "/var/www/html")
            .build();
        let config = config_php("/srv/nextcloud/data");
        let steps = testing::with_files(
            &[(Side::Source, "/var/www/html/config/config.php", &config)],
            || post_copy(&ctx),
        );
        let dd = steps
            .iter()
            .find(|s| s.id == "nextcloud-datadirectory")
            .expect("a datadirectory step");
        assert!(
            matches!(&dd.action, Action::Exec(c) if c.argv.last().map(String::as_str) == Some("/var/www/html/data")),
            "{dd:?}"
        );
        // The source had a fingerprint: the step is a command, not a question.
        assert!(
            steps.iter().any(
                |s| s.id == "nextcloud-data-fingerprint" && matches!(s.action, Action::Exec(_))
            )
        );
        // Same directory on both sides: nothing to point elsewhere.
        let same = testing::context("cloud.example.net").build();
        let config = config_php("/srv/app/data");
        let steps = testing::with_files(
            &[(Side::Source, "/var/www/html/config/config.php", &config)],
            || post_copy(&same),
        );
        assert!(!steps.iter().any(|s| s.id == "nextcloud-datadirectory"));
    }

    #[test]
    fn the_version_check_expects_the_target_the_operator_named() {
        let ctx = testing::context("cloud.example.net")
            .target_version("29.0.1")
            .build();
        let checks = smoke_checks(&ctx);
        assert!(checks.iter().any(|c| matches!(&c.action, Action::Http(h) if h.json_field == Some(("versionstring".into(), "29.0.1".into())))));
    }
}
