//! Nextcloud version strings and the release table.
//!
//! Forms seen in the wild (facts/apps.md §2.1):
//! - `status.php` `version` and `config.php` `version`: 4 parts, the 4th an
//!   internal patch level ("not the public version number", version.php).
//! - `status.php` `versionstring` / `$OC_VersionString`: 3 parts, with
//!   prereleases written `28.0.0 beta 1`, `12.0.10 RC 1`, `32.0.0 dev`.

use std::cmp::Ordering;

use migrate_plugin_sdk::prelude::*;

/// Where a rule of the release table comes from; inferred rules are named
/// in the plan's caveats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Src {
    /// Read in a source (cited next to the row).
    Read,
    /// Inferred from the pattern of the rows that were read.
    Inferred,
}

/// One `major.minor` release series.
#[derive(Debug)]
pub struct Series {
    pub major: u64,
    pub minor: u64,
    /// Newest patch release of the series this plugin knows.
    pub last: u64,
    /// The series is end-of-life and `last` is its final patch: a higher
    /// patch is no release. Otherwise newer patches may exist.
    pub closed: bool,
    /// `$OC_VersionCanBeUpgradedFrom['nextcloud']` of this series: the
    /// installed `major.minor` values `occ upgrade` accepts.
    pub accepts: &'static [(u64, u64)],
    pub accepts_src: Src,
    /// PHP versions the series supports.
    pub php: &'static [&'static str],
}

impl Series {
    pub fn name(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
    pub fn latest(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.last)
    }
    pub fn accepts_series(&self, major: u64, minor: u64) -> bool {
        self.accepts.contains(&(major, minor))
    }
}

// PHP lists: nextcloud/server wiki "Releases and PHP versions" (edited
// 2026-09-01, stored page github.com/nextcloud/server/wiki/Releases-and-PHP-versions).
const PHP_20: &[&str] = &["7.2", "7.3", "7.4"];
const PHP_21_23: &[&str] = &["7.3", "7.4", "8.0"];
const PHP_24_25: &[&str] = &["7.4", "8.0", "8.1"];
const PHP_26_27: &[&str] = &["8.0", "8.1", "8.2"];
const PHP_28_29: &[&str] = &["8.0", "8.1", "8.2", "8.3"];
const PHP_30: &[&str] = &["8.1", "8.2", "8.3"];
const PHP_31_32: &[&str] = &["8.1", "8.2", "8.3", "8.4"];
const PHP_33_34: &[&str] = &["8.2", "8.3", "8.4", "8.5"];

