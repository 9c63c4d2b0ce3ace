//! The Mastodon releases this plugin knows, one row per minor line.
//!
//! Only lines and last patch levels that a source names are listed: a
//! version outside them is refused as unknown with the nearest known ones,
//! so an operator's typo never turns into a plan for a release that does
//! not exist.

/// A minor release line and the newest patch release a source names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub major: u64,
    pub minor: u64,
    pub last_patch: u64,
}

const fn line(major: u64, minor: u64, last_patch: u64) -> Line {
    Line {
        major,
        minor,
        last_patch,
    }
}

/// Oldest first.
pub const LINES: &[Line] = &[
    // 3.0 to 4.2: endoflife-date/endoflife.date products/mastodon.md
    // (latest per cycle: 3.0.2, 3.1.5, 3.2.2, 3.3.3, 3.4.10, 3.5.19, 4.0.15,
    // 4.1.25, 4.2.27).
    line(3, 0, 2),
    line(3, 1, 5),
    line(3, 2, 2),
    line(3, 3, 3),
    line(3, 4, 10),
    line(3, 5, 19),
    line(4, 0, 15),
    line(4, 1, 25),
    line(4, 2, 27),
    // 4.3.21: mastodon/blog PR #90 ("trunk & tidbits for march", 2026-04)
    // lists 4.3.21; the 4.3 branch lost support on 2026-05-06. The facts
    // file only names 4.3.17 (a dependency source), not the last patch.
    line(4, 3, 21),
    // 4.4.27: glitch-soc v4.4.27 notes mirrored on newreleases (facts §1.2).
    line(4, 4, 27),
    // 4.5.20: sourceforge mirror of v4.5.20 (facts §1.2).
    line(4, 5, 20),
    // 4.6.7: merged into hometown-dev in hometown-fork/hometown#1415.
    line(4, 6, 7),
    // 4.7.4: newest release in the stored copies (facts, snapshot dates).
    line(4, 7, 4),
];

pub fn find(major: u64, minor: u64) -> Option<&'static Line> {
    LINES.iter().find(|l| l.major == major && l.minor == minor)
}

/// Every release `X.Y.Z` of every known line, oldest first.
pub fn known() -> Vec<String> {
    LINES
        .iter()
        .flat_map(|l| (0..=l.last_patch).map(move |p| format!("{}.{}.{}", l.major, l.minor, p)))
        .collect()
}

/// The lines whose `.0` release lies in `(from, to]`, i.e. the minor
/// releases an upgrade from `from` to `to` passes over or lands on.
pub fn lines_crossed(from: (u64, u64, u64), to: (u64, u64, u64)) -> Vec<Line> {
    LINES
        .iter()
        .copied()
        .filter(|l| (l.major, l.minor, 0) > from && (l.major, l.minor, 0) <= to)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_ordered_and_known_is_oldest_first() {
        for w in LINES.windows(2) {
            assert!((w[0].major, w[0].minor) < (w[1].major, w[1].minor));
        }
        let k = known();
        assert_eq!(k.first().map(String::as_str), Some("3.0.0"));
        assert_eq!(k.last().map(String::as_str), Some("4.7.4"));
        assert!(k.contains(&"4.2.17".to_string()));
    }

    #[test]
    fn crossed_lines_exclude_the_start_line() {
        let c = lines_crossed((4, 2, 10), (4, 5, 11));
        let ids: Vec<_> = c.iter().map(|l| (l.major, l.minor)).collect();
        assert_eq!(ids, vec![(4, 3), (4, 4), (4, 5)]);
        assert!(lines_crossed((4, 2, 10), (4, 2, 17)).is_empty());
    }
}
