//! Dependency minimums per Mastodon release line, as preconditions.
//!
//! From each release's "Dependencies" section (facts §1.2 table). A target
//! line whose minimums no source captured (4.6, 4.7) gets at least the 4.5
//! minimums, since minimums have only ever risen, and a caveat says so.

use migrate_plugin_sdk::prelude::*;

use crate::version::MastodonVersion;

/// An inclusive version bound on `major.minor` (patch ignored unless given).
type Bound = &'static [u64];

#[derive(Debug, Clone, Copy)]
pub struct Minimums {
    pub postgresql: Bound,
    /// PostgreSQL releases refused despite meeting the minimum.
    pub postgresql_excluded: Option<(Bound, Bound)>,
    pub redis: Bound,
    pub ruby_min: Bound,
    /// Newest Ruby line the release supports, where the notes give one.
    pub ruby_max: Option<Bound>,
    pub node: Bound,
    /// Where the numbers come from.
    pub source: &'static str,
    /// False when the line's own notes were not captured and the numbers
    /// are carried over from an earlier line.
    pub verified: bool,
}

/// PostgreSQL 14.0 to 14.3 corrupt indexes built concurrently; Mastodon
/// 4.3's notes exclude them. Later lines' notes were not captured on this
/// point; the bug is PostgreSQL's, so the exclusion is kept for them.
const PG14_BAD: (Bound, Bound) = (&[14, 0], &[14, 3]);

/// The minimums for the line of `v`, or `None` for 3.x (not captured).
pub fn minimums(v: &MastodonVersion) -> Option<Minimums> {
    let m = match (v.major, v.minor) {
        (4, 0) | (4, 1) => Minimums {
            postgresql: &[9, 5],
            postgresql_excluded: None,
            redis: &[4],
            ruby_min: &[2, 7],
            ruby_max: Some(&[3, 0]),
            node: &[14],
            source: "Mastodon v4.1.2 and v4.0.4 release notes (github.com/mastodon/mastodon/releases, newreleases.io)",
            verified: true,
        },
        // "minimum supported Ruby version has been bumped from 3.0 to 3.1 in
        // Mastodon v4.2.17" (v4.2.23 notes, sourceforge mirror).
        (4, 2) if v.patch >= 17 => Minimums {
            postgresql: &[10],
            postgresql_excluded: None,
            redis: &[4],
            ruby_min: &[3, 1],
            ruby_max: Some(&[3, 3]),
            node: &[16],
            source: "Mastodon v4.2.23 release notes (sourceforge mirror)",
            verified: true,
        },
        (4, 2) => Minimums {
            postgresql: &[10],
            postgresql_excluded: None,
            redis: &[4],
            ruby_min: &[3, 0],
            ruby_max: Some(&[3, 2]),
            node: &[16],
            source: "Mastodon v4.2.5 release notes (github.com/mastodon/mastodon/releases)",
            verified: true,
        },
        (4, 3) => Minimums {
            postgresql: &[12],
            postgresql_excluded: Some(PG14_BAD),
            redis: &[4],
            ruby_min: &[3, 1],
            ruby_max: None,
            node: &[18],
            source: "Mastodon v4.3.17 and v4.3.10 release notes (newreleases, sourceforge); PG 12 check in 4.3 lib/tasks/db.rake",
            verified: true,
        },
        (4, 4) => Minimums {
            postgresql: &[13],
            postgresql_excluded: Some(PG14_BAD),
            redis: &[6, 2],
            ruby_min: &[3, 2],
            ruby_max: None,
            node: &[20],
            source: "Mastodon v4.4.8 release notes (newreleases), glitch-soc v4.4.24",
            verified: true,
        },
        (4, 5) => Minimums {
            postgresql: &[14],
            postgresql_excluded: Some(PG14_BAD),
            redis: &[7, 0],
            ruby_min: &[3, 2],
            ruby_max: None,
            node: &[20, 19],
            source: "Mastodon v4.5.9/v4.5.11 release notes (newreleases, linuxserver); db.rake aborts below PostgreSQL 14",
            verified: true,
        },
        (4, _) => Minimums {
            source: "not captured for this line: the 4.5 minimums are assumed as a floor",
            verified: false,
            ..minimums(&MastodonVersion {
                major: 4,
                minor: 5,
                patch: 0,
                pre: None,
                build: None,
            })?
        },
        _ => return None,
    };
    Some(m)
}