/// The release table, oldest first.
///
/// `accepts`: read for 23.0 (`['22.2','23.0']`, the shipped 23.0.0
/// version.php quoted in a blog post, find_string id 45311766244; this
/// corrects facts/apps.md §2.2, which inferred "N-1.0, N.0" for 20..27: the
/// list names the previous major's LAST minor, so 22.0/22.1 must go to 22.2
/// first), 28.0 (`27.0, 27.1, 28.0`, version.php of 28.0.0 beta 1), 31.0 and
/// 32.0 (nextcloud/server version.php @00361cdf and the 32.0.0-dev copy).
/// The rest follow that pattern and are marked inferred. Minor series that
/// follow a .0 (22.1, 22.2, 27.1) are given only their own major's earlier
/// minors: whether 27.1 also accepts 26.0 is unverified (facts §2.2), so the
/// plan goes through 27.0, which is legal either way.
///
/// `last`: 29.0.16 read in nextcloud/docker versions.json @0043e856; 32.0.15,
/// 33.0.9 and 34.0.4 read in the stored nextcloud/docker master versions.json;
/// 31.0.12 read in version.php (facts §2.2); 30.0.10 read in versions.json
/// @0043e856 (the series went on after). The final patches of 20..28 are
/// from the release history as remembered, not re-read [unverified]; a
/// closed series refuses higher patches as unknown releases.
pub static SERIES: &[Series] = &[
    s(20, 0, 14, true, &[(19, 0), (20, 0)], Src::Inferred, PHP_20),
    s(
        21,
        0,
        9,
        true,
        &[(20, 0), (21, 0)],
        Src::Inferred,
        PHP_21_23,
    ),
    s(
        22,
        0,
        0,
        false,
        &[(21, 0), (22, 0)],
        Src::Inferred,
        PHP_21_23,
    ),
    s(
        22,
        1,
        1,
        false,
        &[(22, 0), (22, 1)],
        Src::Inferred,
        PHP_21_23,
    ),
    s(
        22,
        2,
        10,
        true,
        &[(22, 0), (22, 1), (22, 2)],
        Src::Inferred,
        PHP_21_23,
    ),
    s(23, 0, 12, true, &[(22, 2), (23, 0)], Src::Read, PHP_21_23),
    s(
        24,
        0,
        12,
        true,
        &[(23, 0), (24, 0)],
        Src::Inferred,
        PHP_24_25,
    ),
    s(
        25,
        0,
        13,
        true,
        &[(24, 0), (25, 0)],
        Src::Inferred,
        PHP_24_25,
    ),
    s(
        26,
        0,
        13,
        true,
        &[(25, 0), (26, 0)],
        Src::Inferred,
        PHP_26_27,
    ),
    s(
        27,
        0,
        2,
        true,
        &[(26, 0), (27, 0)],
        Src::Inferred,
        PHP_26_27,
    ),
    s(
        27,
        1,
        11,
        true,
        &[(27, 0), (27, 1)],
        Src::Inferred,
        PHP_26_27,
    ),
    s(
        28,
        0,
        14,
        true,
        &[(27, 0), (27, 1), (28, 0)],
        Src::Read,
        PHP_28_29,
    ),
    s(
        29,
        0,
        16,
        true,
        &[(28, 0), (29, 0)],
        Src::Inferred,
        PHP_28_29,
    ),
    s(30, 0, 10, false, &[(29, 0), (30, 0)], Src::Inferred, PHP_30),
    s(31, 0, 12, false, &[(30, 0), (31, 0)], Src::Read, PHP_31_32),
    s(32, 0, 15, false, &[(31, 0), (32, 0)], Src::Read, PHP_31_32),
    s(
        33,
        0,
        9,
        false,
        &[(32, 0), (33, 0)],
        Src::Inferred,
        PHP_33_34,
    ),
    s(
        34,
        0,
        4,
        false,
        &[(33, 0), (34, 0)],
        Src::Inferred,
        PHP_33_34,
    ),
];

const fn s(
    major: u64,
    minor: u64,
    last: u64,
    closed: bool,
    accepts: &'static [(u64, u64)],
    accepts_src: Src,
    php: &'static [&'static str],
) -> Series {
    Series {
        major,
        minor,
        last,
        closed,
        accepts,
        accepts_src,
        php,
    }
}

pub fn series(major: u64, minor: u64) -> Option<&'static Series> {
    SERIES.iter().find(|s| s.major == major && s.minor == minor)
}

/// Every release the plugin knows, oldest first.
pub fn known() -> Vec<String> {
    SERIES
        .iter()
        .flat_map(|s| (0..=s.last).map(move |p| format!("{}.{}.{}", s.major, s.minor, p)))
        .collect()
}

/// A parsed Nextcloud version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NcVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// The internal patch level (4th part), when the source gave one.
    pub level: Option<u64>,
    /// `beta1`, `rc1`, `dev`.
    pub pre: Option<String>,
}

impl NcVersion {
    pub fn series(&self) -> &'static Series {
        // Only constructed through `parse`, which refuses unknown series.
        series(self.major, self.minor).unwrap_or(&SERIES[SERIES.len() - 1])
    }

    pub fn canonical(&self) -> String {
        let mut out = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if let Some(l) = self.level {
            out.push_str(&format!(".{l}"));
        }
        if let Some(p) = &self.pre {
            out.push_str(&format!("-{p}"));
        }
        out
    }

    /// Order two versions. A 3-part and a 4-part version of the same
    /// release compare equal: the public string does not say which patch
    /// level it was built with.
    pub fn cmp_release(&self, other: &NcVersion) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => pre_rank(a).cmp(&pre_rank(b)),
            })
            .then_with(|| match (self.level, other.level) {
                (Some(a), Some(b)) => a.cmp(&b),
                _ => Ordering::Equal,
            })
    }

    /// Equal by `cmp_release` only because one side lacks the patch level.
    pub fn level_unknown_vs(&self, other: &NcVersion) -> bool {
        self.cmp_release(other) == Ordering::Equal && self.level.is_some() != other.level.is_some()
    }

    /// Beyond the newest patch of a series that may still get patches.
    pub fn newer_than_known(&self) -> bool {
        let s = self.series();
        !s.closed && self.patch > s.last
    }

    pub fn to_version(&self, raw: &str) -> Version {
        let mut display = format!("Nextcloud {}.{}.{}", self.major, self.minor, self.patch);
        if let Some(p) = &self.pre {
            display.push_str(&format!(" {p}"));
        }
        if let Some(l) = self.level {
            display.push_str(&format!(" (patch level {l})"));
        }
        Version {
            raw: raw.to_string(),
            canonical: self.canonical(),
            display,
            series: format!("{}.{}", self.major, self.minor),
            prerelease: self.pre.is_some(),
        }
    }
}

