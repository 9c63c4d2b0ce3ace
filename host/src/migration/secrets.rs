//! Swarm secrets carried from one Co-op Cloud stack to another. abra keeps
//! secrets in the swarm store, write-only: no command exports them, and a
//! move needs them under the same (versioned) names before the stack can be
//! deployed on the new server. Here each secret is read where the source's
//! own containers see it (/run/secrets/<target>) and created in the
//! destination swarm from stdin; values pass through this process's memory
//! only, and the journal keeps names.

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
