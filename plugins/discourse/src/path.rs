//! Upgrade paths between Discourse versions (facts §3.2).
//!
//! Discourse upgrades by rebuilding the container on the new version:
//! `./launcher rebuild app` runs every migration in between, so one hop
//! goes straight to the target. It only moves forward: restoring a backup
//! of a newer schema onto older code raises "You're trying to restore a
//! more recent version of the schema. You should migrate first!"
//! (BackupRestore validation, read in the stored copies).

use std::cmp::Ordering;

use migrate_plugin_sdk::prelude::*;

use crate::version::{DiscourseVersion, Scheme};

/// discourse_docker's postgres.template.yml (@0157a815) now runs
/// PostgreSQL 18 and upgrades older data on the first rebuild.
pub const TEMPLATE_PG_MAJOR: u64 = 18;

/// Post-deploy migrations older than about a year are promoted to regular
/// ones, so the two-step zero-downtime upgrade works only within roughly
/// a year (review.discourse.org PR #13477 discussion).
pub const ZERO_DOWNTIME_WINDOW_MONTHS: u64 = 12;

/// Where discourse_docker lives on the host (samples/standalone.yml).
pub const DISCOURSE_DIR: &str = "/var/discourse";

fn fact<'a>(facts: &'a [(String, String)], key: &str) -> Option<&'a str> {
    facts.iter().find(|(k, _)| k == key).map(|(_, v)| v.trim())
}