fn pre_rank(p: &str) -> (u8, u64) {
    let word: String = p.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    let n = p[word.len()..].parse().unwrap_or(0);
    let rank = match word.as_str() {
        "dev" => 0,
        "alpha" => 1,
        "beta" => 2,
        "rc" => 3,
        _ => 4,
    };
    (rank, n)
}

fn malformed(raw: &str, why: &str) -> Refusal {
    refuse(
        RefusalKind::MalformedVersion,
        format!("{raw:?} is not a Nextcloud version: {why}"),
    )
}

/// `beta 1`, `RC1`, `-rc.2`, `dev` → `beta1`, `rc1`, `rc2`, `dev`.
fn normalise_pre(raw: &str, text: &str) -> Result<String, Refusal> {
    let squashed: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.'))
        .collect::<String>()
        .to_ascii_lowercase();
    let word: String = squashed
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    let digits = &squashed[word.len()..];
    let known_word = matches!(word.as_str(), "alpha" | "beta" | "rc" | "dev");
    if !known_word || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(
            raw,
            &format!(
                "{text:?} is not a prerelease tag (Nextcloud writes `beta 1`, `RC 1` or `dev`)"
            ),
        ));
    }
    Ok(squashed)
}

/// Parse without checking the release table.
pub fn parse_form(raw: &str) -> Result<NcVersion, Refusal> {
    let text = raw.trim();
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    if text.is_empty() {
        return Err(malformed(raw, "it is empty"));
    }
    // Recipe forms (`5.0.0+28.0.4`, `28.0.4_1`, `28.0.4~1`) must fail here so
    // the SDK splits them; Nextcloud itself never writes these characters.
    if let Some(c) = text.chars().find(|c| matches!(c, '+' | '_' | '~')) {
        return Err(malformed(
            raw,
            &format!(
                "Nextcloud versions contain no {c:?} (a Co-op Cloud recipe version needs a known app version after it)"
            ),
        ));
    }
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (nums, rest) = text.split_at(end);
    let nums = nums.trim_end_matches('.');
    let rest = if nums.len() < end {
        &text[nums.len()..]
    } else {
        rest
    };
    if nums.is_empty() {
        return Err(malformed(raw, "it does not start with a number"));
    }
    let mut parts = Vec::new();
    for piece in nums.split('.') {
        if piece.is_empty() {
            return Err(malformed(raw, "it has an empty part between dots"));
        }
        parts.push(
            piece
                .parse::<u64>()
                .map_err(|_| malformed(raw, "a part is too large"))?,
        );
    }
    if parts.len() < 3 {
        return Err(malformed(
            raw,
            "it needs major.minor.patch like 28.0.4 (status.php's versionstring) or the 4-part form like 28.0.4.1",
        ));
    }
    if parts.len() > 4 {
        return Err(malformed(
            raw,
            "it has more than four parts (Nextcloud uses major.minor.patch and an optional internal patch level)",
        ));
    }
    let pre = if rest.trim().is_empty() {
        None
    } else {
        Some(normalise_pre(raw, rest)?)
    };
    Ok(NcVersion {
        major: parts[0],
        minor: parts[1],
        patch: parts[2],
        level: parts.get(3).copied(),
        pre,
    })
}

