//! Mailu upgrade paths: forward only, one series per hop, downgrades only
//! inside one series (releases.rst 2024.06: "It is only possible to
//! downgrade between minor versions (e.g. 2024.06.3 to 2024.06.1)").

use std::cmp::Ordering;

use migrate_plugin_sdk::coopcloud::RecipeVersion;
use migrate_plugin_sdk::prelude::*;

use crate::version::{self, MailuVersion, SERIES};

fn parse_side(raw: &str) -> Result<MailuVersion, Refusal> {
    match version::parse(raw) {
        Ok(v) => Ok(v),
        Err(own) => match RecipeVersion::split(raw) {
            Some(rv) => version::parse(&rv.upstream).map_err(|mut e| {
                e.message = format!("in recipe version {raw:?}: {}", e.message);
                e
            }),
            None => Err(own),
        },
    }
}

fn compose(args: &[&str]) -> Command {
    let mut argv = vec!["docker", "compose"];
    argv.extend_from_slice(args);
    cmd(Side::Destination, &argv).workdir(crate::ROOT)
}

/// `docker compose pull && docker compose down && docker compose up -d`
/// after setting the version in `.env` (docs/maintain.rst); the admin
/// container runs `flask db upgrade` on start (core/admin/start.py).
fn deploy_steps(to: &str) -> Vec<Step> {
    let set_version = format!(
        "if grep -q '^MAILU_VERSION=' .env; then sed -i 's/^MAILU_VERSION=.*/MAILU_VERSION={to}/' .env; else echo 'MAILU_VERSION={to}' >> .env; fi"
    );
    vec![
        step(
            &format!("mailu-{to}-set-version"),
            Phase::Cutover,
            Risk::Reversible,
            &format!("Set MAILU_VERSION={to} in the destination's .env"),
            exec(cmd(Side::Destination, &["sh", "-c", &set_version]).workdir(crate::ROOT)),
        ),
        step(
            &format!("mailu-{to}-pull"),
            Phase::Cutover,
            Risk::ReadOnly,
            &format!("Pull the Mailu {to} images"),
            exec(compose(&["pull"])),
        ),
        step(
            &format!("mailu-{to}-down"),
            Phase::Cutover,
            Risk::Reversible,
            "Stop Mailu on the destination",
            exec(compose(&["down"])),
        ),
        step(
            &format!("mailu-{to}-up"),
            Phase::Cutover,
            Risk::Reversible,
            &format!("Start Mailu {to}; the admin container migrates its database on start"),
            exec(compose(&["up", "-d"])),
        ),
    ]
}

fn regenerate(to: &str, extra: &str) -> Step {
    step(
        &format!("mailu-{to}-regenerate-config"),
        Phase::Prepare,
        Risk::Reversible,
        &format!(
            "Regenerate docker-compose.yml and mailu.env for Mailu {to} and reapply your settings"
        ),
        manual(&format!(
            "Generate a new docker-compose.yml and mailu.env for Mailu {to} with setup.mailu.io, then reapply your custom settings from the old files. {extra}"
        )),
    )
}

