//! Upgrade paths: one major per hop, following each target's
//! `$OC_VersionCanBeUpgradedFrom`, never downgrading.
//!
//! The rule is the server's own (`lib/private/Updater.php::isUpgradePossible`,
//! facts/apps.md §2.2): the installed `major.minor` must be a key of the new
//! code's list, and old <= new, even inside one major.

use std::cmp::Ordering;
use std::collections::VecDeque;

use migrate_plugin_sdk::coopcloud::RecipeVersion;
use migrate_plugin_sdk::prelude::*;

use crate::version::{self, NcVersion, SERIES, Series, Src};

/// Parse one side of a request; a recipe version whose app part is no known
/// release reports that, not "contains `+`".
fn parse_side(raw: &str) -> Result<NcVersion, Refusal> {
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

/// Shortest chain of series from `from` to `to`, each accepting the one
/// before. Breadth-first over the release table.
fn series_chain(from: &'static Series, to: &'static Series) -> Option<Vec<&'static Series>> {
    let idx = |s: &Series| SERIES.iter().position(|x| std::ptr::eq(x, s));
    let (start, goal) = (idx(from)?, idx(to)?);
    let mut prev: Vec<Option<usize>> = vec![None; SERIES.len()];
    let mut seen = vec![false; SERIES.len()];
    let mut queue = VecDeque::from([start]);
    seen[start] = true;
    while let Some(i) = queue.pop_front() {
        if i == goal {
            let mut chain = Vec::new();
            let mut at = i;
            while at != start {
                chain.push(&SERIES[at]);
                at = prev[at]?;
            }
            chain.reverse();
            return Some(chain);
        }
        let cur = &SERIES[i];
        for (j, next) in SERIES.iter().enumerate().skip(i + 1) {
            if !seen[j] && next.accepts_series(cur.major, cur.minor) {
                seen[j] = true;
                prev[j] = Some(i);
                queue.push_back(j);
            }
        }
    }
    None
}

fn occ(args: &[&str]) -> Command {
    let mut argv = vec!["php", "occ"];
    argv.extend_from_slice(args);
    in_service(Side::Destination, crate::APP_SERVICE, &argv)
        .as_user("www-data")
        .workdir(crate::WEBROOT)
}

fn hop(from: &str, to: &str, target: &Series, first: bool, from_v: &NcVersion) -> Hop {
    let steps = vec![
        step(
            &format!("nextcloud-{to}-deploy"),
            Phase::Cutover,
            Risk::Reversible,
            &format!(
                "Run the Nextcloud {to} code on the destination over the same config/, data/, custom_apps/ and themes/"
            ),
            manual(&format!(
                "Switch the destination to Nextcloud {to}: the image `nextcloud:{to}` (or the {to} release archive), keeping config/, data/, custom_apps/ and themes/."
            )),
        ),
        step(
            &format!("nextcloud-{to}-occ-upgrade"),
            Phase::Cutover,
            Risk::Destructive,
            &format!("Migrate the database to Nextcloud {to} with occ upgrade"),
            exec(occ(&["upgrade"])),
        ),
        step(
            &format!("nextcloud-{to}-add-missing-indices"),
            Phase::Cutover,
            Risk::Reversible,
            &format!("Add the database indices Nextcloud {to} expects"),
            exec(occ(&["db:add-missing-indices"])),
        ),
    ];
    let mut notes = Vec::new();
    let accepted: Vec<String> = target
        .accepts
        .iter()
        .map(|(a, b)| format!("{a}.{b}"))
        .collect();
    notes.push(format!(
        "Nextcloud {} accepts installed {} ($OC_VersionCanBeUpgradedFrom, {}).",
        target.name(),
        accepted.join(", "),
        match target.accepts_src {
            Src::Read => "read from its version.php",
            Src::Inferred => "inferred from the pattern of the lists that were read",
        }
    ));
    notes.push(format!(
        "Nextcloud {} supports PHP {} (nextcloud/server wiki, Releases and PHP versions); the official image brings its own PHP, a bare-metal install must switch PHP before this hop if needed.",
        target.major,
        target.php.join(", ")
    ));
    if first && from_v.major != target.major {
        let own = from_v.series();
        if from_v.patch < own.last {
            notes.push(format!(
                "Nextcloud's manual recommends the latest point release of your current major first ({}); the code does not require it.",
                own.latest()
            ));
        }
        notes.push(
            "Skipping major releases is not supported (admin_manual/maintenance/upgrade.rst)."
                .to_string(),
        );
    }
    if target.major == from_v.major && target.minor == from_v.minor {
        notes.push(format!(
            "Maintenance update inside Nextcloud {}.",
            target.name()
        ));
    }
    Hop {
        from: from.to_string(),
        to: to.to_string(),
        steps,
        notes,
    }
}

