//! Where a running Discourse says its version (facts §3.1, §5).

use migrate_plugin_sdk::prelude::*;

pub const ABOUT: &str = "about-json";
pub const APP_YML: &str = "app-yml-version";
pub const RECIPE_LABEL: &str = migrate_plugin_sdk::coopcloud::LABEL_PROBE;

pub fn probes(ctx: &Context) -> Vec<Probe> {
    let own = vec![
        // AboutSerializer's `version` attribute.
        Probe {
            id: ABOUT.to_string(),
            side: Side::Source,
            kind: ProbeKind::HttpJson(("/about.json".to_string(), "about.version".to_string())),
        },
        // `params: version:` in containers/app.yml (samples/standalone.yml):
        // often a channel (tests-passed, latest), then only about.json says.
        Probe {
            id: APP_YML.to_string(),
            side: Side::Source,
            kind: ProbeKind::FilePattern((
                "/var/discourse/containers/app.yml".to_string(),
                r#"(?m)^\s*version:\s*["']?([^"'\s#]+)"#.to_string(),
            )),
        },
    ];
    migrate_plugin_sdk::coopcloud::with_label_probe(ctx, own)
}

pub fn parse_probe(probe_id: &str, raw: &str) -> Result<String, Refusal> {
    let text = raw.trim().trim_matches(['"', '\'']).trim();
    if text.is_empty() {
        return Err(refuse(
            RefusalKind::MalformedVersion,
            format!("probe {probe_id} returned nothing: is Discourse running there?"),
        ));
    }
    match probe_id {
        ABOUT | RECIPE_LABEL => Ok(text.to_string()),
        APP_YML => {
            if !text
                .trim_start_matches(['v', 'V'])
                .starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(refuse(
                    RefusalKind::MalformedVersion,
                    format!(
                        "containers/app.yml follows {text:?}, a branch or channel, not a version; read /about.json for the running version"
                    ),
                ));
            }
            Ok(text.to_string())
        }
        other => Err(refuse(
            RefusalKind::Unsupported,
            format!("Discourse has no probe named {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_not_versions() {
        assert!(parse_probe(APP_YML, "tests-passed").is_err());
        assert!(parse_probe(APP_YML, "release/v2026.02").is_err());
        assert_eq!(parse_probe(APP_YML, "'v3.2.1'").unwrap(), "v3.2.1");
        assert_eq!(
            parse_probe(ABOUT, "2026.3.0-latest").unwrap(),
            "2026.3.0-latest"
        );
    }
}