/// The steps and notes of entering `series_idx` from the series before it.
fn series_hop(from: &str, to: &str, series_idx: usize) -> Hop {
    let s = &SERIES[series_idx];
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    match (s.major, s.minor) {
        // releases.rst 1.9 "Upgrading" (and @23d06a57 for the password note).
        (1, 9) => {
            steps.push(regenerate(
                to,
                "New settings REAL_IP_HEADER/REAL_IP_FROM apply behind a reverse proxy.",
            ));
            steps.push(step(
                "mailu-1.9-bundled-postgresql",
                Phase::Prepare,
                Risk::Reversible,
                "Move off the bundled PostgreSQL image if you use it (fully deprecated in 1.9)",
                manual("If Mailu 1.8 runs with the bundled PostgreSQL image, follow Mailu's migrate_mailu_postgresql guide before upgrading; 1.9 no longer ships it."),
            ));
            notes.push("Once on 1.9 you cannot roll back to earlier versions without resetting user passwords: hashes are converted to bcrypt_sha256 on first use (releases.rst).".into());
            notes.push("Fail2Ban configuration changed in 1.9; review it.".into());
        }
        // releases.rst 2.0 and CHANGELOG 2.0.0.
        (2, 0) => {
            steps.push(regenerate(
                to,
                "A setting no longer listed on the configuration page has been removed. Images now come from ghcr.io/mailu (docker.io images are taken down).",
            ));
            steps.push(step(
                "mailu-2.0-fail2ban",
                Phase::Prepare,
                Risk::Reversible,
                "Remove and re-apply the Fail2Ban configuration (mandatory for 2.0)",
                manual("Remove your Fail2Ban configuration for Mailu and re-apply the one from the Mailu 2.0 documentation."),
            ));
            steps.push(step(
                "mailu-2.0-rspamd-overrides",
                Phase::Prepare,
                Risk::Reversible,
                "Move Rspamd overrides to /overrides of the antispam container",
                manual("Rspamd overrides now live in overrides/rspamd, mounted at /overrides in the antispam container; custom maps use /overrides/myMapFile.map. Files are merged, not replaced."),
            ));
            steps.push(step(
                "mailu-2.0-reverse-proxy",
                Phase::Prepare,
                Risk::Reversible,
                "Update the reverse proxy for the autoconfig endpoint and the REST API",
                manual("If a reverse proxy fronts Mailu, route the new autoconfig endpoint and the REST API; with TLS_FLAVOR=letsencrypt add autoconfig.<hostname> to HOSTNAMES."),
            ));
            notes.push("Rainloop is replaced by SnappyMail.".into());
            notes.push(
                "New passwords must have at least 8 characters and not appear in HaveIBeenPwned."
                    .into(),
            );
            notes.push("Header-From anti-spoofing needs a DMARC record for each domain.".into());
            notes.push("POD_ADDRESS_RANGE is removed in favour of SUBNET.".into());
            notes.push(
                "MySQL connections now use mysql-connector (`mysql+mysqlconnector://`).".into(),
            );
        }
        // releases.rst 2024.06 "Upgrading".
        (2024, 6) => {
            steps.push(regenerate(
                to,
                "POSTFIX_LOG_FILE is removed and ignored; the WEB_* settings were removed from setup.",
            ));
            steps.push(step(
                "mailu-2024.06-drop-xapian",
                Phase::Finish,
                Risk::Destructive,
                "Delete the old xapian full-text indexes (2024.06 moved FTS to flatcurve)",
                exec(cmd(
                    Side::Destination,
                    &[
                        "find",
                        &format!("{}/mail", crate::ROOT),
                        "-type",
                        "d",
                        "-name",
                        "xapian-indexes",
                        "-prune",
                        "-exec",
                        "rm",
                        "-r",
                        "{}",
                        "+",
                    ],
                )),
            ));
            steps.push(step(
                "mailu-2024.06-fts-rescan",
                Phase::Finish,
                Risk::Reversible,
                "Rescan full-text search for all users",
                exec(in_service(
                    Side::Destination,
                    "imap",
                    &["doveadm", "fts", "rescan", "-A"],
                )),
            ));
            steps.push(step(
                "mailu-2024.06-fts-index",
                Phase::Finish,
                Risk::Reversible,
                "Rebuild every user's full-text index",
                exec(in_service(
                    Side::Destination,
                    "imap",
                    &[
                        "sh",
                        "-c",
                        "doveadm user '*' | while read u; do doveadm index -u \"$u\" '*'; done",
                    ],
                )),
            ));
            notes.push("STARTTLS ports 143, 110 and 587 are disabled by default; re-enable them in PORTS if clients use them.".into());
            notes.push("Tika (attachment indexing) needs 1-2 GB of extra RAM.".into());
            notes.push("Mail flagged by ClamAV is now rejected instead of dropped.".into());
            notes.push("New settings PORTS, PROXY_PROTOCOL and AUTH_REQUIRE_TOKENS; ManageSieve listens on 4190.".into());
            notes.push(
                "If the admin log recommends it, set LD_PRELOAD=/usr/lib/libhardened_malloc.so."
                    .into(),
            );
        }
        _ => {}
    }
    notes.push(
        "Check CHANGELOG.md and the compose/.env changes upstream before upgrading (maintain.rst)."
            .into(),
    );
    let mut all = steps;
    // Deploy goes between the config steps (prepare) and the index rebuild (finish).
    let split = all
        .iter()
        .position(|s| matches!(s.phase, Phase::Finish))
        .unwrap_or(all.len());
    let tail = all.split_off(split);
    all.extend(deploy_steps(to));
    all.extend(tail);
    Hop {
        from: from.to_string(),
        to: to.to_string(),
        steps: all,
        notes,
    }
}

