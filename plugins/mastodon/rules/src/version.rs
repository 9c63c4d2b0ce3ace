//! Mastodon version strings.
//!
//! `lib/mastodon/version.rb` builds `X.Y.Z[-prerelease][+build_metadata]`
//! (facts §1.1, hometown-fork/hometown:lib/mastodon/version.rb@23633720,
//! the same module as Mastodon's). Forks put their name in the build
//! metadata (`4.3.0-beta2+my-fork`, docs.joinmastodon.org/admin/upgrading),
//! and Mastodon's update check ignores everything after the first `+`.

use std::cmp::Ordering;

use migrate_plugin_sdk::prelude::*;

use crate::release;

/// A parsed Mastodon version. Build metadata is kept but never ordered on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MastodonVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// `beta.2` in `4.3.0-beta.2`, lower-cased.
    pub pre: Option<String>,
    /// Everything after the first `+`.
    pub build: Option<String>,
}

impl MastodonVersion {
    /// Parse the `X.Y.Z[-pre]` part only (no `v`, no `+`): the syntax,
    /// not whether the release exists.
    pub fn parse_core(raw: &str, main: &str) -> Result<MastodonVersion, Refusal> {
        let (nums, pre) = match main.split_once('-') {
            Some((n, p)) => (n, Some(p)),
            None => (main, None),
        };
        let pieces: Vec<&str> = nums.split('.').collect();
        if pieces.iter().any(|p| p.is_empty()) {
            return Err(malformed(raw, "it has an empty part between dots"));
        }
        if let Some(bad) = pieces
            .iter()
            .find(|p| !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(malformed(raw, &format!("{bad:?} is not a number")));
        }
        if pieces.len() != 3 {
            return Err(malformed(
                raw,
                &format!(
                    "Mastodon versions have exactly three numbers (X.Y.Z, e.g. 4.3.17), this one has {}",
                    pieces.len()
                ),
            ));
        }
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| malformed(raw, "a number is too large"))
        };
        let pre = match pre {
            None => None,
            Some(p) => Some(parse_pre(raw, p)?),
        };
        Ok(MastodonVersion {
            major: num(pieces[0])?,
            minor: num(pieces[1])?,
            patch: num(pieces[2])?,
            pre,
            build: None,
        })
    }

    /// Parse a Mastodon version string as an operator or a probe writes it.
    /// Refuses Hometown versions (their own plugin orders them) and build
    /// metadata that is itself a version, so a Co-op Cloud recipe version
    /// such as `2.0.1+v4.2.1` is split by the SDK instead of being read as
    /// Mastodon 2.0.1 built by "v4.2.1".
    pub fn parse(raw: &str) -> Result<MastodonVersion, Refusal> {
        let text = raw.trim();
        let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
        if text.is_empty() {
            return Err(malformed(raw, "it is empty"));
        }
        let (main, build) = match text.split_once('+') {
            Some((m, b)) => (m, Some(b)),
            None => (text, None),
        };
        if let Some(b) = build {
            if b.is_empty() || b.split('+').any(str::is_empty) {
                return Err(malformed(raw, "an empty build metadata part follows a `+`"));
            }
            if b.split('+').any(|p| p.starts_with("hometown-")) {
                return Err(refuse_with(
                    RefusalKind::UnknownVersion,
                    format!(
                        "{raw:?} is a Hometown version (Mastodon fork); ask the `hometown` plugin: `migrate upgrade-path hometown ...`"
                    ),
                    vec!["hometown".to_string()],
                ));
            }
            if Dotted::parse(b).is_ok_and(|d| d.parts.len() >= 2) {
                return Err(malformed(
                    raw,
                    &format!(
                        "its build metadata {b:?} is itself a version; a Co-op Cloud recipe version is written RECIPE+UPSTREAM with a plain X.Y.Z recipe part (e.g. 2.0.1+v4.2.1)"
                    ),
                ));
            }
        }
        let mut v = Self::parse_core(raw, main)?;
        v.build = build.map(str::to_string);
        v.check_known(raw)?;
        Ok(v)
    }

    /// Refuse versions that parse but are no release this plugin knows.
    pub fn check_known(&self, raw: &str) -> Result<(), Refusal> {
        let unknown = |why: String| {
            refuse_with(
                RefusalKind::UnknownVersion,
                format!("{raw:?} is not a Mastodon release this plugin knows: {why}"),
                nearest(&self.numeric(), &release::known()),
            )
        };
        let Some(line) = release::find(self.major, self.minor) else {
            return Err(unknown(format!(
                "there is no {}.{} line among the known ones (3.0 to 4.7)",
                self.major, self.minor
            )));
        };
        if self.patch > line.last_patch {
            return Err(unknown(format!(
                "the newest {}.{} release known is {}.{}.{}",
                line.major, line.minor, line.major, line.minor, line.last_patch
            )));
        }
        if self.pre.is_some() && self.patch != 0 {
            return Err(unknown(
                "Mastodon publishes prereleases only before an X.Y.0 release".to_string(),
            ));
        }
        Ok(())
    }

    pub fn triple(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch)
    }

    pub fn numeric(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.patch)
    }

    pub fn series(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// `X.Y.Z[-pre]`: what Mastodon orders by (build metadata dropped, as
    /// its own update check does).
    pub fn canonical(&self) -> String {
        match &self.pre {
            Some(p) => format!("{}-{p}", self.numeric()),
            None => self.numeric(),
        }
    }

    pub fn at_least(&self, major: u64, minor: u64, patch: u64) -> bool {
        self.cmp_release(&MastodonVersion {
            major,
            minor,
            patch,
            pre: None,
            build: None,
        }) != Ordering::Less
    }

    /// Release order; a prerelease sorts before its release.
    pub fn cmp_release(&self, other: &MastodonVersion) -> Ordering {
        self.triple()
            .cmp(&other.triple())
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => pre_key(a).cmp(&pre_key(b)),
            })
    }

    pub fn to_version(&self, raw: &str) -> Version {
        let mut display = format!("Mastodon {}", self.canonical());
        if let Some(b) = &self.build {
            display.push_str(&format!(" (build {b})"));
        }
        Version {
            raw: raw.to_string(),
            canonical: self.canonical(),
            display,
            series: self.series(),
            prerelease: self.pre.is_some(),
        }
    }
}