/// Major.minor of a PHP version fact (`8.2`, `8.2.12`, `PHP 8.2.12-1`).
fn php_series(fact: &str) -> Option<String> {
    let text = fact.trim();
    let text = text
        .strip_prefix("PHP")
        .or_else(|| text.strip_prefix("php"))
        .unwrap_or(text)
        .trim();
    let mut it = text.split(|c: char| !c.is_ascii_digit());
    let major: u64 = it.next()?.parse().ok()?;
    let minor: u64 = it.next()?.parse().ok()?;
    Some(format!("{major}.{minor}"))
}

fn fact<'a>(req: &'a UpgradeRequest, key: &str) -> Option<&'a str> {
    req.facts
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

pub fn upgrade_path(req: &UpgradeRequest) -> Result<UpgradePlan, Refusal> {
    let from = parse_side(&req.from)?;
    let to = parse_side(&req.to)?;
    let mut caveats = Vec::new();

    match to.cmp_release(&from) {
        Ordering::Less => {
            return Err(refuse_with(
                RefusalKind::Downgrade,
                format!(
                    "Nextcloud {} is older than the installed {}: Nextcloud refuses downgrades, also inside one major and between patch levels (\"Downgrading is not supported and risks corrupting your data!\", upgrade.rst). Restore a backup of the older version instead, or target {} or newer.",
                    to.canonical(),
                    from.canonical(),
                    from.canonical()
                ),
                vec![from.canonical(), from.series().latest()],
            ));
        }
        Ordering::Equal => {
            if from.level_unknown_vs(&to) {
                caveats.push(format!(
                    "{} and {} name the same release, but only one gives the internal patch level; compare status.php's 4-part `version` on both sides to be sure.",
                    from.canonical(),
                    to.canonical()
                ));
            }
            return Ok(UpgradePlan {
                hops: Vec::new(),
                preconditions: php_precondition(req, &to)?,
                caveats,
            });
        }
        Ordering::Greater => {}
    }

    if req.zero_downtime {
        return Err(refuse(
            RefusalKind::ZeroDowntimeUnsupported,
            format!(
                "Nextcloud has no zero-downtime upgrade: occ upgrade runs with the instance in maintenance mode. Plan a maintenance window for {} -> {}, or drop --zero-downtime.",
                from.canonical(),
                to.canonical()
            ),
        ));
    }

    let chain = series_chain(from.series(), to.series()).ok_or_else(|| {
        refuse(
            RefusalKind::NoPath,
            format!(
                "no chain of supported upgrades leads from Nextcloud {} to {}",
                from.canonical(),
                to.canonical()
            ),
        )
    })?;

    let mut hops = Vec::new();
    let mut at = from.canonical();
    if chain.is_empty() {
        // Same series, newer patch.
        hops.push(hop(&at, &to.canonical(), from.series(), true, &from));
    }
    for (i, target) in chain.iter().enumerate() {
        let last = i + 1 == chain.len();
        let dest = if last {
            to.canonical()
        } else {
            target.latest()
        };
        let mut h = hop(&at, &dest, target, i == 0, &from);
        if !last && !target.closed {
            h.notes.push(format!(
                "{} is the newest {} patch this plugin knows; use a newer one if it exists.",
                dest,
                target.name()
            ));
        }
        hops.push(h);
        at = dest;
    }

    let inferred: Vec<String> = chain
        .iter()
        .filter(|s| s.accepts_src == Src::Inferred)
        .map(|s| s.name())
        .collect();
    if !inferred.is_empty() {
        caveats.push(format!(
            "The accepted-from lists of Nextcloud {} were not read, only inferred from those of 23, 28, 31 and 32; if one is wrong, occ upgrade refuses before changing anything.",
            inferred.join(", ")
        ));
    }
    for v in [&from, &to] {
        if v.pre.is_some() {
            caveats.push(format!(
                "{} is a prerelease: not for production, and Nextcloud's release table does not promise upgrades from it.",
                v.canonical()
            ));
        }
        if v.newer_than_known() {
            caveats.push(format!(
                "{} is newer than the last {} patch this plugin knows ({}); the path depends only on major.minor, but check the version exists.",
                v.canonical(),
                v.series().name(),
                v.series().latest()
            ));
        }
    }
    caveats.push(format!(
        "occ commands run in the service `{}` as www-data in {} (the official image's layout); adjust if your deployment differs.",
        crate::APP_SERVICE,
        crate::WEBROOT
    ));

    Ok(UpgradePlan {
        hops,
        preconditions: php_precondition(req, &to)?,
        caveats,
    })
}

