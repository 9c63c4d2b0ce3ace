//! Discourse version strings, both schemes.
//!
//! - Until 3.5: `Discourse::VERSION::STRING = [MAJOR, MINOR, TINY, PRE]`
//!   joined by dots, e.g. `3.1.0.beta6`; `VERSION_REGEXP =
//!   /\A\d+\.\d+\.\d+(\.beta\d+)?\z/` (discourse/discourse:lib/version.rb
//!   @00903f6b). Sites on the tests-passed branch show the beta they are
//!   heading for with `-dev` (`3.2.0.beta2-dev`) [unverified: not in the
//!   stored copies, accepted and said so].
//! - Since November 2025: `YYYY.M.PATCH`, with `-latest` on the latest
//!   branch, e.g. `v2026.3.0-latest` (meta.discourse.org/t/264400); the
//!   first release was 2025.11.0 (endoflife-date/endoflife.date
//!   products/discourse.md: releaseCycle 2025.11, 2025-11-25).
//!
//! Old versions sort before date-based ones (3 < 2025), which is also the
//! order in which they were released.

use std::cmp::Ordering;

use migrate_plugin_sdk::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `3.1.0`, `3.1.0.beta6`
    Semantic,
    /// `2026.3.0`, `2026.3.0-latest`
    Calendar,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscourseVersion {
    pub scheme: Scheme,
    /// major.minor.patch, or year.month.patch.
    pub parts: (u64, u64, u64),
    /// `beta6` → 6.
    pub beta: Option<u64>,
    /// `-dev`: a tests-passed build heading for `beta`.
    pub dev: bool,
    /// `-latest`: a build of the latest branch heading for this release.
    pub latest: bool,
}

/// Old-scheme lines (major, minor) with the last patch a source names,
/// where it names one. 3.4 and 3.5 were the last ESRs of the old scheme
/// and are out of support, so their last patches are final
/// (endoflife.date products/discourse.md: 3.4.7, 3.5.4).
const FINAL_PATCH: &[((u64, u64), u64)] = &[((3, 4), 7), ((3, 5), 4)];

/// Date-based releases seen in a source (endoflife.date, 2026-03 copy:
/// 2025.11.2, 2025.12.2, 2026.1.1, 2026.2.0); later months follow the
/// monthly cadence the release-channel page describes [inferred].
const SEEN_CALENDAR: &[((u64, u64), u64)] = &[
    ((2025, 11), 2),
    ((2025, 12), 2),
    ((2026, 1), 1),
    ((2026, 2), 0),
];

/// The first date-based release month.
pub const CALENDAR_START: (u64, u64) = (2025, 11);
/// The newest release month this plugin accepts: the month of its facts
/// snapshot ("late 2026"); `-latest` builds may be one month ahead.
pub const CALENDAR_END: (u64, u64) = (2026, 11);

fn malformed(raw: &str, why: &str) -> Refusal {
    refuse(
        RefusalKind::MalformedVersion,
        format!(
            "{raw:?} is not a Discourse version: {why}. Discourse writes 3.1.0 or 3.1.0.beta6 (until 3.5), and 2026.3.0 or 2026.3.0-latest since November 2025"
        ),
    )
}

fn num(raw: &str, s: &str) -> Result<u64, Refusal> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(raw, &format!("{s:?} is not a number")));
    }
    s.parse()
        .map_err(|_| malformed(raw, "a number is too large"))
}

