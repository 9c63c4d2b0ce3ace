//! Upgrade paths between Hometown releases.
//!
//! Mastodon's rules apply to the base (facts §1.2), but a Hometown server
//! can only run Hometown releases, and those exist on 4.0.x, 4.2.x and
//! 4.5.x only. Each hop therefore lands on a Hometown release, passing
//! through the newest release of every shipped line in between: Hometown's
//! notes are written for an upgrade from its previous line (the 4.5.6
//! notes start from 4.2.17 and list the 4.3/4.4/4.5 Mastodon notes to read,
//! hometown PR #1371). A direct jump over a Hometown line is not described
//! anywhere, so it is not offered [inferred].

use std::cmp::Ordering;

use mastodon_rules::{deps, path as mpath};
use migrate_plugin_sdk::prelude::*;

use crate::version::{Form, HometownVersion, RELEASES, SHIPPED_LINES, stone};

fn hometown_notes(from: &HometownVersion, to: &HometownVersion) -> Vec<String> {
    let mut notes = Vec::new();
    let crosses = |major: u64, minor: u64| {
        (from.base.major, from.base.minor) < (major, minor)
            && (to.base.major, to.base.minor) >= (major, minor)
    };
    if crosses(4, 0) {
        notes.push("Hometown 1.1.0 is the rebase onto Mastodon 4.0 (hometown PR #1235): read its notes and the Mastodon 4.0 notes.".to_string());
    }
    if crosses(4, 5) {
        notes.push("Hometown's 4.5 release notes: \"three major releases' worth of release notes to go over\" — read the Mastodon 4.3.0, 4.4.0 and 4.5.0 notes; Hometown now requires the new encryption secrets environment variables; Ruby 3.2+, PostgreSQL 14+, Redis 7.0+, Node 20.19+ (hometown PR #1371).".to_string());
    }
    if to.number.is_some()
        && to.number == from.number
        && to.base.cmp_release(&from.base) == Ordering::Greater
    {
        notes.push("The Hometown number stays the same across Mastodon patch bumps (hometown-1.1.1 spans 4.0.4 to 4.2.12): the Mastodon base decides the order.".to_string());
    }
    notes
}

/// How to get a Hometown release in place: its git tag, and how to tell
/// it really is in place.
fn checkout(to: &HometownVersion) -> String {
    let tag = to.tag();
    format!(
        "Fetch and check out the Hometown tag {tag} (git fetch --tags && git checkout {tag}), or build its image, for web, sidekiq and streaming, then bundle install and yarn install. Afterwards /api/v1/instance must report {}: hometown#1335 shows a server still saying plain 4.0.10 because the tag was never really checked out.",
        to.canonical()
    )
}

fn hop(key: &str, from: &HometownVersion, to: &HometownVersion, zero_downtime: bool) -> Hop {
    let mut steps = Vec::new();
    if from.form == Form::Plain {
        steps.push(step(
            &format!("{key}-initial-migration"),
            Phase::Check,
            Risk::ReadOnly,
            "Find out whether the source runs vanilla Mastodon or Hometown without its tag",
            manual("The source reports no Hometown number. If it runs vanilla Mastodon, follow the Hometown wiki's \"Initial migration\" page (github.com/hometown-fork/hometown/wiki) before this upgrade; if it runs Hometown, check out its tag first (hometown#1335)."),
        ));
    }
    let how = checkout(to);
    let deploy = mpath::Deploy {
        label: &to.canonical(),
        how: &how,
    };
    steps.extend(mpath::hop_steps(
        "Hometown",
        key,
        &from.base,
        &to.base,
        &deploy,
        zero_downtime,
    ));
    let mut notes = hometown_notes(from, to);
    notes.extend(mpath::hop_notes(&from.base, &to.base));
    Hop {
        from: from.canonical(),
        to: to.canonical(),
        steps,
        notes,
    }
}

