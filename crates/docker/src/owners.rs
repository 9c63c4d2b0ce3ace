//! Numeric ownership: which uid:gid own a copied tree, which uids the
//! containers using it run as, and remapping one id to another. Names mean
//! nothing across servers (uid 991 is `mastodon` on one and nobody on the
//! other), so everything here is numeric.

use std::collections::BTreeMap;

use bollard::query_parameters::InspectContainerOptions;
use migrate_remote::{Host, sh_quote};
use serde::Serialize;
use tracing::instrument;

use crate::conn::DockerHost;
use crate::error::DockerError;

/// `--map-owner FROM:TO`: every file whose uid is FROM gets uid TO, and every
/// file whose gid is FROM gets gid TO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MapOwner {
    pub from: u32,
    pub to: u32,
}

impl std::str::FromStr for MapOwner {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}`: expected FROM:TO numeric ids, e.g. --map-owner 991:1000");
        let (a, b) = s.split_once(':').ok_or_else(bad)?;
        Ok(MapOwner {
            from: a.trim().parse().map_err(|_| bad())?,
            to: b.trim().parse().map_err(|_| bad())?,
        })
    }
}

/// Entry counts per `uid:gid` under `path` on `host`.
pub async fn scan(host: &Host, path: &str) -> Result<BTreeMap<(u32, u32), u64>, DockerError> {
    let cmd = format!(
        "find {} -xdev -printf '%U %G\\n' | sort | uniq -c",
        sh_quote(path)
    );
    let out = host.sh("listing file owners", &cmd, None).await?;
    let mut m = BTreeMap::new();
    for l in String::from_utf8_lossy(&out).lines() {
        let mut it = l.split_whitespace();
        if let (Some(n), Some(u), Some(g)) = (it.next(), it.next(), it.next())
            && let (Ok(n), Ok(u), Ok(g)) = (n.parse(), u.parse(), g.parse())
        {
            m.insert((u, g), n);
        }
    }
    Ok(m)
}

/// Counts the entries under `path` owned by `map.from` (uid or gid).
pub fn count_script(path: &str, map: MapOwner) -> String {
    format!(
        "find {} -xdev \\( -uid {f} -o -gid {f} \\) -printf x | wc -c",
        sh_quote(path),
        f = map.from
    )
}

/// The script `remap` runs (also shown by the dry runs): count, then chown
/// and chgrp; prints the count.
pub fn remap_script(path: &str, map: MapOwner) -> String {
    let p = sh_quote(path);
    format!(
        "set -e; n=$({count})
find {p} -xdev -uid {f} -exec chown -h {t} {{}} +
find {p} -xdev -gid {f} -exec chgrp -h {t} {{}} +
echo $n",
        count = count_script(path, map),
        f = map.from,
        t = map.to
    )
}

/// How many entries `remap` would change, read only.
pub async fn remap_count(host: &Host, path: &str, map: MapOwner) -> Result<u64, DockerError> {
    let out = host
        .sh("counting entries to remap", &count_script(path, map), None)
        .await?;
    Ok(String::from_utf8_lossy(&out).trim().parse().unwrap_or(0))
}

/// Remap one numeric id on a tree; returns how many entries changed.
#[instrument(skip(host))]
pub async fn remap(host: &Host, path: &str, map: MapOwner) -> Result<u64, DockerError> {
    let out = host
        .sh("remapping owners", &remap_script(path, map), None)
        .await?;
    Ok(String::from_utf8_lossy(&out).trim().parse().unwrap_or(0))
}

#[derive(Debug, Clone, Serialize)]
pub struct ContainerUser {
    pub container: String,
    /// As configured (`""` means root).
    pub user: String,
    /// Numeric uid, when known.
    pub uid: Option<u32>,
}

/// The user each container mounting `volume` runs as.
pub async fn volume_users(
    dh: &DockerHost,
    volume: &str,
) -> Result<Vec<ContainerUser>, DockerError> {
    let cs = crate::inventory::containers(dh).await?;
    let mut out = Vec::new();
    for c in cs.iter().filter(|c| c.volumes.iter().any(|v| v == volume)) {
        let ins = dh
            .docker
            .inspect_container(&c.name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| dh.api_err(format!("inspecting {}", c.name), e))?;
        let user = ins.config.and_then(|c| c.user).unwrap_or_default();
        let name_part = user.split(':').next().unwrap_or("").to_string();
        let uid = if name_part.is_empty() {
            Some(0)
        } else if let Ok(n) = name_part.parse() {
            Some(n)
        } else if c.state == "running" {
            // A user name: only the container's own /etc/passwd knows it.
            let cmd = format!(
                "docker exec {} id -u {} 2>/dev/null",
                sh_quote(&c.name),
                sh_quote(&name_part)
            );
            dh.host
                .sh("resolving a container user", &cmd, None)
                .await
                .ok()
                .and_then(|o| String::from_utf8_lossy(&o).trim().parse().ok())
        } else {
            None
        };
        out.push(ContainerUser {
            container: c.name.clone(),
            user,
            uid,
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct OwnerReport {
    pub owners: Vec<(u32, u32, u64)>,
    pub users: Vec<ContainerUser>,
    /// One sentence per problem found.
    pub problems: Vec<String>,
}

/// Compare a tree's owners with the users of the containers that mount it.
/// Root in a container reads everything; a non-root user needs to own (or
/// share the group of) what it writes.
pub fn judge(owners: &BTreeMap<(u32, u32), u64>, users: &[ContainerUser]) -> OwnerReport {
    let mut problems = Vec::new();
    let non_root: Vec<&ContainerUser> = users
        .iter()
        .filter(|u| u.uid.is_some_and(|x| x != 0))
        .collect();
    for ((uid, gid), n) in owners {
        if non_root.is_empty() {
            continue;
        }
        if !non_root.iter().any(|u| u.uid == Some(*uid)) {
            let who: Vec<String> = non_root
                .iter()
                .map(|u| format!("{} runs as uid {}", u.container, u.uid.unwrap_or(0)))
                .collect();
            problems.push(format!(
                "{n} entries are owned by {uid}:{gid}, but {}; fix with --map-owner {uid}:{}",
                who.join(", "),
                non_root[0].uid.unwrap_or(0)
            ));
        }
    }
    OwnerReport {
        owners: owners.iter().map(|((u, g), n)| (*u, *g, *n)).collect(),
        users: users.to_vec(),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_map_owner() {
        let m: MapOwner = "991:1000".parse().unwrap();
        assert_eq!(
            m,
            MapOwner {
                from: 991,
                to: 1000
            }
        );
        assert!("991".parse::<MapOwner>().is_err());
        assert!("a:b".parse::<MapOwner>().is_err());
    }

    #[test]
    fn flags_foreign_owners_for_non_root_containers() {
        let mut o = BTreeMap::new();
        o.insert((991, 991), 10);
        o.insert((1000, 1000), 3);
        let users = vec![ContainerUser {
            container: "web".into(),
            user: "1000".into(),
            uid: Some(1000),
        }];
        let r = judge(&o, &users);
        assert_eq!(r.problems.len(), 1);
        assert!(
            r.problems[0].contains("--map-owner 991:1000"),
            "{:?}",
            r.problems
        );
        let root = vec![ContainerUser {
            container: "web".into(),
            user: "".into(),
            uid: Some(0),
        }];
        assert!(judge(&o, &root).problems.is_empty());
    }
}
