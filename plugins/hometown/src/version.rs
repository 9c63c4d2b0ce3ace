//! Hometown version strings and the releases seen in sources.
//!
//! Forms (facts §1.1, §1.3):
//! - current: `<mastodon>+hometown-<hometown>`, e.g. `4.5.0+hometown-1.1.2`
//!   or `4.5.0+meta+hometown-1.1.2` with build metadata
//!   (hometown-fork/hometown:lib/mastodon/version.rb@23633720); tags carry a
//!   `v` (`v4.2.12+hometown-1.1.1`, hometown#1367);
//! - old tags (≤ 1.0.x): `v<hometown>+<mastodon>`, e.g. `v1.0.5+3.2.0`
//!   (releases/tag/v1.0.5%2B3.2.0, hometown#1160);
//! - `v4.0.4+1.1.1`: Mastodon first without the `hometown-` word, as the
//!   v4.0.6+hometown-1.1.1 release notes name earlier releases;
//! - plain Mastodon (`4.0.10`), reported when the Hometown tag was not
//!   really checked out (hometown#1335).

use std::cmp::Ordering;

use mastodon_rules::version::MastodonVersion;
use migrate_plugin_sdk::prelude::*;

/// A Hometown release number, `1.1.2`.
pub type Num = (u64, u64, u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `4.5.0+hometown-1.1.2`
    Current,
    /// `v1.0.5+3.2.0`
    HometownFirst,
    /// `v4.0.4+1.1.1`
    MastodonFirst,
    /// `4.0.10`: no Hometown number at all.
    Plain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HometownVersion {
    pub base: MastodonVersion,
    pub number: Option<Num>,
    /// Build metadata between the base and the Hometown part.
    pub meta: Option<String>,
    pub form: Form,
}

/// A release seen in a source, with whether its exact tag was seen.
pub struct Seen {
    pub base: (u64, u64, u64),
    pub number: Num,
    pub tag_seen: bool,
    pub source: &'static str,
}

const fn seen(base: (u64, u64, u64), number: Num, tag_seen: bool, source: &'static str) -> Seen {
    Seen {
        base,
        number,
        tag_seen,
        source,
    }
}

/// The Hometown releases of facts §1.3, oldest first.
pub const RELEASES: &[Seen] = &[
    seen((3, 0, 1), (1, 0, 3), true, "hometown#39"),
    seen((3, 2, 0), (1, 0, 5), true, "releases/tag/v1.0.5%2B3.2.0"),
    seen(
        (3, 5, 2),
        (1, 0, 5),
        true,
        "hometown#1160, hodgesmr/mastodon_digest#2",
    ),
    seen((3, 5, 5), (1, 0, 8), false, "hometown PR #1235, #1318"),
    seen(
        (4, 0, 2),
        (1, 1, 0),
        false,
        "hometown PR #1235 (planned; tag not seen)",
    ),
    seen(
        (4, 0, 4),
        (1, 1, 1),
        true,
        "v4.0.6+hometown-1.1.1 release notes",
    ),
    seen(
        (4, 0, 5),
        (1, 1, 1),
        true,
        "v4.0.6+hometown-1.1.1 release notes",
    ),
    seen(
        (4, 0, 6),
        (1, 1, 1),
        true,
        "releases/tag/v4.0.6%2Bhometown-1.1.1",
    ),
    seen((4, 0, 10), (1, 1, 1), true, "hometown#1335"),
    seen((4, 0, 14), (1, 1, 1), true, "hometown#1345"),
    seen(
        (4, 0, 15),
        (1, 1, 1),
        true,
        "releases/tag/v4.0.15%2Bhometown-1.1.1",
    ),
    seen((4, 2, 10), (1, 1, 1), true, "hometown PR #1337"),
    seen((4, 2, 12), (1, 1, 1), true, "hometown#1367"),
    seen((4, 2, 17), (1, 1, 2), true, "hometown PR #1371"),
    // The 4.5.6 release's tag suffix was not seen; "probably hometown-1.2.0".
    seen(
        (4, 5, 6),
        (1, 2, 0),
        false,
        "hometown PR #1371 (number unverified)",
    ),
    // 4.5.10 deliberately kept the Hometown number (hometown PR #1404, #1406).
    seen(
        (4, 5, 10),
        (1, 2, 0),
        false,
        "hometown PR #1404, #1406 (number unverified)",
    ),
    seen((4, 5, 11), (1, 2, 1), true, "hometown PR #1409"),
];

/// Mastodon lines Hometown shipped a release on. 4.1, 4.3 and 4.4 were
/// never a base: Hometown went 4.0.x → 4.2.x → 4.5.x (hometown PR #1371).
pub const SHIPPED_LINES: &[(u64, u64)] = &[(3, 0), (3, 2), (3, 5), (4, 0), (4, 2), (4, 5)];

/// The newest release seen on each shipped line: the stepping stones.
pub fn stone(line: (u64, u64)) -> Option<&'static Seen> {
    RELEASES
        .iter()
        .filter(|r| (r.base.0, r.base.1) == line)
        .max_by_key(|r| (r.base, r.number))
}