/// Read the first version-looking number in a fact: `14.5`,
/// `PostgreSQL 16.2 (Debian 16.2-1)`, `v20.19.0`, `redis_version:7.2.4`.
pub fn fact_version(value: &str) -> Option<Vec<u64>> {
    let start = value.find(|c: char| c.is_ascii_digit())?;
    let tail: String = value[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let parts: Option<Vec<u64>> = tail
        .split('.')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().ok())
        .collect();
    parts.filter(|p| !p.is_empty())
}

fn cmp_prefix(have: &[u64], bound: &[u64]) -> std::cmp::Ordering {
    for (i, b) in bound.iter().enumerate() {
        let h = have.get(i).copied().unwrap_or(0);
        match h.cmp(b) {
            std::cmp::Ordering::Equal => {}
            o => return o,
        }
    }
    std::cmp::Ordering::Equal
}

fn show(b: &[u64]) -> String {
    b.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

fn fact<'a>(facts: &'a [(String, String)], key: &str) -> Option<&'a str> {
    facts
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// One precondition: `check` says whether the parsed fact meets it, or
/// `None` when the fact cannot decide (e.g. "14" against "not 14.0–14.3").
fn precondition(
    facts: &[(String, String)],
    key: &str,
    what: &str,
    requirement: String,
    check: impl Fn(&[u64]) -> Option<bool>,
) -> Precondition {
    let (met, reason) = match fact(facts, key) {
        None => (
            None,
            format!("fact `{key}` not given or probed; pass --fact {key}=VERSION to check"),
        ),
        Some(raw) => match fact_version(raw) {
            None => (
                None,
                format!("fact `{key}`={raw:?} holds no version number"),
            ),
            Some(have) => match check(&have) {
                Some(true) => (Some(true), format!("{what} {} meets it", show(&have))),
                Some(false) => (
                    Some(false),
                    format!("{what} {} does not meet it", show(&have)),
                ),
                None => (
                    None,
                    format!(
                        "{what} {} is not precise enough to decide; give the minor version too",
                        show(&have)
                    ),
                ),
            },
        },
    };
    Precondition {
        what: what.to_string(),
        requirement,
        met,
        reason,
    }
}

/// The preconditions the destination must meet to run `target`.
pub fn preconditions(target: &MastodonVersion, facts: &[(String, String)]) -> Vec<Precondition> {
    let Some(m) = minimums(target) else {
        return Vec::new();
    };
    let line = target.series();
    let mut out = Vec::new();
    let pg_req = match m.postgresql_excluded {
        Some((lo, hi)) => format!(
            "{}+ but not {}–{} for Mastodon {line} ({})",
            show(m.postgresql),
            show(lo),
            show(hi),
            m.source
        ),
        None => format!("{}+ for Mastodon {line} ({})", show(m.postgresql), m.source),
    };
    out.push(precondition(
        facts,
        "postgresql-version",
        "PostgreSQL",
        pg_req,
        |have| {
            if cmp_prefix(have, m.postgresql).is_lt() {
                return Some(false);
            }
            match m.postgresql_excluded {
                Some((lo, hi)) if have.first() == lo.first() => {
                    // "14" alone cannot say whether it is 14.3 or 14.4.
                    if have.len() < 2 {
                        return None;
                    }
                    Some(!(cmp_prefix(have, lo).is_ge() && cmp_prefix(have, hi).is_le()))
                }
                _ => Some(true),
            }
        },
    ));
    out.push(precondition(
        facts,
        "redis-version",
        "Redis",
        format!("{}+ for Mastodon {line} ({})", show(m.redis), m.source),
        |have| Some(cmp_prefix(have, m.redis).is_ge()),
    ));
    let ruby_req = match m.ruby_max {
        Some(max) => format!(
            "{} to {} for Mastodon {line} ({})",
            show(m.ruby_min),
            show(max),
            m.source
        ),
        None => format!("{}+ for Mastodon {line} ({})", show(m.ruby_min), m.source),
    };
    out.push(precondition(
        facts,
        "ruby-version",
        "Ruby",
        ruby_req,
        |have| {
            let above_min = cmp_prefix(have, m.ruby_min).is_ge();
            let below_max = m.ruby_max.is_none_or(|max| cmp_prefix(have, max).is_le());
            Some(above_min && below_max)
        },
    ));
    out.push(precondition(
        facts,
        "node-version",
        "Node.js",
        format!("{}+ for Mastodon {line} ({})", show(m.node), m.source),
        |have| Some(cmp_prefix(have, m.node).is_ge()),
    ));
    out
}

