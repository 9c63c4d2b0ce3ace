//! Config values in the two formats the apps keep them in: PHP arrays
//! (`'key' => 'value',`, Nextcloud's config.php) and env files
//! (`KEY=value`, Mastodon's .env.production, Mailu's mailu.env).

/// A value of config.php (`'key' => 'value',`) or an env file (`KEY=value`).
pub fn config_get(text: &str, key: &str) -> Option<String> {
    let needle = format!("'{key}'");
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix(&needle) {
            let rest = rest.trim_start().strip_prefix("=>")?.trim_start();
            let rest = rest.strip_prefix('\'')?;
            return Some(rest[..rest.find('\'')?].to_string());
        }
        if let Some(v) = l.strip_prefix(&format!("{key}=")) {
            return Some(v.trim_matches('"').to_string());
        }
    }
    None
}

pub fn config_set(text: &str, key: &str, value: &str) -> Option<String> {
    let needle = format!("'{key}'");
    let mut found = false;
    let out: Vec<String> = text
        .lines()
        .map(|line| {
            let l = line.trim_start();
            let indent = &line[..line.len() - l.len()];
            if !found && l.starts_with(&needle) {
                found = true;
                format!(
                    "{indent}'{key}' => '{}',",
                    value.replace('\\', "\\\\").replace('\'', "\\'")
                )
            } else if !found && l.starts_with(&format!("{key}=")) {
                found = true;
                format!("{indent}{key}={value}")
            } else {
                line.to_string()
            }
        })
        .collect();
    found.then(|| {
        let mut s = out.join("\n");
        if text.ends_with('\n') {
            s.push('\n');
        }
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_are_read_and_replaced_in_both_formats() {
        let php = "<?php\n$CONFIG = array (\n  'instanceid' => 'oc123',\n  'secret' => 's3',\n);\n";
        assert_eq!(config_get(php, "instanceid").as_deref(), Some("oc123"));
        let new = config_set(php, "instanceid", "ocABC").unwrap();
        assert!(new.contains("  'instanceid' => 'ocABC',\n"), "{new}");
        assert!(new.contains("'secret' => 's3'"));
        let env = "LOCAL_DOMAIN=a.test\nSECRET_KEY_BASE=xyz\n";
        assert_eq!(config_get(env, "SECRET_KEY_BASE").as_deref(), Some("xyz"));
        assert_eq!(
            config_set(env, "SECRET_KEY_BASE", "q").unwrap(),
            "LOCAL_DOMAIN=a.test\nSECRET_KEY_BASE=q\n"
        );
        assert!(config_set(env, "NOPE", "x").is_none());
    }
}
