//! Upgrade paths between Mastodon releases.
//!
//! One hop from the source to the target: the docs' upgrading guide says
//! intermediate releases may be skipped if each one's instructions are
//! followed, and a maintainer confirmed a direct 4.3.13 → 4.4.x update
//! "using the instructions in the 4.4.0 release notes" (mastodon#36350).
//! Every skipped line's notes become a step and a note of that hop; the
//! release notes' stricter wording is said as a caveat (facts §1.2).

use migrate_plugin_sdk::prelude::*;

use crate::deps;
use crate::release::{self, Line};
use crate::version::MastodonVersion;

/// The schema of 4.2.0 is the oldest the two-phase (zero-downtime)
/// migration accepts: `db:pre_migration_check` aborts with
/// `SKIP_POST_DEPLOYMENT_MIGRATIONS` below schema 2023_09_07_150100
/// (mastodon/mastodon lib/tasks/db.rake, read in the stored copy).
pub const ZERO_DOWNTIME_FROM: (u64, u64, u64) = (4, 2, 0);

pub const SKIP_RULE_CAVEAT: &str = "Skipping releases is contested: the admin docs say intermediate releases may be skipped as long as each one's instructions are followed, while release notes since 3.3.1 ask to read the notes of every skipped release because they often need extra steps (mastodon/documentation#1356, open). This plan jumps directly, as a maintainer confirmed for 4.3 → 4.4 (mastodon/mastodon#36350), and lists every skipped line's notes as steps: do them all, in order.";

/// The refusal for a zero-downtime upgrade from before 4.2.0, if it applies.
pub fn zero_downtime_refusal(app: &str, from: &MastodonVersion, to_label: &str) -> Option<Refusal> {
    if from.at_least(
        ZERO_DOWNTIME_FROM.0,
        ZERO_DOWNTIME_FROM.1,
        ZERO_DOWNTIME_FROM.2,
    ) {
        return None;
    }
    Some(refuse_with(
        RefusalKind::ZeroDowntimeUnsupported,
        format!(
            "zero-downtime migrations (SKIP_POST_DEPLOYMENT_MIGRATIONS) from {app} versions earlier than 4.2.0 are not supported and db:migrate aborts on them (lib/tasks/db.rake). Either upgrade without --zero-downtime (stop web, streaming and sidekiq, run db:migrate, start them on {to_label}), or first upgrade to a 4.2.x release with downtime and use zero-downtime from there."
        ),
        vec!["4.2.27".to_string()],
    ))
}

/// Release notes of one line, with what the facts captured about them.
fn line_note(l: &Line) -> String {
    let tag = format!("v{}.{}.0", l.major, l.minor);
    let url = format!("https://github.com/mastodon/mastodon/releases/tag/{tag}");
    let specific = match (l.major, l.minor) {
        (4, 0) | (4, 1) => {
            "Ruby 2.7–3.0, PostgreSQL 9.5+, Redis 4+, Node 14+ (v4.1.2/v4.0.4 notes)"
        }
        (4, 2) => {
            "Ruby 3.0–3.2 (3.1–3.3 from 4.2.17), PostgreSQL 10+, Node 16+, ImageMagick 6.9.7-7+; adds the update check; zero-downtime upgrades are possible only from 4.2.0 on (v4.2.5/v4.2.23 notes, db.rake)"
        }
        (4, 3) => {
            "new Active Record encryption secrets are required (bin/rails db:encryption:init, three ACTIVE_RECORD_ENCRYPTION_* variables that must never change); PostgreSQL 12+ but not 14.0–14.3, Node 18+, Ruby 3.1+; libvips 8.13+ may replace ImageMagick; the streaming server ships as its own image ghcr.io/mastodon/mastodon-streaming (v4.3.17/v4.3.10 notes, upstream docker-compose.yml)"
        }
        (4, 4) => {
            "OTP_SECRET is no longer used (removed in 4.4.0); PostgreSQL 13+, Redis 6.2+, Ruby 3.2+, Node 20+ (v4.4.8 notes, nixpkgs 4.3.8 → 4.4.0)"
        }
        (4, 5) => {
            "db:migrate aborts below PostgreSQL 14; Redis 7.0+, Ruby 3.2+, Node 20.19+ (v4.5.9/v4.5.11 notes, db.rake)"
        }
        (4, 6) => {
            "its dependency changes were not captured by this plugin [unverified]: read the Dependencies section of the notes before upgrading"
        }
        (4, 7) => {
            "requires unusually long database migrations and a streaming server restart; it is the release needed for zero-downtime migration to Mastodon 5.0; dependency minimums not captured [unverified] (v4.7.0 notes, glitch-soc/linuxserver mirrors)"
        }
        _ => "no details captured by this plugin for this line: read the notes",
    };
    format!(
        "Mastodon {}.{}: read {url} and apply its upgrade instructions; {specific}.",
        l.major, l.minor
    )
}

