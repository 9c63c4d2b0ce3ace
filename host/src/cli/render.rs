//! How steps and actions look on a terminal and in `--json`.
//! Every command is shown as it would run, environment assignments,
//! user and directory included, so a line pasted into a shell does what
//! the step does. Values the contract marks as secret references
//! (`secret:NAME`) are shown as the reference, never resolved.

use serde_json::{Value, json};

use crate::plugin::{Action, Command, Step, phase_name, risk_name, side_name};

/// The contract's prefix for an environment value the host resolves.
const SECRET: &str = "secret:";

/// The secret an environment value refers to, if it is a reference.
pub fn secret_ref(value: &str) -> Option<&str> {
    value.strip_prefix(SECRET)
}

fn env_json(env: &[(String, String)]) -> Value {
    env.iter()
        .map(|(k, v)| match secret_ref(v) {
            Some(name) => json!({"name": k, "secret": name}),
            None => json!({"name": k, "value": v}),
        })
        .collect()
}

pub fn action_json(a: &Action) -> Value {
    match a {
        Action::Exec(c) => json!({
            "exec": {
                "side": side_name(c.side),
                "service": c.service,
                "argv": c.argv,
                "env": env_json(&c.env),
                "user": c.user,
                "workdir": c.workdir,
                "shell": command_line(c),
            }
        }),
        Action::Carry(c) => json!({
            "carry": {"file": c.file, "key": c.key, "reason": c.reason, "secret": c.secret}
        }),
        Action::Http(h) => json!({
            "http": {
                "path": h.path, "expect_status": h.expect_status,
                "body_contains": h.body_contains, "json_field": h.json_field,
            }
        }),
        Action::Tcp(t) => json!({
            "tcp": {"port": t.port, "banner_prefix": t.banner_prefix, "tls": t.tls}
        }),
        Action::Manual(m) => json!({"manual": m}),
    }
}

pub fn step_json(s: &Step) -> Value {
    json!({
        "id": s.id,
        "phase": phase_name(s.phase),
        "title": s.title,
        "risk": risk_name(s.risk),
        "action": action_json(&s.action),
    })
}

/// One line for a terminal: phase, title, and the command if there is one.
pub fn step_line(s: &Step) -> String {
    let detail = match &s.action {
        Action::Exec(c) => {
            let place = match &c.service {
                Some(svc) => format!("{} service {svc}", side_name(c.side)),
                None => side_name(c.side).to_string(),
            };
            format!("  $ {} (on {place})", command_line(c))
        }
        Action::Carry(c) => format!("  (carry {} from {})", c.key, c.file),
        Action::Http(h) => format!("  (GET {} → {})", h.path, h.expect_status),
        Action::Tcp(t) => format!("  (port {})", t.port),
        Action::Manual(_) => "  (by hand)".to_string(),
    };
    format!("[{}] {}{}", phase_name(s.phase), s.title, detail)
}

/// The command as a shell line: `cd DIR &&`, `runuser -u USER --`, then
/// `env K=V ...` before the argv. A secret reference is written as a
/// shell expansion of a variable named for the secret
/// (`K="$SECRET_DB_PASSWORD"`), so the line says where the value must come
/// from without holding it.
pub fn command_line(c: &Command) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut line = String::new();
    if let Some(w) = &c.workdir {
        line.push_str(&format!("cd {} && ", shell_words(std::slice::from_ref(w))));
    }
    if let Some(u) = &c.user {
        words.extend(["runuser".into(), "-u".into(), u.clone(), "--".into()]);
    }
    if !c.env.is_empty() {
        words.push("env".into());
    }
    line.push_str(&shell_words(&words));
    for (k, v) in &c.env {
        if !line.is_empty() && !line.ends_with(' ') {
            line.push(' ');
        }
        match secret_ref(v) {
            Some(name) => line.push_str(&format!(
                "{}=\"${}\"",
                shell_words(std::slice::from_ref(k)),
                secret_var(name)
            )),
            None => line.push_str(&shell_words(&[format!("{k}={v}")])),
        }
    }
    if !line.is_empty() && !line.ends_with(' ') {
        line.push(' ');
    }
    line.push_str(&shell_words(&c.argv));
    line
}

/// `db_password` → `SECRET_DB_PASSWORD`: a variable name the operator
/// sets from their own store before pasting the line.
fn secret_var(name: &str) -> String {
    let mut v = String::from("SECRET_");
    v.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    v
}

/// Quote argv for display so it can be pasted into a shell.
pub fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::Side;

    fn cmd(env: &[(&str, &str)]) -> Command {
        Command {
            side: Side::Destination,
            service: Some("web".into()),
            argv: vec![
                "bundle".into(),
                "exec".into(),
                "rails".into(),
                "db:migrate".into(),
            ],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            user: None,
            workdir: None,
        }
    }

    #[test]
    fn the_line_carries_every_environment_assignment() {
        let c = cmd(&[("SKIP_POST_DEPLOYMENT_MIGRATIONS", "true")]);
        assert_eq!(
            command_line(&c),
            "env SKIP_POST_DEPLOYMENT_MIGRATIONS=true bundle exec rails db:migrate"
        );
        assert_eq!(command_line(&cmd(&[])), "bundle exec rails db:migrate");
        let mut c = cmd(&[("A", "two words")]);
        c.user = Some("mastodon".into());
        c.workdir = Some("/srv/my app".into());
        assert_eq!(
            command_line(&c),
            "cd '/srv/my app' && runuser -u mastodon -- env 'A=two words' bundle exec rails db:migrate"
        );
    }

    #[test]
    fn secrets_are_references_in_the_line_and_in_json() {
        let c = cmd(&[("DB_PASS", "secret:db-password"), ("X", "1")]);
        let line = command_line(&c);
        assert!(
            line.starts_with(r#"env DB_PASS="$SECRET_DB_PASSWORD" X=1 "#),
            "{line}"
        );
        let v = action_json(&Action::Exec(c));
        assert_eq!(
            v["exec"]["env"],
            json!([{"name": "DB_PASS", "secret": "db-password"}, {"name": "X", "value": "1"}])
        );
        assert!(!v.to_string().contains("secret:db-password"), "{v}");
    }
}