pub fn known() -> Vec<String> {
    RELEASES
        .iter()
        .map(|r| canonical_of(r.base, Some(r.number)))
        .collect()
}

fn canonical_of(base: (u64, u64, u64), number: Option<Num>) -> String {
    let b = format!("{}.{}.{}", base.0, base.1, base.2);
    match number {
        Some(n) => format!("{b}+hometown-{}.{}.{}", n.0, n.1, n.2),
        None => b,
    }
}

fn malformed(raw: &str, why: &str) -> Refusal {
    refuse(
        RefusalKind::MalformedVersion,
        format!(
            "{raw:?} is not a Hometown version: {why}. Hometown writes <mastodon>+hometown-<hometown> (4.5.0+hometown-1.1.2, v4.2.12+hometown-1.1.1), or before 1.1 v<hometown>+<mastodon> (v1.0.5+3.2.0)"
        ),
    )
}

fn unknown(raw: &str, why: &str) -> Refusal {
    let wanted = raw.trim().trim_start_matches(['v', 'V']);
    let base_part = wanted.split('+').next().unwrap_or(wanted);
    let k = known();
    // Suggest by Mastodon base: Hometown orders by it first.
    let bases: Vec<String> = RELEASES
        .iter()
        .map(|r| format!("{}.{}.{}", r.base.0, r.base.1, r.base.2))
        .collect();
    let near: Vec<String> = nearest(base_part, &bases)
        .into_iter()
        .filter_map(|b| {
            k.iter()
                .find(|c| c.split('+').next() == Some(b.as_str()))
                .cloned()
        })
        .collect();
    refuse_with(
        RefusalKind::UnknownVersion,
        format!("{raw:?} is not a Hometown release this plugin knows: {why}"),
        near,
    )
}

/// Three dot-separated numbers, optionally `v`-prefixed.
fn triple(s: &str) -> Option<Num> {
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let p: Vec<&str> = s.split('.').collect();
    if p.len() != 3 {
        return None;
    }
    let n = |x: &str| {
        if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            x.parse().ok()
        }
    };
    Some((n(p[0])?, n(p[1])?, n(p[2])?))
}

impl HometownVersion {
    pub fn parse(raw: &str) -> Result<HometownVersion, Refusal> {
        let text = raw.trim();
        let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
        if text.is_empty() {
            return Err(malformed(raw, "it is empty"));
        }
        let Some((first, rest)) = text.split_once('+') else {
            // Plain Mastodon: Mastodon's parser says whether it exists.
            let base = MastodonVersion::parse(text).map_err(|e| match e.kind {
                RefusalKind::MalformedVersion => malformed(
                    raw,
                    "without a `+` it must be a plain Mastodon version X.Y.Z",
                ),
                _ => e,
            })?;
            let v = HometownVersion {
                base,
                number: None,
                meta: None,
                form: Form::Plain,
            };
            v.check(raw)?;
            return Ok(v);
        };
        if rest.is_empty() || rest.split('+').any(str::is_empty) {
            return Err(malformed(raw, "an empty part follows a `+`"));
        }
        let pieces: Vec<&str> = rest.split('+').collect();
        let v = if let Some(num) = pieces.last().and_then(|p| p.strip_prefix("hometown-")) {
            let number = triple(num).ok_or_else(|| {
                malformed(
                    raw,
                    &format!("{num:?} after `hometown-` is not three numbers"),
                )
            })?;
            let meta = (pieces.len() > 1).then(|| pieces[..pieces.len() - 1].join("+"));
            if let Some(m) = &meta
                && Dotted::parse(m).is_ok_and(|d| d.parts.len() >= 2)
            {
                // `4.2.0+v4.2.12+hometown-1.1.1` is a recipe version
                // wrapping a Hometown one, not metadata: let the SDK split it.
                return Err(malformed(
                    raw,
                    &format!("the metadata {m:?} is itself a version"),
                ));
            }
            let base = MastodonVersion::parse_core(raw, first)?;
            HometownVersion {
                base,
                number: Some(number),
                meta,
                form: Form::Current,
            }
        } else if let (Some(a), Some(b), 1) = (triple(first), triple(rest), pieces.len()) {
            let (number, base, form) = match (a.0, b.0) {
                (1, m) if m >= 3 => (a, b, Form::HometownFirst),
                (m, 1) if m >= 3 => (b, a, Form::MastodonFirst),
                _ => {
                    return Err(malformed(
                        raw,
                        "neither side of the `+` is a Hometown number (1.x) next to a Mastodon version (3.x or 4.x)",
                    ));
                }
            };
            HometownVersion {
                base: MastodonVersion {
                    major: base.0,
                    minor: base.1,
                    patch: base.2,
                    pre: None,
                    build: None,
                },
                number: Some(number),
                meta: None,
                form,
            }
        } else {
            return Err(malformed(
                raw,
                "the part after `+` is neither `hometown-X.Y.Z` nor a version",
            ));
        };
        v.base.check_known(raw)?;
        v.check(raw)?;
        Ok(v)
    }