/// `alpha`, `beta`, `rc`, optionally numbered with or without a dot
/// (`beta1`, `beta.1`, `rc.2`): the forms Mastodon tags use.
fn parse_pre(raw: &str, pre: &str) -> Result<String, Refusal> {
    let lower = pre.to_ascii_lowercase();
    let word: String = lower
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect();
    let rest = lower[word.len()..]
        .strip_prefix('.')
        .unwrap_or(&lower[word.len()..]);
    let ok_word = matches!(word.as_str(), "alpha" | "beta" | "rc");
    if !ok_word || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(
            raw,
            &format!(
                "{pre:?} is not a Mastodon prerelease tag (alpha, beta or rc with an optional number)"
            ),
        ));
    }
    Ok(lower)
}

fn pre_key(p: &str) -> (u8, u64) {
    let word: String = p.chars().take_while(char::is_ascii_alphabetic).collect();
    let n = p
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(0);
    let rank = match word.as_str() {
        "alpha" => 0,
        "beta" => 1,
        _ => 2,
    };
    (rank, n)
}

pub fn malformed(raw: &str, why: &str) -> Refusal {
    refuse(
        RefusalKind::MalformedVersion,
        format!("{raw:?} is not a Mastodon version: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> MastodonVersion {
        MastodonVersion::parse(s).unwrap_or_else(|e| panic!("{s}: {}", e.message))
    }
    fn kind(s: &str) -> RefusalKind {
        MastodonVersion::parse(s).unwrap_err().kind
    }

    #[test]
    fn reads_the_forms_mastodon_writes() {
        assert_eq!(p("v4.3.17").canonical(), "4.3.17");
        assert_eq!(p(" 4.2.10 ").canonical(), "4.2.10");
        let fork = p("4.3.0-beta2+my-fork");
        assert_eq!(fork.canonical(), "4.3.0-beta2");
        assert_eq!(fork.build.as_deref(), Some("my-fork"));
        assert_eq!(p("v4.3.0-rc.1").pre.as_deref(), Some("rc.1"));
    }

    #[test]
    fn refuses_what_is_not_a_mastodon_release() {
        assert!(matches!(kind("4.2.1.1"), RefusalKind::MalformedVersion));
        assert!(matches!(kind("4.2"), RefusalKind::MalformedVersion));
        assert!(matches!(kind("banana"), RefusalKind::MalformedVersion));
        assert!(matches!(
            kind("4.3.0-nightly"),
            RefusalKind::MalformedVersion
        ));
        assert!(matches!(
            kind("2.0.1+v4.2.1"),
            RefusalKind::MalformedVersion
        ));
        assert!(matches!(
            kind("4.5.0+hometown-1.1.2"),
            RefusalKind::UnknownVersion
        ));
        assert!(matches!(kind("4.9.0"), RefusalKind::UnknownVersion));
        assert!(matches!(kind("4.2.99"), RefusalKind::UnknownVersion));
        assert!(matches!(kind("2024.6.1"), RefusalKind::UnknownVersion));
        assert!(matches!(kind("4.3.2-beta1"), RefusalKind::UnknownVersion));
    }

    #[test]
    fn suggests_nearest_known_releases() {
        let e = MastodonVersion::parse("4.2.99").unwrap_err();
        assert!(
            e.suggestions.contains(&"4.2.27".to_string()),
            "{:?}",
            e.suggestions
        );
    }

    #[test]
    fn orders_prereleases_first() {
        assert_eq!(p("4.3.0-beta.1").cmp_release(&p("4.3.0")), Ordering::Less);
        assert_eq!(
            p("4.3.0-beta.2").cmp_release(&p("4.3.0-rc.1")),
            Ordering::Less
        );
        assert_eq!(p("4.3.0+fork").cmp_release(&p("4.3.0")), Ordering::Equal);
        assert_eq!(p("4.2.27").cmp_release(&p("4.3.0-beta1")), Ordering::Less);
    }
}