impl DiscourseVersion {
    pub fn parse(raw: &str) -> Result<DiscourseVersion, Refusal> {
        let text = raw.trim();
        let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
        if text.is_empty() {
            return Err(malformed(raw, "it is empty"));
        }
        if text.contains('+') {
            // Lets the SDK read `1.2.0+3.1.0` as a Co-op Cloud recipe version.
            return Err(malformed(raw, "Discourse versions carry no `+` part"));
        }
        let (body, suffix) = match text.split_once('-') {
            Some((b, s)) => (b, Some(s)),
            None => (text, None),
        };
        let (dev, latest) = match suffix {
            None => (false, false),
            Some("dev") => (true, false),
            Some("latest") => (false, true),
            Some(s) => {
                return Err(malformed(
                    raw,
                    &format!("the suffix {s:?} is neither -latest nor -dev"),
                ));
            }
        };
        let pieces: Vec<&str> = body.split('.').collect();
        let (nums, beta) = match pieces.as_slice() {
            [a, b, c] => ([*a, *b, *c], None),
            [a, b, c, pre] => {
                let Some(n) = pre.strip_prefix("beta") else {
                    return Err(malformed(
                        raw,
                        &format!(
                            "{pre:?} is not a beta tag (Discourse's only prerelease is .betaN)"
                        ),
                    ));
                };
                ([*a, *b, *c], Some(num(raw, n)?))
            }
            _ => {
                return Err(malformed(
                    raw,
                    &format!(
                        "it has {} dot-separated parts, Discourse uses three (plus .betaN)",
                        pieces.len()
                    ),
                ));
            }
        };
        let parts = (num(raw, nums[0])?, num(raw, nums[1])?, num(raw, nums[2])?);
        let scheme = if parts.0 >= 2000 {
            Scheme::Calendar
        } else {
            Scheme::Semantic
        };
        match scheme {
            Scheme::Calendar => {
                if !(1..=12).contains(&parts.1) {
                    return Err(malformed(raw, &format!("{} is not a month", parts.1)));
                }
                if beta.is_some() || dev {
                    return Err(malformed(
                        raw,
                        "date-based versions have no .betaN or -dev; the latest branch writes -latest",
                    ));
                }
            }
            Scheme::Semantic => {
                if latest {
                    return Err(malformed(
                        raw,
                        "-latest belongs to the date-based versions (2026.3.0-latest); before November 2025 the tests-passed branch wrote X.Y.Z.betaN",
                    ));
                }
                if dev && beta.is_none() {
                    return Err(malformed(raw, "-dev only follows a .betaN tag"));
                }
            }
        }
        let v = DiscourseVersion {
            scheme,
            parts,
            beta,
            dev,
            latest,
        };
        v.check_known(raw)?;
        Ok(v)
    }

    fn check_known(&self, raw: &str) -> Result<(), Refusal> {
        let (a, b, c) = self.parts;
        let why = match self.scheme {
            Scheme::Semantic => {
                let line_ok = (a == 2 && b <= 9) || (a == 3 && b <= 5);
                // 3.6.0 betas: the tests-passed branch after 3.5.0 and
                // before the switch to date-based versions [inferred].
                let pre_ok =
                    self.beta.is_some() && c == 0 && ((a == 2 && b <= 9) || (a == 3 && b <= 6));
                if self.beta.is_some() && c != 0 {
                    Some("betas only precede an X.Y.0 release".to_string())
                } else if !(line_ok || pre_ok) {
                    Some(format!(
                        "there is no Discourse {a}.{b} (old-scheme releases run from 2.0 to 3.5, then date-based 2025.11)"
                    ))
                } else {
                    FINAL_PATCH
                        .iter()
                        .find(|(l, _)| *l == (a, b))
                        .filter(|(_, last)| c > *last)
                        .map(|(_, last)| format!("the last {a}.{b} release was {a}.{b}.{last}"))
                }
            }
            Scheme::Calendar => {
                let month = (a, b);
                let end = if self.latest {
                    next_month(CALENDAR_END)
                } else {
                    CALENDAR_END
                };
                if month < CALENDAR_START {
                    Some("date-based versions start with 2025.11.0 (November 2025)".to_string())
                } else if month > end {
                    Some(format!(
                        "this plugin knows releases up to {}.{} (its facts snapshot); a newer one needs a newer plugin",
                        end.0, end.1
                    ))
                } else {
                    None
                }
            }
        };
        match why {
            None => Ok(()),
            Some(why) => Err(refuse_with(
                RefusalKind::UnknownVersion,
                format!("{raw:?} is not a Discourse release this plugin knows: {why}"),
                nearest(&self.numeric(), &known()),
            )),
        }
    }