    /// Hometown-specific existence checks, after the base is a real
    /// Mastodon release.
    fn check(&self, raw: &str) -> Result<(), Refusal> {
        let line = (self.base.major, self.base.minor);
        if !SHIPPED_LINES.contains(&line) {
            let why = match line {
                (4, 6) => "Mastodon 4.6.7 is merged into hometown-dev (hometown PR #1415) but no Hometown 4.6 release was seen".to_string(),
                (4, 7) => "no Hometown release on Mastodon 4.7 was seen".to_string(),
                (m, n) => format!(
                    "Hometown never shipped a Mastodon {m}.{n} base (its releases went 4.0.x → 4.2.x → 4.5.x, hometown PR #1371; before that 3.0, 3.2 and 3.5). If this server runs vanilla Mastodon, ask the `mastodon` plugin."
                ),
            };
            return Err(unknown(raw, &why));
        }
        let Some(n) = self.number else {
            return Ok(());
        };
        let known_number = matches!(n, (1, 0, 0..=8) | (1, 1, 0..=2) | (1, 2, 0..=1));
        if !known_number {
            return Err(unknown(
                raw,
                &format!(
                    "Hometown {}.{}.{} was not seen in any source (known: 1.0.x up to 1.0.8, 1.1.0–1.1.2, 1.2.0–1.2.1)",
                    n.0, n.1, n.2
                ),
            ));
        }
        // 1.0.x was built on Mastodon 3.x; 1.1 onwards on 4.x (facts §1.3).
        if (n.1 == 0) != (self.base.major == 3) {
            return Err(unknown(
                raw,
                &format!(
                    "Hometown {}.{}.{} was never built on Mastodon {} (1.0.x is on 3.x, 1.1 and later on 4.x)",
                    n.0,
                    n.1,
                    n.2,
                    self.base.numeric()
                ),
            ));
        }
        Ok(())
    }

    pub fn canonical(&self) -> String {
        let base = self.base.canonical();
        match self.number {
            Some(n) => format!("{base}+hometown-{}.{}.{}", n.0, n.1, n.2),
            None => base,
        }
    }

    /// The git tag this version is released as.
    /// 1.0.x tags put the Hometown number first (`v1.0.5+3.2.0`), later
    /// ones the Mastodon base.
    pub fn tag(&self) -> String {
        match self.number {
            Some(n) if n.0 == 1 && n.1 == 0 => {
                format!("v{}.{}.{}+{}", n.0, n.1, n.2, self.base.numeric())
            }
            _ => format!("v{}", self.canonical()),
        }
    }

    /// Mastodon base first, then the Hometown number (a number can span
    /// several bases: `hometown-1.1.1` went from 4.0.4 to 4.2.12).
    pub fn cmp_release(&self, other: &HometownVersion) -> Ordering {
        self.base
            .cmp_release(&other.base)
            .then_with(|| self.number.cmp(&other.number))
    }