/// A refusal naming every unmet precondition, or `None` if none failed.
pub fn refusal_for(app: &str, pre: &[Precondition]) -> Option<Refusal> {
    let failed: Vec<String> = pre
        .iter()
        .filter(|p| p.met == Some(false))
        .map(|p| format!("{} {} ({})", p.what, p.requirement, p.reason))
        .collect();
    if failed.is_empty() {
        return None;
    }
    Some(refuse(
        RefusalKind::PreconditionFailed,
        format!(
            "the destination does not meet {app}'s requirements: {}. Upgrade these first (db:migrate aborts or the app fails to start otherwise), then plan again.",
            failed.join("; ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> MastodonVersion {
        MastodonVersion::parse(s).unwrap()
    }
    fn facts(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
    fn met(pre: &[Precondition], what: &str) -> Option<bool> {
        pre.iter().find(|p| p.what == what).and_then(|p| p.met)
    }

    #[test]
    fn reads_versions_out_of_fact_text() {
        assert_eq!(
            fact_version("PostgreSQL 16.2 (Debian 16.2-1)"),
            Some(vec![16, 2])
        );
        assert_eq!(fact_version("v20.19.0"), Some(vec![20, 19, 0]));
        assert_eq!(fact_version("none"), None);
    }

    #[test]
    fn postgresql_14_early_minors_are_refused_for_4_3() {
        let p = preconditions(&v("4.3.17"), &facts(&[("postgresql-version", "14.2")]));
        assert_eq!(met(&p, "PostgreSQL"), Some(false));
        let p = preconditions(&v("4.3.17"), &facts(&[("postgresql-version", "14.4")]));
        assert_eq!(met(&p, "PostgreSQL"), Some(true));
        let p = preconditions(&v("4.3.17"), &facts(&[("postgresql-version", "14")]));
        assert_eq!(met(&p, "PostgreSQL"), None);
        let p = preconditions(&v("4.3.17"), &facts(&[("postgresql-version", "11.9")]));
        assert_eq!(met(&p, "PostgreSQL"), Some(false));
    }

    #[test]
    fn missing_facts_are_unknown_not_failed() {
        let p = preconditions(&v("4.5.11"), &[]);
        assert_eq!(p.len(), 4);
        assert!(p.iter().all(|p| p.met.is_none()));
    }

    #[test]
    fn node_and_ruby_bounds() {
        let f = facts(&[("node-version", "20.11.1"), ("ruby-version", "3.4.1")]);
        let p = preconditions(&v("4.5.11"), &f);
        assert_eq!(met(&p, "Node.js"), Some(false));
        assert_eq!(met(&p, "Ruby"), Some(true));
        let p = preconditions(&v("4.2.10"), &f);
        assert_eq!(
            met(&p, "Ruby"),
            Some(false),
            "4.2.x supports Ruby up to 3.2"
        );
    }
}
