//! What runs on a docker host: containers, compose projects, swarm stacks and
//! services, named volumes (mountpoint, size, users), images with versions.

use std::collections::{BTreeMap, BTreeSet};

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptions, ListServicesOptions, ListVolumesOptions,
};
use migrate_remote::sh_quote;
use serde::Serialize;
use tracing::instrument;

use crate::conn::DockerHost;
use crate::error::DockerError;

pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";
pub const COMPOSE_DEPENDS_ON: &str = "com.docker.compose.depends_on";
pub const STACK_NAMESPACE: &str = "com.docker.stack.namespace";

#[derive(Debug, Clone, Serialize)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub image: String,
    pub state: String,
    pub status: String,
    pub compose_project: Option<String>,
    pub compose_service: Option<String>,
    pub stack: Option<String>,
    /// Named volumes this container mounts.
    pub volumes: Vec<String>,
    /// Bind mounts (host paths) this container mounts.
    pub binds: Vec<String>,
    /// `coop-cloud.<stack>.version` and similar version labels.
    pub versions: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VolumeInfo {
    pub name: String,
    pub driver: String,
    pub mountpoint: String,
    /// Bytes on disk (`du`), when the server could measure it.
    pub size: Option<u64>,
    /// Containers mounting it.
    pub used_by: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    pub id: String,
    pub tags: Vec<String>,
    pub size: i64,
    /// `org.opencontainers.image.version`, `coop-cloud.*.version`, ...
    pub versions: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceInfo {
    pub id: String,
    pub name: String,
    pub stack: Option<String>,
    pub image: String,
    /// None for global services.
    pub replicas: Option<i64>,
    pub versions: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    pub host: String,
    pub docker_version: String,
    pub docker_root: String,
    pub swarm: String,
    pub containers: Vec<ContainerInfo>,
    /// project -> container names
    pub compose_projects: BTreeMap<String, Vec<String>>,
    /// stack -> service names
    pub stacks: BTreeMap<String, Vec<String>>,
    pub services: Vec<ServiceInfo>,
    pub volumes: Vec<VolumeInfo>,
    pub images: Vec<ImageInfo>,
}

/// Labels that carry an app's version.
fn version_labels(labels: &std::collections::HashMap<String, String>) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|(k, _)| {
            (k.starts_with("coop-cloud.") && k.ends_with(".version"))
                || k.as_str() == "org.opencontainers.image.version"
                || k.as_str() == "org.label-schema.version"
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn state_str(s: Option<&bollard::models::ContainerSummaryStateEnum>) -> String {
    s.map(|s| s.to_string()).unwrap_or_default()
}

/// Every container (running or not) as the inventory shows it.
pub async fn containers(dh: &DockerHost) -> Result<Vec<ContainerInfo>, DockerError> {
    let list = dh
        .docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default().all(true).build(),
        ))
        .await
        .map_err(|e| dh.api_err("listing containers", e))?;
    let mut out = Vec::new();
    for c in list {
        let labels = c.labels.clone().unwrap_or_default();
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        let mut volumes = Vec::new();
        let mut binds = Vec::new();
        for m in c.mounts.unwrap_or_default() {
            match m.typ.map(|t| t.to_string()).as_deref() {
                Some("volume") => volumes.extend(m.name),
                Some("bind") => binds.extend(m.source),
                _ => {}
            }
        }
        out.push(ContainerInfo {
            id: c.id.unwrap_or_default(),
            name,
            image: c.image.unwrap_or_default(),
            state: state_str(c.state.as_ref()),
            status: c.status.unwrap_or_default(),
            compose_project: labels.get(COMPOSE_PROJECT).cloned(),
            compose_service: labels.get(COMPOSE_SERVICE).cloned(),
            stack: labels.get(STACK_NAMESPACE).cloned(),
            volumes,
            binds,
            versions: version_labels(&labels),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Sizes of the given directories on the server, in bytes (one `du` call).
async fn sizes(dh: &DockerHost, paths: &[String]) -> BTreeMap<String, u64> {
    if paths.is_empty() {
        return BTreeMap::new();
    }
    let args: Vec<String> = paths.iter().map(|p| sh_quote(p)).collect();
    let cmd = format!("du -s -B1 -- {} 2>/dev/null; true", args.join(" "));
    let Ok(out) = dh.host.sh("measuring volumes", &cmd, None).await else {
        return BTreeMap::new();
    };
    String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| {
            let (n, p) = l.split_once('\t')?;
            Some((p.to_string(), n.trim().parse().ok()?))
        })
        .collect()
}

pub async fn swarm_state(dh: &DockerHost) -> Result<(String, bool), DockerError> {
    let info = dh
        .docker
        .info()
        .await
        .map_err(|e| dh.api_err("reading docker info", e))?;
    let sw = info.swarm.unwrap_or_default();
    Ok((
        sw.local_node_state
            .map(|s| s.to_string())
            .unwrap_or_else(|| "inactive".into()),
        sw.control_available.unwrap_or(false),
    ))
}

pub async fn services(dh: &DockerHost) -> Result<Vec<ServiceInfo>, DockerError> {
    let list = dh
        .docker
        .list_services(None::<ListServicesOptions>)
        .await
        .map_err(|e| dh.api_err("listing swarm services", e))?;
    let mut out: Vec<ServiceInfo> = list
        .into_iter()
        .map(|s| {
            let spec = s.spec.unwrap_or_default();
            let labels = spec.labels.clone().unwrap_or_default();
            let image = spec
                .task_template
                .as_ref()
                .and_then(|t| t.container_spec.as_ref())
                .and_then(|c| c.image.clone())
                .unwrap_or_default();
            let replicas = spec
                .mode
                .as_ref()
                .and_then(|m| m.replicated.as_ref())
                .map(|r| r.replicas.unwrap_or(1));
            ServiceInfo {
                id: s.id.unwrap_or_default(),
                name: spec.name.clone().unwrap_or_default(),
                stack: labels.get(STACK_NAMESPACE).cloned(),
                image,
                replicas,
                versions: version_labels(&labels),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[instrument(skip_all, fields(host = %dh.name()))]
pub async fn inventory(dh: &DockerHost) -> Result<Inventory, DockerError> {
    let d = &dh.docker;
    let info = d
        .info()
        .await
        .map_err(|e| dh.api_err("reading docker info", e))?;
    let containers = containers(dh).await?;
    let (swarm, manager) = swarm_state(dh).await?;
    let services = if swarm == "active" && manager {
        services(dh).await?
    } else {
        Vec::new()
    };
    let vols = d
        .list_volumes(None::<ListVolumesOptions>)
        .await
        .map_err(|e| dh.api_err("listing volumes", e))?;
    let vols = vols.volumes.unwrap_or_default();
    let mps: Vec<String> = vols.iter().map(|v| v.mountpoint.clone()).collect();
    let sz = sizes(dh, &mps).await;
    let mut volumes: Vec<VolumeInfo> = vols
        .into_iter()
        .map(|v| VolumeInfo {
            used_by: containers
                .iter()
                .filter(|c| c.volumes.contains(&v.name))
                .map(|c| c.name.clone())
                .collect(),
            size: sz.get(&v.mountpoint).copied(),
            name: v.name,
            driver: v.driver,
            mountpoint: v.mountpoint,
            labels: v.labels.into_iter().collect(),
        })
        .collect();
    volumes.sort_by(|a, b| a.name.cmp(&b.name));
    let imgs = d
        .list_images(None::<ListImagesOptions>)
        .await
        .map_err(|e| dh.api_err("listing images", e))?;
    let mut images: Vec<ImageInfo> = imgs
        .into_iter()
        .map(|i| ImageInfo {
            versions: version_labels(&i.labels),
            id: i.id,
            tags: i.repo_tags,
            size: i.size,
        })
        .collect();
    images.sort_by(|a, b| a.tags.cmp(&b.tags));
    let mut compose_projects: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in &containers {
        if let Some(p) = &c.compose_project {
            compose_projects
                .entry(p.clone())
                .or_default()
                .push(c.name.clone());
        }
    }
    let mut stacks: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in &services {
        if let Some(st) = &s.stack {
            stacks.entry(st.clone()).or_default().insert(s.name.clone());
        }
    }
    Ok(Inventory {
        host: dh.name(),
        docker_version: info.server_version.unwrap_or_default(),
        docker_root: info.docker_root_dir.unwrap_or_default(),
        swarm,
        containers,
        compose_projects,
        stacks: stacks
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect(),
        services,
        volumes,
        images,
    })
}

use migrate_units::human_bytes as human;

/// The human listing printed by `migrate docker ls`.
pub fn render(inv: &Inventory) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: docker {}, root {}, swarm {}",
        inv.host, inv.docker_version, inv.docker_root, inv.swarm
    );
    let _ = writeln!(s, "\ncontainers ({}):", inv.containers.len());
    for c in &inv.containers {
        let mut extra = Vec::new();
        if let Some(p) = &c.compose_project {
            extra.push(format!(
                "compose {p}/{}",
                c.compose_service.as_deref().unwrap_or("?")
            ));
        }
        if let Some(st) = &c.stack {
            extra.push(format!("stack {st}"));
        }
        if !c.volumes.is_empty() {
            extra.push(format!("volumes {}", c.volumes.join(",")));
        }
        for (k, v) in &c.versions {
            extra.push(format!("{k}={v}"));
        }
        let _ = writeln!(
            s,
            "  {:<24} {:<9} {:<28} {}",
            c.name,
            c.state,
            c.image,
            extra.join("; ")
        );
    }
    if !inv.compose_projects.is_empty() {
        let _ = writeln!(s, "\ncompose projects:");
        for (p, cs) in &inv.compose_projects {
            let _ = writeln!(s, "  {p}: {}", cs.join(", "));
        }
    }
    if inv.swarm == "active" {
        let _ = writeln!(s, "\nswarm services ({}):", inv.services.len());
        for sv in &inv.services {
            let r = sv
                .replicas
                .map_or("global".to_string(), |r| format!("{r} replicas"));
            let v: Vec<String> = sv
                .versions
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(
                s,
                "  {:<30} {:<12} {} {}",
                sv.name,
                r,
                sv.image,
                v.join(" ")
            );
        }
        for (st, svs) in &inv.stacks {
            let _ = writeln!(s, "  stack {st}: {}", svs.join(", "));
        }
    }
    let _ = writeln!(s, "\nvolumes ({}):", inv.volumes.len());
    for v in &inv.volumes {
        let size = v.size.map_or("?".to_string(), human);
        let used = if v.used_by.is_empty() {
            "unused".to_string()
        } else {
            format!("used by {}", v.used_by.join(","))
        };
        let _ = writeln!(
            s,
            "  {:<30} {:>10}  {}  {}",
            v.name, size, v.mountpoint, used
        );
    }
    let _ = writeln!(s, "\nimages ({}):", inv.images.len());
    for i in &inv.images {
        let tags = if i.tags.is_empty() {
            "<none>".to_string()
        } else {
            i.tags.join(",")
        };
        let v: Vec<String> = i.versions.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            s,
            "  {:<40} {:>10}  {}",
            tags,
            human(i.size.max(0) as u64),
            v.join(" ")
        );
    }
    s
}
