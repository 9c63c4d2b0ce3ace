//! Turn a plugin or recipe command into the shell script run on a server:
//! the recipe's paths mapped onto the side's root, the side's extra PATH,
//! the user and working directory. In a plain-directory install every
//! service runs on the server itself; in a compose project a command for a
//! recipe service runs in that service's container, where the recipe's
//! paths are already right.

use migrate_remote::sh_quote;

use super::definition::Side as SideDef;
use super::layout::{Layout, service_name};
use super::plan::Cmd;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CommandError(pub String);

/// Replace the recipe's mount path with the root where it stands as a path
/// of its own (followed by `/`, a space, a quote or the end).
pub fn map_text(mount: Option<&str>, root: &str, text: &str) -> String {
    let Some(m) = mount else {
        return text.to_string();
    };
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(m) {
        let after = &rest[at + m.len()..];
        let boundary = after
            .chars()
            .next()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'));
        out.push_str(&rest[..at]);
        out.push_str(if boundary { root } else { m });
        rest = after;
    }
    out.push_str(rest);
    out
}

pub fn script(mount: Option<&str>, side: &SideDef, cmd: &Cmd) -> Result<String, CommandError> {
    if let Some((k, _)) = cmd.env.iter().find(|(_, v)| v.starts_with("secret:")) {
        // Resolving secrets needs a place to keep them that never reaches a
        // command line; not built yet, so refuse instead of leaking.
        return Err(CommandError(format!(
            "the command sets {k} from a secret reference, which this version cannot pass safely; run it by hand"
        )));
    }
    if let (Some(c), Some(svc)) = (Layout::of(side).project(), &cmd.service) {
        let argv: Vec<String> = cmd
            .argv
            .iter()
            .map(|a| sh_quote(side.databases.get(a).unwrap_or(a)))
            .collect();
        let user = cmd
            .user
            .as_ref()
            .or_else(|| side.service_users.get(svc))
            .map(String::as_str);
        return Ok(c.exec(
            service_name(side, svc),
            user,
            cmd.workdir.as_deref(),
            &cmd.env,
            &argv.join(" "),
        ));
    }
    let mut s = String::new();
    if let Some(w) = &cmd.workdir {
        s.push_str(&format!(
            "cd {} && ",
            sh_quote(&map_text(mount, &side.root, w))
        ));
    } else {
        s.push_str(&format!("cd {} && ", sh_quote(&side.root)));
    }
    let path = if side.path.is_empty() {
        "\"$PATH\"".to_string()
    } else {
        format!("{}:\"$PATH\"", sh_quote(&side.path.join(":")))
    };
    let service_user = cmd
        .service
        .as_ref()
        .and_then(|svc| side.service_users.get(svc));
    if let Some(u) = cmd.user.as_ref().or(service_user) {
        s.push_str(&format!("runuser -u {} -- ", sh_quote(u)));
    }
    s.push_str(&format!("env PATH={path}"));
    for (k, v) in &cmd.env {
        s.push_str(&format!(" {}", sh_quote(&format!("{k}={v}"))));
    }
    for a in &cmd.argv {
        let a = side.databases.get(a).unwrap_or(a);
        s.push(' ');
        s.push_str(&sh_quote(&map_text(mount, &side.root, a)));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_maps_only_as_a_whole_path() {
        let m = Some("/var/www/html");
        assert_eq!(
            map_text(m, "/srv/nc", "find /var/www/html/data -type f | wc -l"),
            "find /srv/nc/data -type f | wc -l"
        );
        assert_eq!(map_text(m, "/srv/nc", "/var/www/html2"), "/var/www/html2");
        assert_eq!(map_text(m, "/srv/nc", "/var/www/html"), "/srv/nc");
    }

    #[test]
    fn scripts_run_as_the_user_in_the_mapped_workdir() {
        let side = SideDef {
            host: "local".into(),
            root: "/srv/nc".into(),
            path: vec!["/opt/php/bin".into()],
            ..Default::default()
        };
        let cmd = Cmd {
            service: Some("app".into()),
            argv: vec!["php".into(), "occ".into(), "status".into()],
            env: vec![],
            user: Some("www-data".into()),
            workdir: Some("/var/www/html".into()),
        };
        let s = script(Some("/var/www/html"), &side, &cmd).unwrap();
        assert!(
            s.starts_with("cd /srv/nc && runuser -u www-data -- env PATH="),
            "{s}"
        );
        assert!(s.ends_with(" php occ status"), "{s}");

        // The same command in a compose project: in the app's container,
        // with the recipe's own paths.
        let compose = SideDef {
            compose: Some("/srv/nc".into()),
            compose_services: [("app".to_string(), "nextcloud".to_string())].into(),
            ..side
        };
        let s = script(Some("/var/www/html"), &compose, &cmd).unwrap();
        assert!(
            s.contains("exec -T -u www-data -w /var/www/html nextcloud php occ status;"),
            "{s}"
        );
    }
}