pub fn upgrade_path(req: &UpgradeRequest) -> Result<UpgradePlan, Refusal> {
    let from = parse_side(&req.from)?;
    let to = parse_side(&req.to)?;
    let mut caveats = Vec::new();

    if to.series < from.series {
        return Err(refuse_with(
            RefusalKind::Downgrade,
            format!(
                "Mailu {} is an older series than the installed {}: Mailu only moves forward and downgrades only inside one series (releases.rst). Restore a backup taken before the upgrade instead, or stay on {}.",
                to.canonical(),
                from.canonical(),
                from.series().name()
            ),
            vec![from.canonical(), from.series().name()],
        ));
    }
    if to == from {
        return Ok(UpgradePlan {
            hops: Vec::new(),
            preconditions: Vec::new(),
            caveats,
        });
    }
    if req.zero_downtime {
        return Err(refuse(
            RefusalKind::ZeroDowntimeUnsupported,
            format!(
                "Mailu upgrades restart the whole stack (docker compose down && up -d): there is no zero-downtime upgrade from {} to {}. SMTP senders retry, so a short window loses no mail; drop --zero-downtime.",
                from.canonical(),
                to.canonical()
            ),
        ));
    }

    let mut hops = Vec::new();
    if to.series == from.series {
        let mut h = Hop {
            from: from.canonical(),
            to: to.canonical(),
            steps: deploy_steps(&to.canonical()),
            notes: Vec::new(),
        };
        if to.cmp_release(&from) == Ordering::Less {
            h.notes.push(format!(
                "Downgrade inside {}: allowed between builds of one series (releases.rst gives 2024.06.3 -> 2024.06.1).",
                from.series().name()
            ));
            if from.series().major < 2000 {
                caveats.push(format!(
                    "releases.rst states the in-series downgrade rule with the 2024.06 scheme; applying it to {} is inferred.",
                    from.series().name()
                ));
            }
        }
        if from.is_moving() || to.is_moving() {
            caveats.push(format!(
                "{} is a moving tag: which build it means depends on when the images are pulled; pin an X.Y.Z build to be sure.",
                if to.is_moving() { to.canonical() } else { from.canonical() }
            ));
        }
        hops.push(h);
    } else {
        let mut at = from.canonical();
        for (idx, series) in SERIES
            .iter()
            .enumerate()
            .take(to.series + 1)
            .skip(from.series + 1)
        {
            let dest = if idx == to.series {
                to.canonical()
            } else {
                // The moving X.Y tag is the newest build of the series (releases.rst 1.9).
                series.name()
            };
            hops.push(series_hop(&at, &dest, idx));
            at = dest;
        }
        if hops.len() > 1 {
            caveats.push(
                "Each hop enters one series: whether Mailu supports skipping a series (e.g. 1.9 -> 2024.06 directly) is not documented, and each release's upgrade notes assume the one before, so the plan goes through every series [unverified whether mandatory]."
                    .into(),
            );
        }
    }
    for v in [&from, &to] {
        if v.newer_than_known() {
            caveats.push(format!(
                "{} is newer than the last {} build this plugin saw ({}.{}); check it exists.",
                v.canonical(),
                v.series().name(),
                v.series().name(),
                v.series().last.unwrap_or(0)
            ));
        }
    }
    caveats.push(format!(
        "Commands run in {} with `docker compose` (the setup's default root); adjust for a swarm or another root.",
        crate::ROOT
    ));
    Ok(UpgradePlan {
        hops,
        preconditions: Vec::new(),
        caveats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(from: &str, to: &str) -> UpgradeRequest {
        UpgradeRequest {
            from: from.into(),
            to: to.into(),
            zero_downtime: false,
            facts: Vec::new(),
        }
    }
    fn targets(from: &str, to: &str) -> Vec<String> {
        let plan =
            upgrade_path(&req(from, to)).unwrap_or_else(|e| panic!("{from}->{to}: {}", e.message));
        plan.hops.into_iter().map(|h| h.to).collect()
    }
    fn refusal(r: UpgradeRequest) -> RefusalKind {
        upgrade_path(&r).map(|_| ()).unwrap_err().kind
    }

    #[test]
    fn goes_through_every_series() {
        assert_eq!(targets("1.9.3", "2024.06.3"), ["2.0", "2024.06.3"]);
        assert_eq!(targets("1.8", "2024.06"), ["1.9", "2.0", "2024.06"]);
        assert_eq!(targets("2.0.22", "2024.06.57"), ["2024.06.57"]);
        let plan = upgrade_path(&req("1.9", "2024.06")).unwrap();
        assert!(plan.caveats.iter().any(|c| c.contains("unverified")));
    }

    #[test]
    fn downgrades_only_inside_a_series() {
        assert_eq!(targets("2024.06.3", "2024.06.1"), ["2024.06.1"]);
        assert!(matches!(
            refusal(req("2024.06.3", "2.0.22")),
            RefusalKind::Downgrade
        ));
        assert!(matches!(refusal(req("2.0", "1.9")), RefusalKind::Downgrade));
        assert!(targets("2024.06.3", "2024.06.3").is_empty());
    }

    #[test]
    fn zero_downtime_is_refused() {
        let mut r = req("2.0.22", "2024.06.5");
        r.zero_downtime = true;
        assert!(matches!(refusal(r), RefusalKind::ZeroDowntimeUnsupported));
    }

    #[test]
    fn fts_reindex_follows_the_2024_06_deploy() {
        let plan = upgrade_path(&req("2.0.22", "2024.06.5")).unwrap();
        let ids: Vec<&str> = plan.hops[0].steps.iter().map(|s| s.id.as_str()).collect();
        let pos = |id: &str| {
            ids.iter()
                .position(|x| *x == id)
                .unwrap_or_else(|| panic!("{id} in {ids:?}"))
        };
        assert!(pos("mailu-2024.06.5-regenerate-config") < pos("mailu-2024.06.5-up"));
        assert!(pos("mailu-2024.06.5-up") < pos("mailu-2024.06-drop-xapian"));
        assert!(pos("mailu-2024.06-drop-xapian") < pos("mailu-2024.06-fts-rescan"));
    }
}
