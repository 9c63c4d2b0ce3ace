//! Version strings as apps really write them: `v4.3.0`, `28.0.1.1`,
//! `3.1.0.beta6`, `4.3.0-beta2+my-fork`, `2024.06.3`.

use std::cmp::Ordering;
use std::fmt;

use crate::{Refusal, RefusalKind, Version, refuse};

/// A dotted numeric version with an optional prerelease tag and build
/// metadata. Numeric parts compare numerically with missing parts as 0;
/// a prerelease sorts before its release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dotted {
    pub parts: Vec<u64>,
    /// `beta6` in `3.1.0.beta6`, `beta2` in `4.3.0-beta2`, `rc.1` in `1.0.0-rc.1`.
    pub pre: Option<String>,
    /// Everything after the first `+`.
    pub build: Option<String>,
}

impl Dotted {
    /// Parse leniently: surrounding whitespace and a `v`/`V` prefix are
    /// accepted; at least one numeric part is required, at most six.
    pub fn parse(raw: &str) -> Result<Dotted, Refusal> {
        let text = raw.trim();
        let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
        if text.is_empty() {
            return Err(refuse(
                RefusalKind::MalformedVersion,
                format!("{raw:?} is not a version: it is empty"),
            ));
        }
        let (main, build) = match text.split_once('+') {
            Some((m, b)) if !b.is_empty() => (m, Some(b.to_string())),
            Some(_) => {
                return Err(malformed(raw, "nothing follows the `+`"));
            }
            None => (text, None),
        };
        let (nums, dash_pre) = match main.split_once('-') {
            Some((n, p)) if !p.is_empty() => (n, Some(p.to_string())),
            Some(_) => return Err(malformed(raw, "nothing follows the `-`")),
            None => (main, None),
        };
        let mut parts = Vec::new();
        let mut dotted_pre: Option<String> = None;
        for (i, piece) in nums.split('.').enumerate() {
            if piece.is_empty() {
                return Err(malformed(raw, "it has an empty part between dots"));
            }
            if piece.bytes().all(|b| b.is_ascii_digit()) {
                if dotted_pre.is_some() {
                    return Err(malformed(raw, "a number follows the prerelease tag"));
                }
                let n = piece
                    .parse::<u64>()
                    .map_err(|_| malformed(raw, "a part is too large"))?;
                parts.push(n);
            } else if i > 0 && dotted_pre.is_none() && is_pre_word(piece) {
                // `3.1.0.beta6`: a dotted prerelease, as Discourse writes it.
                dotted_pre = Some(piece.to_string());
            } else {
                return Err(malformed(raw, &format!("{piece:?} is not a number")));
            }
        }
        let pre = match (dotted_pre, dash_pre) {
            (Some(_), Some(_)) => return Err(malformed(raw, "it has two prerelease tags")),
            (a, b) => a.or(b),
        };
        if parts.is_empty() {
            return Err(malformed(raw, "it has no number"));
        }
        if parts.len() > 6 {
            return Err(malformed(raw, "it has more than six parts"));
        }
        Ok(Dotted { parts, pre, build })
    }

    pub fn major(&self) -> u64 {
        self.part(0)
    }
    pub fn minor(&self) -> u64 {
        self.part(1)
    }
    pub fn patch(&self) -> u64 {
        self.part(2)
    }
    pub fn part(&self, i: usize) -> u64 {
        self.parts.get(i).copied().unwrap_or(0)
    }

    /// The numeric parts joined with dots, without prerelease or build.
    pub fn numeric(&self) -> String {
        self.parts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".")
    }

    /// `major.minor`.
    pub fn series(&self) -> String {
        format!("{}.{}", self.major(), self.minor())
    }

    /// Compare ignoring build metadata.
    pub fn cmp_release(&self, other: &Dotted) -> Ordering {
        let n = self.parts.len().max(other.parts.len());
        for i in 0..n {
            match self.part(i).cmp(&other.part(i)) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        match (&self.pre, &other.pre) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => cmp_pre(a, b),
        }
    }
}

impl fmt::Display for Dotted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.numeric())?;
        if let Some(p) = &self.pre {
            write!(f, "-{p}")?;
        }
        if let Some(b) = &self.build {
            write!(f, "+{b}")?;
        }
        Ok(())
    }
}

/// Prerelease tags: alpha < beta < rc < anything else, then by number.
fn cmp_pre(a: &str, b: &str) -> Ordering {
    fn split(s: &str) -> (u8, String, u64) {
        let lower = s.to_ascii_lowercase();
        let word: String = lower
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let digits: String = lower.chars().filter(|c| c.is_ascii_digit()).collect();
        let rank = match word.as_str() {
            "dev" => 0,
            "alpha" | "a" => 1,
            "beta" | "b" => 2,
            "rc" => 3,
            _ => 4,
        };
        (rank, word, digits.parse().unwrap_or(0))
    }
    split(a).cmp(&split(b))
}

/// `beta6`, `rc1`, `alpha`, `dev`: a prerelease written as a dotted part.
fn is_pre_word(piece: &str) -> bool {
    let word: String = piece
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    let rest = &piece[word.len()..];
    matches!(
        word.to_ascii_lowercase().as_str(),
        "alpha" | "beta" | "rc" | "dev" | "pre"
    ) && rest.bytes().all(|b| b.is_ascii_digit())
}

fn malformed(raw: &str, why: &str) -> Refusal {
    refuse(
        RefusalKind::MalformedVersion,
        format!("{raw:?} is not a version: {why}"),
    )
}

