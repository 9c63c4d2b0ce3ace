//! How steps and actions look on a terminal and in `--json`.
//! Secret values never reach this module: carried settings are named, not
//! shown.

use serde_json::{Value, json};

use crate::plugin::{Action, Step, phase_name, risk_name, side_name};

pub fn action_json(a: &Action) -> Value {
    match a {
        Action::Exec(c) => json!({
            "exec": {
                "side": side_name(c.side),
                "service": c.service,
                "argv": c.argv,
                // Only names: values may be secret references.
                "env": c.env.iter().map(|(k, _)| k).collect::<Vec<_>>(),
                "user": c.user,
                "workdir": c.workdir,
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
            format!("  $ {} (on {place})", shell_words(&c.argv))
        }
        Action::Carry(c) => format!("  (carry {} from {})", c.key, c.file),
        Action::Http(h) => format!("  (GET {} → {})", h.path, h.expect_status),
        Action::Tcp(t) => format!("  (port {})", t.port),
        Action::Manual(_) => "  (by hand)".to_string(),
    };
    format!("[{}] {}{}", phase_name(s.phase), s.title, detail)
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