    pub fn numeric(&self) -> String {
        format!("{}.{}.{}", self.parts.0, self.parts.1, self.parts.2)
    }

    pub fn canonical(&self) -> String {
        let mut s = self.numeric();
        if let Some(b) = self.beta {
            s.push_str(&format!(".beta{b}"));
        }
        if self.dev {
            s.push_str("-dev");
        }
        if self.latest {
            s.push_str("-latest");
        }
        s
    }

    pub fn series(&self) -> String {
        format!("{}.{}", self.parts.0, self.parts.1)
    }

    pub fn is_prerelease(&self) -> bool {
        self.beta.is_some() || self.dev || self.latest
    }

    /// A development build (`-dev`, `-latest`) names no single commit.
    pub fn is_moving(&self) -> bool {
        self.dev || self.latest
    }

    /// Order within a release: `betaN-dev` < `betaN` < … < `-latest` <
    /// release (the latest branch builds towards the release it names).
    fn stage(&self) -> (u8, u64, u8) {
        match (self.beta, self.dev, self.latest) {
            (Some(n), true, _) => (0, n, 0),
            (Some(n), false, _) => (0, n, 1),
            (None, _, true) => (1, 0, 0),
            (None, _, false) => (2, 0, 0),
        }
    }

    pub fn cmp_release(&self, other: &DiscourseVersion) -> Ordering {
        self.parts
            .cmp(&other.parts)
            .then_with(|| self.stage().cmp(&other.stage()))
    }

    /// Whether a source lists this exact release (false for inferred ones).
    pub fn seen_in_source(&self) -> bool {
        match self.scheme {
            Scheme::Calendar => SEEN_CALENDAR.iter().any(|(m, last)| {
                *m == (self.parts.0, self.parts.1) && self.parts.2 <= *last && !self.latest
            }),
            Scheme::Semantic => FINAL_PATCH.iter().any(|(l, _)| {
                *l == (self.parts.0, self.parts.1) && self.beta.is_none() && !self.dev
            }),
        }
    }

    /// Months since year 0 of when this version's code was current,
    /// approximately: used for the "about a year" post-deploy migration
    /// window. Old-scheme dates are release months of each X.Y.0.
    pub fn month_index(&self) -> u64 {
        match self.scheme {
            Scheme::Calendar => {
                let m = self.parts.0 * 12 + self.parts.1 - 1;
                if self.latest { m.saturating_sub(1) } else { m }
            }
            Scheme::Semantic => {
                let released = line_month((self.parts.0, self.parts.1));
                // A beta is development towards X.Y.0, after the previous line.
                if self.beta.is_some() {
                    released.saturating_sub(3)
                } else {
                    released
                }
            }
        }
    }

    pub fn to_version(&self, raw: &str) -> Version {
        let what = match (self.scheme, self.beta, self.dev, self.latest) {
            (Scheme::Calendar, _, _, true) => format!(
                "Discourse {} (a build of the latest branch before the {} release)",
                self.canonical(),
                self.numeric()
            ),
            (Scheme::Calendar, ..) => format!("Discourse {}", self.canonical()),
            (Scheme::Semantic, Some(_), true, _) => {
                format!(
                    "Discourse {} (a tests-passed build before this beta)",
                    self.canonical()
                )
            }
            (Scheme::Semantic, ..) => format!("Discourse {}", self.canonical()),
        };
        Version {
            raw: raw.to_string(),
            canonical: self.canonical(),
            display: what,
            series: self.series(),
            prerelease: self.is_prerelease(),
        }
    }
}

fn next_month((y, m): (u64, u64)) -> (u64, u64) {
    if m == 12 { (y + 1, 1) } else { (y, m + 1) }
}

