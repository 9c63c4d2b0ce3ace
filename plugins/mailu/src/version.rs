//! Mailu versions: `1.9`, `1.9.3`, `2.0.22`, then `2024.06` / `2024.06.57`.
//!
//! Since 1.9 `X.Y` is a moving image tag and `X.Y.Z` a pinned one
//! (Mailu/Mailu docs/releases.rst, 1.9 section). From 2024.06 the scheme is
//! Year.Month.Minor "to make clear you can only go forward with upgrades"
//! (releases.rst, 2024.06 section).

use std::cmp::Ordering;

use migrate_plugin_sdk::prelude::*;

/// One release series.
#[derive(Debug)]
pub struct Series {
    pub major: u64,
    pub minor: u64,
    /// Newest pinned build of the series seen in a source, if any.
    pub last: Option<u64>,
}

impl Series {
    pub fn name(&self) -> String {
        fmt_series(self.major, self.minor)
    }
}

fn fmt_series(major: u64, minor: u64) -> String {
    if major >= 2000 {
        format!("{major}.{minor:02}")
    } else {
        format!("{major}.{minor}")
    }
}

/// The series this plugin has upgrade notes for, in upgrade order
/// (releases.rst has an "Upgrading" section for each). 2024.06.57 is the
/// newest tag in the Mailu snapshot (HEAD bbb1c206, 2026-07-26); no later
/// series exists there. Individual 1.8/1.9/2.0 builds are not listed in any
/// source read, so their patch numbers are not bounded.
pub static SERIES: &[Series] = &[
    Series {
        major: 1,
        minor: 8,
        last: None,
    },
    Series {
        major: 1,
        minor: 9,
        last: None,
    },
    Series {
        major: 2,
        minor: 0,
        last: None,
    },
    Series {
        major: 2024,
        minor: 6,
        last: Some(57),
    },
];

pub fn known() -> Vec<String> {
    let mut out = Vec::new();
    for s in SERIES {
        out.push(s.name());
        if let Some(last) = s.last {
            out.extend((0..=last).map(|p| format!("{}.{p}", s.name())));
        }
    }
    out
}

/// A parsed Mailu version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailuVersion {
    /// Index into `SERIES`.
    pub series: usize,
    /// `None` for the moving series tag (`2.0`, `2024.06`).
    pub patch: Option<u64>,
}

impl MailuVersion {
    pub fn series(&self) -> &'static Series {
        &SERIES[self.series]
    }
    pub fn canonical(&self) -> String {
        match self.patch {
            Some(p) => format!("{}.{p}", self.series().name()),
            None => self.series().name(),
        }
    }
    pub fn is_moving(&self) -> bool {
        self.patch.is_none()
    }
    /// Newer than the newest build a source lists.
    pub fn newer_than_known(&self) -> bool {
        matches!((self.patch, self.series().last), (Some(p), Some(l)) if p > l)
    }
    /// Series first; inside a series a moving tag is compared as the newest
    /// build (it is what `docker compose pull` fetches).
    pub fn cmp_release(&self, other: &MailuVersion) -> Ordering {
        self.series
            .cmp(&other.series)
            .then_with(|| match (self.patch, other.patch) {
                (Some(a), Some(b)) => a.cmp(&b),
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
            })
    }
    pub fn to_version(&self, raw: &str) -> Version {
        let display = match self.patch {
            Some(_) => format!("Mailu {}", self.canonical()),
            None => format!(
                "Mailu {} (moving tag: the newest {} build)",
                self.canonical(),
                self.canonical()
            ),
        };
        Version {
            raw: raw.to_string(),
            canonical: self.canonical(),
            display,
            series: self.series().name(),
            prerelease: false,
        }
    }
}

fn malformed(raw: &str, why: &str) -> Refusal {
    refuse(
        RefusalKind::MalformedVersion,
        format!("{raw:?} is not a Mailu version: {why}"),
    )
}

/// Moving or development image tags that name no release.
const MOVING: &[&str] = &["master", "latest", "stable", "main", "insecure", "dev"];

