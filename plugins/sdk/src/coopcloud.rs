//! Co-op Cloud recipe versions.
//!
//! Current scheme (packaging handbook): `X.Y.Z+UPSTREAM`, where `X.Y.Z` is
//! the recipe's own semver and `UPSTREAM` the app version it deploys, e.g.
//! `1.0.0+1.14.3`. Earlier schemes: `UPSTREAM_N` and before that
//! `UPSTREAM~N`, where `N` counts recipe revisions of one upstream version.

use std::cmp::Ordering;

use crate::version::Dotted;
use crate::{Context, Probe, ProbeKind, Side};

/// Probe id of [`label_probe`].
pub const LABEL_PROBE: &str = "coop-cloud-label";

/// The deployed recipe version: abra writes `coop-cloud.<STACK>.version` on
/// the stack's `app` service (facts/apps.md §5). Only a source that is a
/// Co-op Cloud stack, with its name in the context, has one.
pub fn label_probe(ctx: &Context) -> Option<Probe> {
    let stack = ctx.source.stack_name()?;
    Some(Probe {
        id: LABEL_PROBE.to_string(),
        side: Side::Source,
        kind: ProbeKind::DockerLabel(("app".to_string(), format!("coop-cloud.{stack}.version"))),
    })
}

/// `probes` with the recipe label first when the source is a Co-op Cloud
/// stack: the label is the version abra deployed and upgrades from
/// (`abra app upgrade`), so it is the one a plan starts from.
pub fn with_label_probe(ctx: &Context, mut probes: Vec<Probe>) -> Vec<Probe> {
    if let Some(label) = label_probe(ctx) {
        probes.insert(0, label);
    }
    probes
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `X.Y.Z+UPSTREAM`
    Current(semver::Version),
    /// `UPSTREAM_N` or `UPSTREAM~N`
    Legacy(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipeVersion {
    pub raw: String,
    pub scheme: Scheme,
    /// The app version the recipe deploys, exactly as written.
    pub upstream: String,
}

impl RecipeVersion {
    /// Split a recipe version. Returns `None` when the text is not in a
    /// recipe form; whether `upstream` is a valid app version is for the
    /// app's plugin to say.
    pub fn split(raw: &str) -> Option<RecipeVersion> {
        let text = raw.trim();
        if let Some((recipe, upstream)) = text.split_once('+') {
            // The recipe part is strict semver without a `v`; anything else
            // is an app's own `+metadata` (Mastodon forks, Hometown).
            if let Ok(v) = semver::Version::parse(recipe)
                && v.pre.is_empty()
                && !upstream.is_empty()
            {
                return Some(RecipeVersion {
                    raw: raw.to_string(),
                    scheme: Scheme::Current(v),
                    upstream: upstream.to_string(),
                });
            }
            return None;
        }
        let (upstream, rev) = text.rsplit_once(['_', '~'])?;
        let rev = rev.parse::<u64>().ok()?;
        if upstream.is_empty() {
            return None;
        }
        Some(RecipeVersion {
            raw: raw.to_string(),
            scheme: Scheme::Legacy(rev),
            upstream: upstream.to_string(),
        })
    }

    /// Order two recipe versions. Current-scheme versions order by the
    /// recipe semver; legacy ones by upstream, then revision; every legacy
    /// version predates every current one (the schemes followed each other).
    pub fn cmp_recipe(&self, other: &RecipeVersion) -> Ordering {
        match (&self.scheme, &other.scheme) {
            (Scheme::Current(a), Scheme::Current(b)) => a.cmp_precedence(b),
            (Scheme::Legacy(_), Scheme::Current(_)) => Ordering::Less,
            (Scheme::Current(_), Scheme::Legacy(_)) => Ordering::Greater,
            (Scheme::Legacy(ra), Scheme::Legacy(rb)) => {
                match (
                    Dotted::parse(&self.upstream),
                    Dotted::parse(&other.upstream),
                ) {
                    (Ok(a), Ok(b)) => a.cmp_release(&b).then(ra.cmp(rb)),
                    _ => self.upstream.cmp(&other.upstream).then(ra.cmp(rb)),
                }
            }
        }
    }

    pub fn recipe_part(&self) -> String {
        match &self.scheme {
            Scheme::Current(v) => v.to_string(),
            Scheme::Legacy(n) => format!("revision {n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> RecipeVersion {
        RecipeVersion::split(s).unwrap()
    }

    #[test]
    fn the_label_names_the_stack_of_the_context() {
        let ctx = crate::testing::context("cloud.example.net")
            .source_stack("cloud_example_net", "/var/www/html")
            .build();
        let probes = with_label_probe(&ctx, vec![]);
        assert_eq!(probes.len(), 1);
        assert!(
            matches!(&probes[0].kind, ProbeKind::DockerLabel((service, label))
                if service == "app" && label == "coop-cloud.cloud_example_net.version"),
            "{:?}",
            probes[0]
        );
        // A plain install has no stack and so no label to read.
        let plain = crate::testing::context("cloud.example.net").build();
        assert!(label_probe(&plain).is_none());
    }

    #[test]
    fn splits_the_three_schemes() {
        assert_eq!(r("1.0.0+1.14.3").upstream, "1.14.3");
        assert_eq!(r("2.0.1+v4.2.1").upstream, "v4.2.1");
        assert_eq!(r("1.13.4_1").scheme, Scheme::Legacy(1));
        assert_eq!(r("1.13.4~2").upstream, "1.13.4");
        assert!(RecipeVersion::split("v1.0.5+3.2.0").is_none());
        assert!(RecipeVersion::split("4.3.0").is_none());
    }

    #[test]
    fn orders_by_semver_of_the_recipe_part() {
        assert_eq!(
            r("1.1.0+1.15").cmp_recipe(&r("1.0.0+1.14.3")),
            Ordering::Greater
        );
        assert_eq!(
            r("1.10.0+1.20").cmp_recipe(&r("1.9.0+1.21")),
            Ordering::Greater
        );
        assert_eq!(r("1.13.4_1").cmp_recipe(&r("1.13.4_2")), Ordering::Less);
        assert_eq!(r("1.13.4_9").cmp_recipe(&r("0.1.0+1.13.4")), Ordering::Less);
    }
}