/// Approximate release month of each old-scheme X.Y.0 as a month index.
/// 3.4.0 (2025-02) and 3.5.0 (2025-08) are from endoflife.date; earlier
/// ones are the roughly half-yearly cadence [unverified], so the window
/// check says so in its caveat.
fn line_month(line: (u64, u64)) -> u64 {
    let (y, m) = match line {
        (3, 5) => (2025, 8),
        (3, 4) => (2025, 2),
        (3, 3) => (2024, 8),
        (3, 2) => (2024, 2),
        (3, 1) => (2023, 8),
        (3, 0) => (2023, 1),
        (3, 6) => (2025, 11),
        (2, minor) => (2018 + minor / 2, 1 + (minor % 2) * 6),
        _ => (2017, 1),
    };
    y * 12 + m - 1
}

/// Releases listed for suggestions, oldest first.
pub fn known() -> Vec<String> {
    let mut out = Vec::new();
    for minor in 0..=3u64 {
        out.push(format!("3.{minor}.0"));
    }
    for patch in 0..=7 {
        out.push(format!("3.4.{patch}"));
    }
    for patch in 0..=4 {
        out.push(format!("3.5.{patch}"));
    }
    let mut month = CALENDAR_START;
    while month <= CALENDAR_END {
        let last = SEEN_CALENDAR
            .iter()
            .find(|(m, _)| *m == month)
            .map_or(0, |(_, l)| *l);
        for patch in 0..=last {
            out.push(format!("{}.{}.{patch}", month.0, month.1));
        }
        month = next_month(month);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> DiscourseVersion {
        DiscourseVersion::parse(s).unwrap_or_else(|e| panic!("{s}: {}", e.message))
    }
    fn kind(s: &str) -> RefusalKind {
        DiscourseVersion::parse(s).unwrap_err().kind
    }

    #[test]
    fn reads_both_schemes() {
        assert_eq!(p("3.1.0.beta6").beta, Some(6));
        assert_eq!(p("v3.2.0.beta2-dev").canonical(), "3.2.0.beta2-dev");
        assert_eq!(p("v2026.3.0-latest").scheme, Scheme::Calendar);
        assert_eq!(p("2026.02.1").canonical(), "2026.2.1");
        assert_eq!(p("3.5.4").scheme, Scheme::Semantic);
    }

    #[test]
    fn orders_across_the_scheme_change() {
        let order = [
            "3.1.0.beta6",
            "3.1.0",
            "3.5.4",
            "3.6.0.beta1",
            "2025.11.0",
            "2026.2.0",
            "2026.3.0-latest",
            "2026.3.0",
            "2026.3.1",
        ];
        for w in order.windows(2) {
            assert_eq!(
                p(w[0]).cmp_release(&p(w[1])),
                Ordering::Less,
                "{} < {}",
                w[0],
                w[1]
            );
        }
        assert_eq!(
            p("3.2.0.beta2-dev").cmp_release(&p("3.2.0.beta2")),
            Ordering::Less
        );
    }

    #[test]
    fn refuses_what_discourse_never_wrote() {
        for bad in [
            "",
            "abc",
            "3.1",
            "3.1.0.0",
            "3.1.0.rc1",
            "3.1.0-beta6",
            "3.1.0-latest",
            "2026.13.0",
            "2026.3.0.beta1",
            "1.2.0+3.1.0",
        ] {
            assert!(matches!(kind(bad), RefusalKind::MalformedVersion), "{bad}");
        }
        for unknown in ["3.9.0", "3.5.9", "2024.6.0", "2027.1.0", "4.0.0", "1.9.0"] {
            assert!(
                matches!(kind(unknown), RefusalKind::UnknownVersion),
                "{unknown}"
            );
        }
        let e = DiscourseVersion::parse("3.5.9").unwrap_err();
        assert!(
            e.suggestions.contains(&"3.5.4".to_string()),
            "{:?}",
            e.suggestions
        );
    }
}