pub fn plan(
    from: &HometownVersion,
    to: &HometownVersion,
    zero_downtime: bool,
    facts: &[(String, String)],
) -> Result<UpgradePlan, Refusal> {
    let order = from.cmp_release(to);
    if to.number.is_none() && order != Ordering::Equal {
        let line = (to.base.major, to.base.minor);
        let same_line: Vec<String> = RELEASES
            .iter()
            .filter(|r| (r.base.0, r.base.1) == line)
            .map(|r| HometownVersion::from_seen(r).canonical())
            .collect();
        return Err(refuse_with(
            RefusalKind::NoPath,
            format!(
                "the target {} has no Hometown number: Hometown releases are <mastodon>+hometown-<hometown>, and going from Hometown back to vanilla Mastodon is not documented anywhere. Name the Hometown release to install.",
                to.canonical()
            ),
            same_line,
        ));
    }
    if order == Ordering::Greater {
        return Err(refuse_with(
            RefusalKind::Downgrade,
            format!(
                "{} is older than {} (Hometown orders by Mastodon base first, then its own number): database migrations only run forward. Restore the pre-upgrade backup to go back, or pick a target of at least {}.",
                to.canonical(),
                from.canonical(),
                from.canonical()
            ),
            vec![from.canonical()],
        ));
    }
    let preconditions = deps::preconditions(&to.base, facts);
    if let Some(r) = deps::refusal_for("Hometown", &preconditions) {
        return Err(r);
    }
    let mut caveats = Vec::new();
    if from.form == Form::Plain {
        caveats.push(format!(
            "{} carries no Hometown number: either the server runs vanilla Mastodon or Hometown was not actually checked out (hometown#1335 shows the footer and /api/v1/instance saying plain 4.0.10). The plan assumes the data is on Mastodon {}.",
            from.canonical(),
            from.base.canonical()
        ));
    }
    for v in [from, to] {
        match v.seen() {
            Some(s) if !s.tag_seen => caveats.push(format!(
                "{}: this release is named in {}, but its exact tag was not seen; check the tag name before checking it out.",
                v.canonical(),
                s.source
            )),
            None if v.number.is_some() => caveats.push(format!(
                "{} is not among the Hometown releases seen in sources ({}); it was accepted because its base is a Mastodon release on a line Hometown shipped and its number is a known one.",
                v.canonical(),
                crate::version::known().join(", ")
            )),
            _ => {}
        }
    }
    if order == Ordering::Equal {
        return Ok(UpgradePlan {
            hops: Vec::new(),
            preconditions,
            caveats,
        });
    }
    if zero_downtime
        && let Some(r) = mpath::zero_downtime_refusal("Hometown", &from.base, &to.canonical())
    {
        return Err(r);
    }
    // Stepping stones: the newest release of each shipped line strictly
    // between the source's line and the target's.
    let from_line = (from.base.major, from.base.minor);
    let to_line = (to.base.major, to.base.minor);
    let mut targets: Vec<HometownVersion> = SHIPPED_LINES
        .iter()
        .filter(|l| **l > from_line && **l < to_line)
        .filter_map(|l| stone(*l))
        .map(HometownVersion::from_seen)
        .collect();
    targets.push(to.clone());
    if targets.len() > 1 {
        caveats.push(format!(
            "The path lands on the newest Hometown release of every line in between ({}) because Hometown's notes are written for upgrades from its previous line; Mastodon itself allows skipping [inferred, conservative].",
            targets[..targets.len() - 1]
                .iter()
                .map(HometownVersion::canonical)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut hops = Vec::new();
    let mut at = from.clone();
    for (i, t) in targets.iter().enumerate() {
        hops.push(hop(&format!("hop{}", i + 1), &at, t, zero_downtime));
        at = t.clone();
    }
    caveats.extend(mpath::plan_caveats(&from.base, &to.base, zero_downtime));
    Ok(UpgradePlan {
        hops,
        preconditions,
        caveats,
    })
}