/// First number in a fact (`15`, `PostgreSQL 15.4`, `15.4 (Debian)`).
fn major_of(value: &str) -> Option<u64> {
    let start = value.find(|c: char| c.is_ascii_digit())?;
    value[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// A byte count: digits, optionally with a K/M/G/T suffix (powers of 1024).
fn bytes_of(value: &str) -> Option<u64> {
    let v = value.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mult: u64 = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches(['B', 'I'])
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Whether a PostgreSQL major upgrade will run on the destination's
/// rebuild: `Some(true/false)` when both majors are known.
fn pg_upgrade(facts: &[(String, String)]) -> (Option<bool>, u64, Option<u64>) {
    let target = fact(facts, "postgresql-version")
        .and_then(major_of)
        .unwrap_or(TEMPLATE_PG_MAJOR);
    let data = fact(facts, "source-postgresql-version").and_then(major_of);
    (data.map(|d| d != target), target, data)
}

/// The disk rule of the PostgreSQL upgrade: the template refuses (exit 1,
/// "WARNING: Upgrading PostgreSQL would require an additional … of disk
/// space") unless free space on /shared ≥ 2 × `du -sb
/// /shared/postgres_data` (postgres.template.yml@0157a815 and
/// postgres.15.template.yml@08f74b6e). Twice the data, not once: the dump
/// and the new cluster both live on /shared while the old one stays.
fn disk_precondition(facts: &[(String, String)]) -> Option<Precondition> {
    let (upgrade, target, data) = pg_upgrade(facts);
    if upgrade == Some(false) {
        return None;
    }
    let requirement = format!(
        "free space on /shared at least twice the size of /shared/postgres_data for the PostgreSQL {} → {target} upgrade the rebuild runs (discourse_docker templates/postgres.template.yml)",
        data.map_or("(source major unknown)".to_string(), |d| d.to_string())
    );
    let free = fact(facts, "free-disk-bytes");
    let db = fact(facts, "database-bytes");
    let (met, reason) = match (free.map(bytes_of), db.map(bytes_of)) {
        (Some(Some(free)), Some(Some(db))) => {
            let need = db.saturating_mul(2);
            if free >= need {
                (Some(true), format!("{} free, {} needed", migrate_units::human_bytes(free), migrate_units::human_bytes(need)))
            } else {
                (
                    Some(false),
                    format!(
                        "{} free but {} needed ({} more); free space, grow the disk, or keep PostgreSQL 15 with templates/postgres.15.template.yml in containers/app.yml",
                        migrate_units::human_bytes(free),
                        migrate_units::human_bytes(need),
                        migrate_units::human_bytes(need - free)
                    ),
                )
            }
        }
        (Some(None), _) | (_, Some(None)) => (
            None,
            "free-disk-bytes or database-bytes is not a byte count".to_string(),
        ),
        _ => (
            None,
            "facts free-disk-bytes (df -B1 /var/discourse/shared/standalone) and database-bytes (du -sb …/postgres_data) not given".to_string(),
        ),
    };
    let reason = if upgrade.is_none() && met.is_some() {
        format!(
            "{reason}; pass --fact source-postgresql-version=N (cat /shared/postgres_data/PG_VERSION) to say whether an upgrade runs at all"
        )
    } else {
        reason
    };
    Some(Precondition {
        what: "Disk space for the PostgreSQL upgrade".to_string(),
        requirement,
        met,
        reason,
    })
}

/// Backup schema ≤ destination schema: 14-digit migration timestamps.
fn schema_precondition(facts: &[(String, String)]) -> Precondition {
    let read = |key: &str| {
        fact(facts, key).map(|v| {
            let v = v.trim_start_matches(['v', 'V']);
            (v.len() == 14 && v.bytes().all(|b| b.is_ascii_digit())).then(|| v.to_string())
        })
    };
    let backup = read("backup-schema-version");
    let dest = read("destination-schema-version");
    let (met, reason) = match (backup, dest) {
        (Some(Some(b)), Some(Some(d))) if b <= d => (Some(true), format!("backup {b} ≤ destination {d}")),
        (Some(Some(b)), Some(Some(d))) => (
            Some(false),
            format!("backup {b} is newer than the destination's {d}: upgrade the destination (or install the plugins whose migrations the backup has) before restoring"),
        ),
        (Some(None), _) | (_, Some(None)) => (None, "a schema version fact is not a 14-digit migration timestamp".to_string()),
        _ => (
            None,
            "facts backup-schema-version (the backup's metadata or its -v<14 digits> file name) and destination-schema-version not given".to_string(),
        ),
    };
    Precondition {
        what: "Backup schema version".to_string(),
        requirement: "a restore needs the backup's schema version (newest migration, plugins included) to be no newer than the destination's (BackupRestore: \"You're trying to restore a more recent version of the schema\")".to_string(),
        met,
        reason,
    }
}

fn rebuild(side: Side) -> Command {
    cmd(side, &["./launcher", "rebuild", "app"]).workdir(DISCOURSE_DIR)
}

fn hop_steps(
    from: &DiscourseVersion,
    to: &DiscourseVersion,
    zero_downtime: bool,
    pg: Option<bool>,
) -> Vec<Step> {
    let target_ref = if to.latest {
        "latest (the branch builds this version)".to_string()
    } else {
        format!("v{}", to.canonical())
    };
    let mut steps = vec![
        step(
            "hop1-notes",
            Phase::Check,
            Risk::ReadOnly,
            &format!(
                "Read the Discourse release notes from {} to {} and check every plugin and theme supports {}",
                from.canonical(),
                to.canonical(),
                to.canonical()
            ),
            manual(
                "Read the release notes in between (releases.discourse.org for date-based versions, meta.discourse.org announcements for 3.x) and check that every plugin in containers/app.yml (hooks.after_code) has a compatible version.",
            ),
        ),
        step(
            "hop1-set-version",
            Phase::Prepare,
            Risk::Reversible,
            &format!(
                "Set the version to {} in containers/app.yml",
                to.canonical()
            ),
            manual(&format!(
                "In {DISCOURSE_DIR}/containers/app.yml set `version: {target_ref}` under params (samples/standalone.yml)."
            )),
        ),
    ];
    if zero_downtime {
        for (n, skip) in [(1, "1"), (2, "0")] {
            steps.push(step(
                &format!("hop1-zd-{n}-env"),
                Phase::Cutover,
                Risk::Reversible,
                &format!("Set SKIP_POST_DEPLOYMENT_MIGRATIONS={skip} in containers/web_only.yml"),
                manual(&format!(
                    "Zero-downtime needs separate web_only and data containers. In containers/web_only.yml set version: {target_ref} and env SKIP_POST_DEPLOYMENT_MIGRATIONS: {skip} (meta.discourse.org/t/120673)."
                )),
            ));
            steps.push(step(
                &format!("hop1-zd-{n}-bootstrap"),
                if n == 1 {
                    Phase::Cutover
                } else {
                    Phase::Finish
                },
                Risk::Destructive,
                if n == 1 {
                    "Bootstrap the new web image, running the pre-deploy migrations"
                } else {
                    "Bootstrap again, running the post-deploy migrations"
                },
                exec(
                    cmd(Side::Destination, &["./launcher", "bootstrap", "web_only"])
                        .workdir(DISCOURSE_DIR),
                ),
            ));
            steps.push(step(
                &format!("hop1-zd-{n}-restart"),
                if n == 1 { Phase::Cutover } else { Phase::Finish },
                Risk::Reversible,
                "Replace the running web container with the new image",
                manual("Restart the web servers on the new image (./launcher destroy web_only && ./launcher start web_only, one server at a time)."),
            ));
        }
    } else {
        steps.push(step(
            "hop1-rebuild",
            Phase::Cutover,
            Risk::Destructive,
            &format!(
                "Rebuild the container on {}, which runs every migration in between",
                to.canonical()
            ),
            exec(rebuild(Side::Destination)),
        ));
    }
    if pg != Some(false) {
        steps.push(step(
            "hop1-postgres-upgrade",
            Phase::Cutover,
            Risk::Destructive,
            "If the rebuild upgraded PostgreSQL, rebuild once more",
            manual(&format!(
                "If the rebuild printed UPGRADE OF POSTGRES COMPLETE (exit status 77), run ./launcher rebuild app again in {DISCOURSE_DIR}. The old cluster stays in /shared/postgres_data_old until you remove it after checking the site."
            )),
        ));
    }
    steps
}

fn hop_notes(
    from: &DiscourseVersion,
    to: &DiscourseVersion,
    pg: (Option<bool>, u64, Option<u64>),
) -> Vec<String> {
    let mut notes = Vec::new();
    if from.scheme == Scheme::Semantic && to.scheme == Scheme::Calendar {
        notes.push("Discourse switched to date-based versions in November 2025 (first release 2025.11.0); 3.5 was the last old-scheme ESR, supported until 2026-01-28 (endoflife.date).".to_string());
    }
    match pg.0 {
        Some(false) => {}
        _ => notes.push(format!(
            "discourse_docker's postgres.template.yml runs PostgreSQL {}: a rebuild on older data dumps and restores it into a new cluster (pg_dump -Fd / pg_restore, pgvector included), needs free space ≥ 2 × /shared/postgres_data, keeps the old cluster in /shared/postgres_data_old and exits 77 for a second rebuild. To stay on PostgreSQL 15, use templates/postgres.15.template.yml in containers/app.yml. Help: meta.discourse.org/t/postgresql-18-update/406194.",
            pg.1
        )),
    }
    notes.push("Restoring a backup onto this version works only if the backup's schema is not newer than the code's; after a restore, the rebuild migrates older data forward.".to_string());
    notes
}

pub fn plan(
    from: &DiscourseVersion,
    to: &DiscourseVersion,
    zero_downtime: bool,
    facts: &[(String, String)],
) -> Result<UpgradePlan, Refusal> {
    let order = from.cmp_release(to);
    if order == Ordering::Greater {
        return Err(refuse_with(
            RefusalKind::Downgrade,
            format!(
                "Discourse {} is older than {}: Discourse only moves forward. Its restore refuses a backup from newer code (\"You're trying to restore a more recent version of the schema. You should migrate first!\"), and a rebuild on older code cannot undo migrations. Run {} or newer on the destination.",
                to.canonical(),
                from.canonical(),
                from.canonical()
            ),
            vec![from.canonical()],
        ));
    }
    let mut preconditions = vec![schema_precondition(facts)];
    preconditions.extend(disk_precondition(facts));
    let failed: Vec<String> = preconditions
        .iter()
        .filter(|p| p.met == Some(false))
        .map(|p| format!("{}: {}", p.what, p.reason))
        .collect();
    if !failed.is_empty() {
        return Err(refuse(
            RefusalKind::PreconditionFailed,
            format!(
                "the destination is not ready for Discourse {}: {}.",
                to.canonical(),
                failed.join("; ")
            ),
        ));
    }
    let mut caveats = vec![
        "The move guide asks for the same Discourse version on both sides (\"Make SURE the backup dump was generated from the same Discourse version\"), while the restore code only refuses a newer schema: safest is to restore on the source's version, then upgrade.".to_string(),
        "A backup's schema version counts plugin migrations too: install the same plugins (containers/app.yml) on the destination, or the restore may refuse a schema that only looks newer.".to_string(),
    ];
    for v in [from, to] {
        if v.is_moving() {
            caveats.push(format!(
                "{} is a development build: many commits share this string, so two sites showing it may differ in schema. Compare the schema versions (--fact backup-schema-version=… --fact destination-schema-version=…).",
                v.canonical()
            ));
        } else if v.is_prerelease() {
            caveats.push(format!(
                "{} is a beta of the old scheme; betas are checked for form only.",
                v.canonical()
            ));
        }
        if !v.is_prerelease() && !v.seen_in_source() && v.scheme == Scheme::Calendar {
            caveats.push(format!(
                "{} follows the monthly date-based cadence but no source lists it (seen: 2025.11.0–2, 2025.12.0–2, 2026.1.0–1, 2026.2.0): check it exists.",
                v.canonical()
            ));
        }
    }
    if fact(facts, "postgresql-version").is_none() {
        caveats.push(format!(
            "The destination's PostgreSQL major is assumed to be {TEMPLATE_PG_MAJOR}, the current discourse_docker template's; pass --fact postgresql-version=15 if app.yml pins templates/postgres.15.template.yml."
        ));
    }
    if order == Ordering::Equal {
        return Ok(UpgradePlan {
            hops: Vec::new(),
            preconditions,
            caveats,
        });
    }
    if zero_downtime {
        let gap = to.month_index().saturating_sub(from.month_index());
        if gap > ZERO_DOWNTIME_WINDOW_MONTHS {
            return Err(refuse_with(
                RefusalKind::ZeroDowntimeUnsupported,
                format!(
                    "{} and {} are about {gap} months apart: Discourse promotes post-deploy migrations older than about a year to regular ones, so the two-step zero-downtime upgrade only works within that window (review.discourse.org PR #13477). Upgrade without --zero-downtime (./launcher rebuild app, with downtime), or in steps of at most a year.",
                    from.canonical(),
                    to.canonical()
                ),
                Vec::new(),
            ));
        }
        caveats.push("Zero-downtime needs separate web_only and data containers; a standalone app container stops during its rebuild. The release months behind the one-year window are approximate for versions before 3.4.".to_string());
    }
    let pg = pg_upgrade(facts);
    let hop = Hop {
        from: from.canonical(),
        to: to.canonical(),
        steps: hop_steps(from, to, zero_downtime, pg.0),
        notes: hop_notes(from, to, pg),
    };
    Ok(UpgradePlan {
        hops: vec![hop],
        preconditions,
        caveats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn byte_counts() {
        assert_eq!(bytes_of("1024"), Some(1024));
        assert_eq!(bytes_of("10G"), Some(10 << 30));
        assert_eq!(bytes_of("3 GiB"), Some(3 << 30));
        assert_eq!(bytes_of("lots"), None);
    }

    #[test]
    fn disk_rule_is_twice_the_data() {
        let f = facts(&[
            ("source-postgresql-version", "15"),
            ("free-disk-bytes", "15G"),
            ("database-bytes", "8G"),
        ]);
        assert_eq!(disk_precondition(&f).unwrap().met, Some(false));
        let f = facts(&[
            ("source-postgresql-version", "15"),
            ("free-disk-bytes", "16G"),
            ("database-bytes", "8G"),
        ]);
        assert_eq!(disk_precondition(&f).unwrap().met, Some(true));
        let f = facts(&[
            ("source-postgresql-version", "18"),
            ("free-disk-bytes", "1G"),
            ("database-bytes", "8G"),
        ]);
        assert!(disk_precondition(&f).is_none(), "no upgrade, no disk rule");
        assert_eq!(disk_precondition(&[]).unwrap().met, None);
    }

    #[test]
    fn schema_rule() {
        let f = facts(&[
            ("backup-schema-version", "20200520015508"),
            ("destination-schema-version", "20190603134013"),
        ]);
        assert_eq!(schema_precondition(&f).met, Some(false));
        let f = facts(&[
            ("backup-schema-version", "v20190603134013"),
            ("destination-schema-version", "20200520015508"),
        ]);
        assert_eq!(schema_precondition(&f).met, Some(true));
        let f = facts(&[
            ("backup-schema-version", "2020"),
            ("destination-schema-version", "20200520015508"),
        ]);
        assert_eq!(schema_precondition(&f).met, None);
    }
}