/// Notes for every minor line `(from, to]` crosses, plus patch releases
/// inside a line that changed requirements.
pub fn skipped_notes(from: &MastodonVersion, to: &MastodonVersion) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = release::lines_crossed(from.triple(), to.triple())
        .iter()
        .map(|l| (format!("{}.{}", l.major, l.minor), line_note(l)))
        .collect();
    if !from.at_least(4, 2, 17) && to.at_least(4, 2, 17) && to.major == 4 && to.minor == 2 {
        out.push((
            "4.2.17".to_string(),
            "Mastodon 4.2.17 raised the minimum Ruby from 3.0 to 3.1 (v4.2.23 notes).".to_string(),
        ));
    }
    out
}

/// Whether the jump from `from` to `to` skips at least one release.
pub fn skips_releases(from: &MastodonVersion, to: &MastodonVersion) -> bool {
    let same_line = from.major == to.major && from.minor == to.minor;
    !same_line || to.patch > from.patch + 1
}

/// Where the upgrade commands run: the `web` service of upstream's
/// docker-compose.yml (facts §1.4); systemd installs run them in
/// ~/live as the mastodon user.
pub const WEB: &str = "web";

fn rails(argv: &[&str]) -> Command {
    in_service(Side::Destination, WEB, argv).env("RAILS_ENV", "production")
}

/// How a hop switches the code: what to install, in words.
pub struct Deploy<'a> {
    /// The version as the operator knows it, e.g. `4.5.11+hometown-1.2.1`.
    pub label: &'a str,
    /// How to get that code in place (image tag, git tag to check out).
    pub how: &'a str,
}

pub const MASTODON_DEPLOY: &str = "Point web, sidekiq and streaming at the new version (image tag ghcr.io/mastodon/mastodon:vX.Y.Z, or git checkout vX.Y.Z plus bundle install and yarn install).";

/// The steps of one hop, keyed by `key` so ids stay unique across hops.
pub fn hop_steps(
    app: &str,
    key: &str,
    from: &MastodonVersion,
    to: &MastodonVersion,
    deploy: &Deploy,
    zero_downtime: bool,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for (series, note) in skipped_notes(from, to) {
        steps.push(step(
            &format!("{key}-notes-{series}"),
            Phase::Check,
            Risk::ReadOnly,
            &format!("Read and apply the Mastodon {series} upgrade notes"),
            manual(&note),
        ));
    }
    if !from.at_least(4, 3, 0) && to.at_least(4, 3, 0) {
        // 4.3 needs the encryption secrets before its migrations run.
        steps.push(step(
            &format!("{key}-ar-encryption-init"),
            Phase::Prepare,
            Risk::Reversible,
            "Generate the Active Record encryption secrets 4.3 requires (bin/rails db:encryption:init prints three variables)",
            exec(rails(&["bin/rails", "db:encryption:init"])),
        ));
        steps.push(step(
            &format!("{key}-ar-encryption-store"),
            Phase::Prepare,
            Risk::Reversible,
            "Add ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY, ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT and ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY to .env.production",
            manual(
                "Copy the three ACTIVE_RECORD_ENCRYPTION_* lines that db:encryption:init printed into .env.production (or the app's env file) on the destination, keep a copy with your backups, and never change them: data encrypted with them is unreadable without them.",
            ),
        ));
    }
    if zero_downtime {
        steps.push(step(
            &format!("{key}-migrate-pre"),
            Phase::Cutover,
            Risk::Destructive,
            &format!("Run {app} {}'s pre-deployment database migrations while the old version keeps serving", deploy.label),
            exec(rails(&["bundle", "exec", "rails", "db:migrate"]).env("SKIP_POST_DEPLOYMENT_MIGRATIONS", "true")),
        ));
        steps.push(step(
            &format!("{key}-deploy"),
            Phase::Cutover,
            Risk::Reversible,
            &format!("Deploy {app} {} and restart web, sidekiq and streaming one after another", deploy.label),
            manual(&format!("{} Then restart web, sidekiq and streaming one at a time (non-docker installs: assets:precompile first).", deploy.how)),
        ));
        steps.push(step(
            &format!("{key}-migrate-post"),
            Phase::Finish,
            Risk::Destructive,
            "Run the post-deployment migrations now that every process runs the new code",
            exec(rails(&["bundle", "exec", "rails", "db:migrate"])),
        ));
    } else {
        steps.push(step(
            &format!("{key}-stop"),
            Phase::Cutover,
            Risk::Reversible,
            &format!("Stop {app}'s web, sidekiq and streaming processes"),
            manual("Stop web, sidekiq and streaming (systemd: systemctl stop 'mastodon-*.service'; docker: docker compose stop web sidekiq streaming). Keep PostgreSQL and Redis running."),
        ));
        steps.push(step(
            &format!("{key}-deploy"),
            Phase::Cutover,
            Risk::Reversible,
            &format!("Switch the code or images to {app} {}", deploy.label),
            manual(&format!("{} Do not start them yet.", deploy.how)),
        ));
        steps.push(step(
            &format!("{key}-migrate"),
            Phase::Cutover,
            Risk::Destructive,
            &format!("Run all database migrations of {app} {}", deploy.label),
            exec(rails(&["bundle", "exec", "rails", "db:migrate"])),
        ));
        steps.push(step(
            &format!("{key}-start"),
            Phase::Cutover,
            Risk::Reversible,
            &format!("Start {app}'s web, sidekiq and streaming on {}", deploy.label),
            manual("Start web, sidekiq and streaming again (systemd: systemctl start mastodon-web mastodon-sidekiq mastodon-streaming; docker: docker compose up -d)."),
        ));
    }
    steps
}