pub fn parse(raw: &str) -> Result<MailuVersion, Refusal> {
    let text = raw.trim();
    if MOVING.iter().any(|m| text.eq_ignore_ascii_case(m)) {
        return Err(malformed(
            raw,
            "it is a moving image tag, not a release; read the `version` label or /version of the running admin image, or pin MAILU_VERSION",
        ));
    }
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    if text.is_empty() {
        return Err(malformed(raw, "it is empty"));
    }
    // Recipe forms must fail here so the SDK splits them.
    if let Some(c) = text.chars().find(|c| matches!(c, '+' | '_' | '~')) {
        return Err(malformed(raw, &format!("Mailu versions contain no {c:?}")));
    }
    let (nums, pre) = match text.split_once('-') {
        Some((n, p)) => (n, Some(p)),
        None => (text, None),
    };
    let mut parts = Vec::new();
    for piece in nums.split('.') {
        if piece.is_empty() {
            return Err(malformed(raw, "it has an empty part between dots"));
        }
        if !piece.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed(raw, &format!("{piece:?} is not a number")));
        }
        parts.push(
            piece
                .parse::<u64>()
                .map_err(|_| malformed(raw, "a part is too large"))?,
        );
    }
    match parts.len() {
        2 | 3 => {}
        1 => {
            return Err(malformed(
                raw,
                "it needs at least a series like 2.0 or 2024.06 (or a pinned build like 2024.06.3)",
            ));
        }
        _ => return Err(malformed(raw, "it has more than three parts")),
    }
    let (major, minor) = (parts[0], parts[1]);
    if major >= 2000 && !(1..=12).contains(&minor) {
        return Err(malformed(
            raw,
            &format!("{minor} is not a month (Mailu writes Year.Month.Minor)"),
        ));
    }
    let unknown = |why: String| {
        let wanted = match parts.get(2) {
            Some(p) => format!("{major}.{minor}.{p}"),
            None => format!("{major}.{minor}"),
        };
        refuse_with(RefusalKind::UnknownVersion, why, nearest(&wanted, &known()))
    };
    if let Some(p) = pre {
        return Err(unknown(format!(
            "{raw:?} has a prerelease tag {p:?}, but Mailu publishes no prereleases; use a release tag"
        )));
    }
    let Some(series) = SERIES
        .iter()
        .position(|s| s.major == major && s.minor == minor)
    else {
        return Err(unknown(format!(
            "{raw:?} parses, but Mailu {} is not a release series this plugin knows (1.8, 1.9, 2.0, 2024.06)",
            fmt_series(major, minor)
        )));
    };
    Ok(MailuVersion {
        series,
        patch: parts.get(2).copied(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> MailuVersion {
        parse(s).unwrap_or_else(|e| panic!("{s}: {}", e.message))
    }
    fn kind(s: &str) -> RefusalKind {
        parse(s).map(|_| ()).unwrap_err().kind
    }

    #[test]
    fn reads_series_tags_and_pinned_builds() {
        assert_eq!(p("1.9").canonical(), "1.9");
        assert_eq!(p("2.0.22").canonical(), "2.0.22");
        assert_eq!(p("2024.06").canonical(), "2024.06");
        assert_eq!(p("2024.6.3").canonical(), "2024.06.3");
        assert_eq!(p("v2024.06.57").to_version("v2024.06.57").series, "2024.06");
        assert!(p("2024.06").is_moving());
    }

    #[test]
    fn refuses_garbage_and_moving_tags() {
        for bad in [
            "",
            "master",
            "latest",
            "2",
            "2024.13.1",
            "2024.06.1.1",
            "1..9",
            "2.0.x",
            "mailu",
            "1.0.0+2.0.1",
            "2.0.1_1",
        ] {
            assert!(matches!(kind(bad), RefusalKind::MalformedVersion), "{bad}");
        }
    }

    #[test]
    fn refuses_unknown_series_with_suggestions() {
        let e = parse("2025.01").unwrap_err();
        assert!(matches!(e.kind, RefusalKind::UnknownVersion));
        assert!(!e.suggestions.is_empty());
        assert!(matches!(kind("1.7"), RefusalKind::UnknownVersion));
        assert!(matches!(kind("2.1.0"), RefusalKind::UnknownVersion));
        assert!(matches!(kind("2024.06.3-rc1"), RefusalKind::UnknownVersion));
    }

    #[test]
    fn orders_series_then_builds() {
        assert_eq!(p("2.0.50").cmp_release(&p("2024.06.1")), Ordering::Less);
        assert_eq!(
            p("2024.06.3").cmp_release(&p("2024.06.1")),
            Ordering::Greater
        );
        assert_eq!(
            p("2024.06").cmp_release(&p("2024.06.57")),
            Ordering::Greater
        );
    }
}
