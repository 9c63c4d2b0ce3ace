//! Swarm secrets carried from one Co-op Cloud stack to another. abra keeps
//! secrets in the swarm store, write-only: no command exports them, and a
//! move needs them under the same (versioned) names before the stack can be
//! deployed on the new server. Here each secret is read where the source's
//! own containers see it (/run/secrets/<target>) and created in the
//! destination swarm from stdin; values pass through this process's memory
//! only, and the journal keeps names.

use migrate_remote::sh_quote;
use serde_json::{Value, json};

use super::sides::Sides;
use crate::plugin::Side;

/// One secret a stack's service mounts.
#[derive(Debug, Clone, PartialEq)]
pub struct Mounted {
    pub name: String,
    /// Where the service's containers see it.
    pub path: String,
    pub service: String,
}

/// `docker service inspect` lines: `SECRET TARGET SERVICE`.
pub fn parse_mounts(out: &str) -> Vec<Mounted> {
    let mut v: Vec<Mounted> = out
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (name, target, service) = (w.next()?, w.next()?, w.next()?);
            let path = if target.starts_with('/') {
                target.to_string()
            } else {
                format!("/run/secrets/{target}")
            };
            Some(Mounted {
                name: name.into(),
                path,
                service: service.into(),
            })
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// The destination's name for a secret: the stack prefix swapped when the
/// stacks' names differ (abra names secrets `<stack>_<name>_<version>`).
pub fn renamed(name: &str, from: &str, to: &str) -> String {
    match name.strip_prefix(&format!("{from}_")) {
        Some(rest) if from != to => format!("{to}_{rest}"),
        _ => name.to_string(),
    }
}

pub fn carry(sides: &Sides, from: &str, to: &str) -> Result<(String, Value), String> {
    let list = format!(
        "for s in $(docker service ls -q --filter label=com.docker.stack.namespace={f}); do docker service inspect -f '{{{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}}}{{{{.SecretName}}}} {{{{.File.Name}}}} {{{{$.Spec.Name}}}}{{{{println}}}}{{{{end}}}}' \"$s\" || exit 1; done",
        f = sh_quote(from)
    );
    let mounts = parse_mounts(
        &sides
            .sh(Side::Source, "listing the stack's secrets", &list)
            .map_err(|e| e.to_string())?,
    );
    let mut created = Vec::new();
    let mut present = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for m in &mounts {
        if !seen.insert(m.name.clone()) {
            continue;
        }
        let target = renamed(&m.name, from, to);
        let exists = sides
            .sh_status(
                Side::Destination,
                "looking for a secret",
                &format!(
                    "docker secret inspect {} >/dev/null 2>&1",
                    sh_quote(&target)
                ),
            )
            .map_err(|e| e.to_string())?
            .0
            == 0;
        if exists {
            // Swarm secrets are immutable; one already there is the one the
            // destination's stack will use.
            present.push(target);
            continue;
        }
        let read = format!(
            "c=$(docker ps -q --filter label=com.docker.swarm.service.name={s} | head -n 1); [ -n \"$c\" ] || {{ echo 'no running container of {s} to read {n} in: start the source app' >&2; exit 1; }}; docker exec \"$c\" cat -- {p}",
            s = sh_quote(&m.service),
            n = m.name,
            p = sh_quote(&m.path)
        );
        let value = sides
            .rt
            .block_on(sides.src.sh("reading a secret", &read, None))
            .map_err(|e| e.to_string())?;
        sides
            .rt
            .block_on(sides.dst.sh(
                "creating a secret",
                &format!(
                    "docker secret create --label com.docker.stack.namespace={} {} - >/dev/null",
                    sh_quote(to),
                    sh_quote(&target)
                ),
                Some(&value),
            ))
            .map_err(|e| e.to_string())?;
        created.push(target);
    }
    Ok((
        format!(
            "{} secret(s) created on the destination{}",
            created.len(),
            if present.is_empty() {
                String::new()
            } else {
                format!(", {} already there (kept)", present.len())
            }
        ),
        json!({"created": created, "present": present}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_and_names() {
        let m = parse_mounts(
            "nc_db_password_v1 db_password nc_app\nnc_db_password_v1 db_password nc_db\nnc_admin_v2 /etc/admin nc_app\n",
        );
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].name, "nc_admin_v2");
        assert_eq!(m[0].path, "/etc/admin");
        assert_eq!(m[1].path, "/run/secrets/db_password");
        assert_eq!(
            renamed("nc_db_password_v1", "nc", "cloud"),
            "cloud_db_password_v1"
        );
        assert_eq!(
            renamed("nc_db_password_v1", "nc", "nc"),
            "nc_db_password_v1"
        );
        assert_eq!(renamed("other", "nc", "cloud"), "other");
    }
}
