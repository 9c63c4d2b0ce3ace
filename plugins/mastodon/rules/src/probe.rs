//! Where a running Mastodon (or Hometown) says its version (facts §1.1, §5).

use migrate_plugin_sdk::prelude::*;

pub const INSTANCE: &str = "instance-api";
pub const IMAGE: &str = "web-image";
pub const RECIPE_LABEL: &str = migrate_plugin_sdk::coopcloud::LABEL_PROBE;

pub fn probes(ctx: &Context) -> Vec<Probe> {
    let own = vec![
        // `GET /api/v1/instance` → `version` (hometown#1335 used it).
        Probe {
            id: INSTANCE.to_string(),
            side: Side::Source,
            kind: ProbeKind::HttpJson(("/api/v1/instance".to_string(), "version".to_string())),
        },
        // ghcr.io/mastodon/mastodon:vX.Y.Z on the `web` service
        // (docker-compose.yml@004f3aa2).
        Probe {
            id: IMAGE.to_string(),
            side: Side::Source,
            kind: ProbeKind::ImageTag("web".to_string()),
        },
    ];
    // abra writes `coop-cloud.<STACK_NAME>.version` on the `app` service
    // (facts §5).
    migrate_plugin_sdk::coopcloud::with_label_probe(ctx, own)
}

/// Turn a probe's raw text into a version string for `parse`.
pub fn parse_probe(app: &str, probe_id: &str, raw: &str) -> Result<String, Refusal> {
    let text = raw.trim().trim_matches('"').trim();
    if text.is_empty() {
        return Err(refuse(
            RefusalKind::MalformedVersion,
            format!("probe {probe_id} returned nothing: is {app} running there?"),
        ));
    }
    match probe_id {
        IMAGE => image_tag(app, text),
        INSTANCE | RECIPE_LABEL => Ok(text.to_string()),
        other => Err(refuse(
            RefusalKind::Unsupported,
            format!("{app} has no probe named {other:?}"),
        )),
    }
}

/// `ghcr.io/mastodon/mastodon:v4.3.17` → `v4.3.17`; a bare tag passes.
fn image_tag(app: &str, reference: &str) -> Result<String, Refusal> {
    let tag = migrate_plugin_sdk::version::image_tag(reference).map_err(|why| {
        refuse(
            RefusalKind::MalformedVersion,
            format!("{why}; read the version from /api/v1/instance instead"),
        )
    })?;
    if !tag
        .trim_start_matches(['v', 'V'])
        .starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(refuse(
            RefusalKind::MalformedVersion,
            format!(
                "the image tag {tag:?} is a moving name, not a {app} version; read the version from /api/v1/instance instead"
            ),
        ));
    }
    Ok(tag.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_give_their_tag() {
        assert_eq!(
            parse_probe("Mastodon", IMAGE, "ghcr.io/mastodon/mastodon:v4.3.17").unwrap(),
            "v4.3.17"
        );
        assert_eq!(
            parse_probe("Mastodon", IMAGE, "registry:5000/m/mastodon:v4.2.1").unwrap(),
            "v4.2.1"
        );
        assert!(parse_probe("Mastodon", IMAGE, "ghcr.io/mastodon/mastodon:latest").is_err());
        assert!(parse_probe("Mastodon", IMAGE, "ghcr.io/mastodon/mastodon@sha256:abc").is_err());
        assert_eq!(
            parse_probe("Mastodon", INSTANCE, "\"4.5.11+hometown-1.2.1\"\n").unwrap(),
            "4.5.11+hometown-1.2.1"
        );
        assert!(parse_probe("Mastodon", INSTANCE, "  ").is_err());
    }
}