/// Parse and require a release this plugin knows.
pub fn parse(raw: &str) -> Result<NcVersion, Refusal> {
    let v = parse_form(raw)?;
    let unknown = |why: String| {
        refuse_with(
            RefusalKind::UnknownVersion,
            why,
            nearest(&format!("{}.{}.{}", v.major, v.minor, v.patch), &known()),
        )
    };
    let Some(s) = series(v.major, v.minor) else {
        let first = &SERIES[0];
        let last = &SERIES[SERIES.len() - 1];
        return Err(unknown(format!(
            "{raw:?} parses, but Nextcloud {}.{} is not a release series this plugin knows ({} to {})",
            v.major,
            v.minor,
            first.name(),
            last.name()
        )));
    };
    if s.closed && v.patch > s.last {
        return Err(unknown(format!(
            "{raw:?} parses, but Nextcloud {} ended with {}: there is no {}.{}.{}",
            s.name(),
            s.latest(),
            v.major,
            v.minor,
            v.patch
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> NcVersion {
        parse(s).unwrap_or_else(|e| panic!("{s}: {}", e.message))
    }
    fn kind(s: &str) -> RefusalKind {
        parse(s).map(|_| ()).unwrap_err().kind
    }

    #[test]
    fn reads_every_form_nextcloud_prints() {
        assert_eq!(p("28.0.4").canonical(), "28.0.4");
        assert_eq!(p("v28.0.4").canonical(), "28.0.4");
        assert_eq!(p("31.0.3.2").level, Some(2));
        assert_eq!(p("28.0.0 beta 1").pre.as_deref(), Some("beta1"));
        assert_eq!(p("28.0.0 RC1").canonical(), "28.0.0-rc1");
        assert_eq!(p("28.0.0-rc.2").pre.as_deref(), Some("rc2"));
        assert_eq!(p("32.0.0 dev").pre.as_deref(), Some("dev"));
        assert_eq!(p(" 27.1.4 ").to_version(" 27.1.4 ").series, "27.1");
    }

    #[test]
    fn refuses_garbage_and_recipe_forms_as_malformed() {
        for bad in [
            "",
            "v",
            "abc",
            "28",
            "28.0",
            "28.0.1.2.3",
            "28..1",
            "28.0.x",
            "28.0.0 gamma",
            "5.0.0+28.0.4",
            "28.0.4_1",
            "28.0.4~1",
        ] {
            assert!(matches!(kind(bad), RefusalKind::MalformedVersion), "{bad}");
        }
    }

    #[test]
    fn refuses_unknown_releases_with_suggestions() {
        let e = parse("27.2.0").unwrap_err();
        assert!(matches!(e.kind, RefusalKind::UnknownVersion));
        assert!(
            e.suggestions.iter().any(|s| s.starts_with("27.")),
            "{:?}",
            e.suggestions
        );
        assert!(matches!(kind("2024.06.1"), RefusalKind::UnknownVersion));
        assert!(matches!(kind("19.0.3"), RefusalKind::UnknownVersion));
        assert!(matches!(kind("28.0.15"), RefusalKind::UnknownVersion));
        // 32 is still patched: a newer patch parses.
        assert!(parse("32.0.20").is_ok());
    }

    #[test]
    fn orders_patch_levels_and_prereleases() {
        assert_eq!(p("28.0.1.2").cmp_release(&p("28.0.1.1")), Ordering::Greater);
        assert_eq!(p("28.0.1").cmp_release(&p("28.0.1.1")), Ordering::Equal);
        assert!(p("28.0.1").level_unknown_vs(&p("28.0.1.1")));
        assert_eq!(p("28.0.0 beta 1").cmp_release(&p("28.0.0")), Ordering::Less);
        assert_eq!(
            p("28.0.0 RC 1").cmp_release(&p("28.0.0 beta 3")),
            Ordering::Greater
        );
    }

    #[test]
    fn table_is_ordered_and_every_series_can_be_entered() {
        for w in SERIES.windows(2) {
            assert!((w[0].major, w[0].minor) < (w[1].major, w[1].minor));
        }
        for s in &SERIES[1..] {
            assert!(
                s.accepts
                    .iter()
                    .any(|&(ma, mi)| (ma, mi) < (s.major, s.minor))
            );
        }
    }
}