    /// Whether this exact release was seen in a source.
    pub fn seen(&self) -> Option<&'static Seen> {
        let n = self.number?;
        RELEASES
            .iter()
            .find(|r| r.base == self.base.triple() && r.number == n && self.base.pre.is_none())
    }

    pub fn from_seen(s: &Seen) -> HometownVersion {
        HometownVersion {
            base: MastodonVersion {
                major: s.base.0,
                minor: s.base.1,
                patch: s.base.2,
                pre: None,
                build: None,
            },
            number: Some(s.number),
            meta: None,
            form: Form::Current,
        }
    }

    pub fn to_version(&self, raw: &str) -> Version {
        let display = match (self.number, self.form) {
            (None, _) => format!(
                "Mastodon {} without a Hometown number (vanilla Mastodon, or Hometown not checked out)",
                self.base.canonical()
            ),
            (Some(n), Form::HometownFirst) => format!(
                "Hometown {}.{}.{} (Mastodon {}, old-style tag {})",
                n.0,
                n.1,
                n.2,
                self.base.canonical(),
                self.tag()
            ),
            (Some(n), _) => format!(
                "Hometown {}.{}.{} (Mastodon {})",
                n.0,
                n.1,
                n.2,
                self.base.canonical()
            ),
        };
        Version {
            raw: raw.to_string(),
            canonical: self.canonical(),
            display,
            series: self.base.series(),
            prerelease: self.base.pre.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HometownVersion {
        HometownVersion::parse(s).unwrap_or_else(|e| panic!("{s}: {}", e.message))
    }
    fn kind(s: &str) -> RefusalKind {
        HometownVersion::parse(s).unwrap_err().kind
    }

    #[test]
    fn reads_every_form() {
        assert_eq!(
            p("4.5.0+hometown-1.1.2").canonical(),
            "4.5.0+hometown-1.1.2"
        );
        assert_eq!(
            p("v4.2.12+hometown-1.1.1").canonical(),
            "4.2.12+hometown-1.1.1"
        );
        let meta = p("4.5.0+meta+hometown-1.1.2");
        assert_eq!(meta.meta.as_deref(), Some("meta"));
        let old = p("v1.0.5+3.2.0");
        assert_eq!(old.canonical(), "3.2.0+hometown-1.0.5");
        assert_eq!(old.form, Form::HometownFirst);
        assert_eq!(old.tag(), "v1.0.5+3.2.0");
        assert_eq!(p("v4.0.4+1.1.1").canonical(), "4.0.4+hometown-1.1.1");
        let plain = p("4.0.10");
        assert_eq!(plain.form, Form::Plain);
        assert_eq!(plain.canonical(), "4.0.10");
    }

    #[test]
    fn refuses_bases_hometown_never_shipped() {
        for bad in [
            "4.3.5+hometown-1.1.2",
            "4.4.8",
            "4.1.2+hometown-1.1.1",
            "4.6.7+hometown-1.2.1",
        ] {
            assert!(matches!(kind(bad), RefusalKind::UnknownVersion), "{bad}");
        }
        assert!(matches!(
            kind("4.2.12+hometown-1.9.0"),
            RefusalKind::UnknownVersion
        ));
        assert!(matches!(
            kind("3.5.2+hometown-1.1.1"),
            RefusalKind::UnknownVersion
        ));
        let e = HometownVersion::parse("4.3.5+hometown-1.1.2").unwrap_err();
        assert!(!e.suggestions.is_empty());
        assert!(e.message.contains("4.0.x → 4.2.x → 4.5.x"), "{}", e.message);
    }

    #[test]
    fn refuses_garbage_and_recipe_wrappers() {
        for bad in [
            "",
            "hometown",
            "4.2.12+hometown-1.1",
            "4.2.12+",
            "2.0.1+v4.2.1",
            "4.2.0+v4.2.12+hometown-1.1.1",
        ] {
            assert!(matches!(kind(bad), RefusalKind::MalformedVersion), "{bad}");
        }
    }

    #[test]
    fn orders_by_mastodon_base_first() {
        assert_eq!(
            p("4.2.12+hometown-1.1.1").cmp_release(&p("4.0.15+hometown-1.1.1")),
            Ordering::Greater
        );
        assert_eq!(
            p("v1.0.8+3.5.5").cmp_release(&p("v1.0.5+3.5.2")),
            Ordering::Greater
        );
        assert_eq!(
            p("4.5.10+hometown-1.2.0").cmp_release(&p("4.5.11+hometown-1.2.1")),
            Ordering::Less
        );
        assert_eq!(
            p("4.0.10").cmp_release(&p("4.0.10+hometown-1.1.1")),
            Ordering::Less
        );
    }

    #[test]
    fn stones_are_the_newest_release_per_line() {
        assert_eq!(
            HometownVersion::from_seen(stone((4, 2)).unwrap()).canonical(),
            "4.2.17+hometown-1.1.2"
        );
        assert_eq!(
            HometownVersion::from_seen(stone((4, 0)).unwrap()).canonical(),
            "4.0.15+hometown-1.1.1"
        );
    }
}