/// A `Version` for apps with plain dotted versions.
pub fn simple_version(raw: &str) -> Result<Version, Refusal> {
    let d = Dotted::parse(raw)?;
    Ok(Version {
        raw: raw.to_string(),
        canonical: d.to_string(),
        display: d.to_string(),
        series: d.series(),
        prerelease: d.pre.is_some(),
    })
}

/// Up to three known versions closest to `wanted`, for "did you mean".
pub fn nearest(wanted: &str, known: &[String]) -> Vec<String> {
    let Ok(w) = Dotted::parse(wanted) else {
        return known.iter().rev().take(3).cloned().collect();
    };
    let score = |k: &Dotted| -> (u64, u64, u64) {
        (
            w.major().abs_diff(k.major()),
            w.minor().abs_diff(k.minor()),
            w.patch().abs_diff(k.patch()),
        )
    };
    let mut scored: Vec<((u64, u64, u64), &String)> = known
        .iter()
        .filter_map(|k| Dotted::parse(k).ok().map(|d| (score(&d), k)))
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, k)| k.clone()).collect()
}

/// The simplest upgrade rule: any newer version in one hop, never back.
/// Apps with history (one major per hop, release notes) write their own.
pub fn forward_only(
    req: &crate::UpgradeRequest,
    parse: impl Fn(&str) -> Result<Version, Refusal>,
) -> Result<crate::UpgradePlan, Refusal> {
    let from = parse(&req.from)?;
    let to = parse(&req.to)?;
    let (f, t) = (
        Dotted::parse(&from.canonical)?,
        Dotted::parse(&to.canonical)?,
    );
    let hops = match t.cmp_release(&f) {
        Ordering::Less => {
            return Err(refuse(
                RefusalKind::Downgrade,
                format!(
                    "{} is older than {}: downgrades are not supported; restore a backup of the old version instead",
                    to.display, from.display
                ),
            ));
        }
        Ordering::Equal => Vec::new(),
        Ordering::Greater => vec![crate::Hop {
            from: from.canonical.clone(),
            to: to.canonical.clone(),
            steps: Vec::new(),
            notes: Vec::new(),
        }],
    };
    Ok(crate::UpgradePlan {
        hops,
        preconditions: Vec::new(),
        caveats: Vec::new(),
    })
}

/// The tag of an image reference: `ghcr.io/mastodon/mastodon:v4.3.17` →
/// `v4.3.17`, `nextcloud:28.0.4-apache@sha256:…` → `28.0.4-apache`, a bare
/// tag passes. `Err` with the reason when the reference names no tag (only
/// a digest, or nothing after the repository).
pub fn image_tag(reference: &str) -> Result<&str, String> {
    let reference = reference.trim();
    let (named, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let last = named.rsplit('/').next().unwrap_or(named);
    match last.rsplit_once(':') {
        Some((_, tag)) if !tag.is_empty() => Ok(tag),
        _ if digest.is_some() => Err(format!(
            "the image {reference:?} is pinned by digest, which names no version"
        )),
        _ if named.contains('/') || named.contains(':') => {
            Err(format!("the image {reference:?} has no tag"))
        }
        _ => Ok(last),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dotted {
        Dotted::parse(s).unwrap()
    }

    #[test]
    fn parses_the_forms_apps_use() {
        assert_eq!(d("v4.3.0").parts, vec![4, 3, 0]);
        assert_eq!(d("28.0.1.1").parts, vec![28, 0, 1, 1]);
        assert_eq!(d("3.1.0.beta6").pre.as_deref(), Some("beta6"));
        let x = d("4.3.0-beta2+my-fork");
        assert_eq!(x.pre.as_deref(), Some("beta2"));
        assert_eq!(x.build.as_deref(), Some("my-fork"));
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            "",
            "v",
            "abc",
            "1..2",
            "1.x",
            "1.2-",
            "1.2+",
            "1.2.3.4.5.6.7",
        ] {
            let e = Dotted::parse(bad).unwrap_err();
            assert!(matches!(e.kind, RefusalKind::MalformedVersion), "{bad}");
        }
    }

    #[test]
    fn orders_prereleases_before_releases() {
        assert_eq!(d("3.1.0.beta6").cmp_release(&d("3.1.0")), Ordering::Less);
        assert_eq!(
            d("3.1.0.beta6").cmp_release(&d("3.1.0.beta10")),
            Ordering::Less
        );
        assert_eq!(
            d("1.0.0-rc1").cmp_release(&d("1.0.0-beta9")),
            Ordering::Greater
        );
        assert_eq!(d("28.0.1").cmp_release(&d("28.0.1.0")), Ordering::Equal);
        assert_eq!(d("28.0.1.1").cmp_release(&d("28.0.1")), Ordering::Greater);
    }

    #[test]
    fn image_tags() {
        assert_eq!(
            image_tag("ghcr.io/mastodon/mastodon:v4.3.17"),
            Ok("v4.3.17")
        );
        assert_eq!(
            image_tag("nextcloud:28.0.4-apache@sha256:ab"),
            Ok("28.0.4-apache")
        );
        assert_eq!(
            image_tag("localhost:5000/mailu/admin:2024.06"),
            Ok("2024.06")
        );
        assert_eq!(image_tag("2024.06"), Ok("2024.06"));
        assert!(image_tag("ghcr.io/mastodon/mastodon@sha256:ab").is_err());
        assert!(image_tag("ghcr.io/mastodon/mastodon").is_err());
    }

    #[test]
    fn suggests_nearest() {
        let known: Vec<String> = ["4.2.0", "4.3.0", "4.4.0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(nearest("4.3.9", &known)[0], "4.3.0");
    }
}