/// The destination's PHP must be one the target series supports; refuses
/// when the fact is given and wrong.
fn php_precondition(req: &UpgradeRequest, to: &NcVersion) -> Result<Vec<Precondition>, Refusal> {
    let target = to.series();
    let requirement = format!(
        "PHP {} for Nextcloud {}",
        target.php.join(", "),
        target.major
    );
    let given = fact(req, "php-version");
    let (met, reason) = match given {
        None => (None, "php-version was not given or probed".to_string()),
        Some(raw) => match php_series(raw) {
            None => (None, format!("php-version {raw:?} is not a PHP version")),
            Some(s) if target.php.contains(&s.as_str()) => {
                (Some(true), format!("PHP {s} is supported"))
            }
            Some(s) => (
                Some(false),
                format!("PHP {s} is not supported by Nextcloud {}", target.major),
            ),
        },
    };
    if met == Some(false) {
        return Err(refuse_with(
            RefusalKind::PreconditionFailed,
            format!(
                "{reason}: it needs {}. Install a supported PHP on the destination (or use the official image), then plan again.",
                requirement
            ),
            target.php.iter().map(|p| format!("PHP {p}")).collect(),
        ));
    }
    Ok(vec![Precondition {
        what: "php-version".to_string(),
        requirement,
        met,
        reason,
    }])
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
    fn one_major_per_hop() {
        assert_eq!(targets("27.1.4", "28.0.0"), ["28.0.0"]);
        assert_eq!(
            targets("25.0.13", "28.0.4"),
            ["26.0.13", "27.0.2", "28.0.4"]
        );
        assert_eq!(targets("28.0.4", "28.0.14"), ["28.0.14"]);
        assert_eq!(targets("27.0.1", "27.1.11"), ["27.1.11"]);
    }

    #[test]
    fn the_previous_major_must_be_on_its_last_minor_for_23() {
        assert_eq!(targets("22.1.1", "23.0.12"), ["22.2.10", "23.0.12"]);
        assert_eq!(targets("22.2.3", "24.0.1"), ["23.0.12", "24.0.1"]);
    }

    #[test]
    fn refuses_downgrades_also_at_patch_level() {
        assert!(matches!(
            refusal(req("28.0.4", "27.1.11")),
            RefusalKind::Downgrade
        ));
        assert!(matches!(
            refusal(req("28.0.1.2", "28.0.1.1")),
            RefusalKind::Downgrade
        ));
        assert!(matches!(
            refusal(req("28.0.4", "28.0.3")),
            RefusalKind::Downgrade
        ));
    }

    #[test]
    fn same_version_is_an_empty_path() {
        assert!(targets("28.0.4", "28.0.4").is_empty());
        let plan = upgrade_path(&req("28.0.1.1", "28.0.1")).unwrap();
        assert!(plan.hops.is_empty());
        assert!(!plan.caveats.is_empty());
    }

    #[test]
    fn zero_downtime_is_refused_when_there_is_work() {
        let mut r = req("28.0.4", "29.0.1");
        r.zero_downtime = true;
        assert!(matches!(refusal(r), RefusalKind::ZeroDowntimeUnsupported));
        let mut same = req("28.0.4", "28.0.4");
        same.zero_downtime = true;
        assert!(upgrade_path(&same).is_ok());
    }

    #[test]
    fn php_precondition() {
        let mut r = req("29.0.16", "30.0.5");
        r.facts.push(("php-version".into(), "8.0.30".into()));
        assert!(matches!(
            refusal(r.clone()),
            RefusalKind::PreconditionFailed
        ));
        r.facts[0].1 = "8.2.7".into();
        let plan = upgrade_path(&r).unwrap();
        assert_eq!(plan.preconditions[0].met, Some(true));
        let plan = upgrade_path(&req("29.0.16", "30.0.5")).unwrap();
        assert_eq!(plan.preconditions[0].met, None);
    }

    #[test]
    fn hops_carry_occ_upgrade_and_indices() {
        let plan = upgrade_path(&req("27.1.4", "28.0.0")).unwrap();
        let argv: Vec<Vec<String>> = plan.hops[0]
            .steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Exec(c) => Some(c.argv.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(argv[0], ["php", "occ", "upgrade"]);
        assert_eq!(argv[1], ["php", "occ", "db:add-missing-indices"]);
    }

    #[test]
    fn recipe_versions_with_unknown_app_parts_say_so() {
        let e = upgrade_path(&req("5.0.0+27.2.0", "6.0.0+28.0.1")).unwrap_err();
        assert!(
            matches!(e.kind, RefusalKind::UnknownVersion),
            "{}",
            e.message
        );
    }
}