/// Notes of one hop (the skipped lines' notes, plus what the hop implies).
pub fn hop_notes(from: &MastodonVersion, to: &MastodonVersion) -> Vec<String> {
    let mut notes: Vec<String> = skipped_notes(from, to)
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    if skips_releases(from, to) {
        notes.push(format!(
            "Releases between {} and {} are skipped: read the notes of every release in between (github.com/mastodon/mastodon/releases), patch releases included.",
            from.canonical(),
            to.canonical()
        ));
    }
    notes
}

/// Caveats that apply to any plan ending at `to`.
pub fn plan_caveats(
    from: &MastodonVersion,
    to: &MastodonVersion,
    zero_downtime: bool,
) -> Vec<String> {
    let mut c = Vec::new();
    if skips_releases(from, to) && !release::lines_crossed(from.triple(), to.triple()).is_empty() {
        c.push(SKIP_RULE_CAVEAT.to_string());
    }
    if deps::minimums(to).is_some_and(|m| !m.verified) {
        c.push(format!(
            "The dependency minimums of Mastodon {} were not captured by this plugin; the 4.5 minimums are checked as a floor. Read the release's Dependencies section.",
            to.series()
        ));
    }
    if deps::minimums(to).is_none() {
        c.push(format!(
            "No dependency minimums are encoded for Mastodon {}; check its release notes.",
            to.series()
        ));
    }
    if from.pre.is_some() || to.pre.is_some() {
        c.push("A prerelease is involved: prereleases are checked for syntax and line only, not against the list of published betas and release candidates, and their upgrade notes may be incomplete.".to_string());
    }
    for v in [from, to] {
        if let Some(b) = &v.build {
            c.push(format!(
                "{} carries build metadata `{b}` (a fork or custom build): the fork's own upgrade notes apply on top of Mastodon's.",
                v.canonical()
            ));
        }
    }
    if zero_downtime {
        c.push("The db.rake guard against zero-downtime upgrades from before 4.2.0 was read in a 4.5-era copy; which release added it (4.4 or 4.5) is not verified. The rule is applied to every target.".to_string());
    }
    c
}

/// The whole Mastodon plan.
pub fn plan(
    from: &MastodonVersion,
    to: &MastodonVersion,
    zero_downtime: bool,
    facts: &[(String, String)],
) -> Result<UpgradePlan, Refusal> {
    use std::cmp::Ordering;
    let order = from.cmp_release(to);
    if order == Ordering::Greater {
        return Err(refuse_with(
            RefusalKind::Downgrade,
            format!(
                "Mastodon {} is older than {}: Mastodon's database migrations only run forward and no source documents a downgrade. To go back, restore the backup taken before the upgrade; otherwise pick a target of at least {}.",
                to.canonical(),
                from.canonical(),
                from.canonical()
            ),
            vec![from.canonical()],
        ));
    }
    let preconditions = deps::preconditions(to, facts);
    if let Some(r) = deps::refusal_for("Mastodon", &preconditions) {
        return Err(r);
    }
    if order == Ordering::Equal {
        return Ok(UpgradePlan {
            hops: Vec::new(),
            preconditions,
            caveats: plan_caveats(from, to, false),
        });
    }
    if zero_downtime && let Some(r) = zero_downtime_refusal("Mastodon", from, &to.canonical()) {
        return Err(r);
    }
    let hop = Hop {
        from: from.canonical(),
        to: to.canonical(),
        steps: hop_steps(
            "Mastodon",
            "hop1",
            from,
            to,
            &Deploy {
                label: &to.canonical(),
                how: MASTODON_DEPLOY,
            },
            zero_downtime,
        ),
        notes: hop_notes(from, to),
    };
    Ok(UpgradePlan {
        hops: vec![hop],
        preconditions,
        caveats: plan_caveats(from, to, zero_downtime),
    })
}
