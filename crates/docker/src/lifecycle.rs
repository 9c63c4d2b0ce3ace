//! Stop and start for consistency: containers in dependency order with
//! health waits, and swarm services scaled to 0 and back to the replica count
//! they had (remembered on the service itself, so a crash of this machine
//! between the two steps loses nothing).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bollard::models::ServiceSpecModeReplicated;
use bollard::query_parameters::{
    InspectContainerOptions, ListTasksOptionsBuilder, StartContainerOptions,
    StopContainerOptionsBuilder, UpdateServiceOptionsBuilder,
};
use serde::Serialize;
use tracing::{info, instrument};

use crate::conn::DockerHost;
use crate::error::DockerError;
use crate::inventory::{self, COMPOSE_DEPENDS_ON, COMPOSE_SERVICE, ContainerInfo};

/// Label on a scaled-down service: its replica count before.
pub const REPLICAS_LABEL: &str = "migrate.replicas-before";

/// Which containers a stop/start concerns.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub project: Option<String>,
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
}

impl Selector {
    pub fn is_empty(&self) -> bool {
        self.project.is_none() && self.containers.is_empty() && self.volumes.is_empty()
    }
    fn matches(&self, c: &ContainerInfo) -> bool {
        self.project
            .as_ref()
            .is_some_and(|p| c.compose_project.as_ref() == Some(p))
            || self
                .containers
                .iter()
                .any(|n| n == &c.name || c.id.starts_with(n.as_str()))
            || c.volumes.iter().any(|v| self.volumes.contains(v))
    }
}

/// The selected containers, checked: every named container must exist.
pub async fn select(dh: &DockerHost, sel: &Selector) -> Result<Vec<ContainerInfo>, DockerError> {
    let all = inventory::containers(dh).await?;
    for n in &sel.containers {
        if !all
            .iter()
            .any(|c| &c.name == n || c.id.starts_with(n.as_str()))
        {
            return Err(DockerError::NoSuchContainer {
                host: dh.name(),
                name: n.clone(),
            });
        }
    }
    if let Some(p) = &sel.project
        && !all.iter().any(|c| c.compose_project.as_ref() == Some(p))
    {
        return Err(DockerError::BadInput(format!(
            "no container on {} belongs to compose project `{p}`",
            dh.name()
        )));
    }
    Ok(all.into_iter().filter(|c| sel.matches(c)).collect())
}

/// Compose's `com.docker.compose.depends_on` label: `svc:condition:required,...`.
fn depends_on(labels_value: &str) -> Vec<String> {
    labels_value
        .split(',')
        .filter_map(|d| d.split(':').next())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// (container name, compose project, compose service, services it depends on)
pub type DepEntry = (String, Option<String>, Option<String>, Vec<String>);

/// Start order: dependencies first (Kahn's algorithm; a cycle falls back to
/// name order for what remains, and is reported by the caller's health wait).
pub fn start_order(containers: &[DepEntry]) -> Vec<String> {
    // (name, project, service, depends-on services)
    let by_service: HashMap<(Option<&String>, &String), &String> = containers
        .iter()
        .filter_map(|(n, p, s, _)| s.as_ref().map(|s| ((p.as_ref(), s), n)))
        .collect();
    let mut deps: BTreeMap<&String, BTreeSet<&String>> = BTreeMap::new();
    for (n, p, _, ds) in containers {
        let e = deps.entry(n).or_default();
        for d in ds {
            if let Some(dn) = by_service.get(&(p.as_ref(), d))
                && *dn != n
            {
                e.insert(dn);
            }
        }
    }
    let mut order = Vec::new();
    while !deps.is_empty() {
        let ready: Vec<&String> = deps
            .iter()
            .filter(|(_, ds)| ds.iter().all(|d| !deps.contains_key(d)))
            .map(|(n, _)| *n)
            .collect();
        let ready = if ready.is_empty() {
            deps.keys().take(1).copied().collect()
        } else {
            ready
        };
        for r in ready {
            deps.remove(r);
            order.push(r.clone());
        }
    }
    order
}

async fn container_deps(dh: &DockerHost, names: &[String]) -> Result<Vec<DepEntry>, DockerError> {
    let mut out = Vec::new();
    for n in names {
        let ins = dh
            .docker
            .inspect_container(n, None::<InspectContainerOptions>)
            .await
            .map_err(|e| dh.api_err(format!("inspecting {n}"), e))?;
        let labels = ins.config.and_then(|c| c.labels).unwrap_or_default();
        out.push((
            n.clone(),
            labels.get(inventory::COMPOSE_PROJECT).cloned(),
            labels.get(COMPOSE_SERVICE).cloned(),
            labels
                .get(COMPOSE_DEPENDS_ON)
                .map(|d| depends_on(d))
                .unwrap_or_default(),
        ));
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct Stopped {
    /// Containers that were running and are now stopped, in stop order.
    pub stopped: Vec<String>,
    /// Selected containers that were not running (left alone, not restarted later).
    pub already_stopped: Vec<String>,
}

/// Seconds docker gives a container between SIGTERM and SIGKILL on stop.
pub const STOP_GRACE_SECS: i32 = 60;

/// What `stop` would do, read only: the selected running containers in
/// stop order (dependents first), and the ones already stopped.
pub async fn stop_plan(dh: &DockerHost, sel: &Selector) -> Result<Stopped, DockerError> {
    let cs = select(dh, sel).await?;
    let running: Vec<String> = cs
        .iter()
        .filter(|c| c.state == "running")
        .map(|c| c.name.clone())
        .collect();
    let already: Vec<String> = cs
        .iter()
        .filter(|c| c.state != "running")
        .map(|c| c.name.clone())
        .collect();
    let mut order = start_order(&container_deps(dh, &running).await?);
    order.reverse();
    Ok(Stopped {
        stopped: order,
        already_stopped: already,
    })
}

/// Stop the selected running containers, dependents first.
#[instrument(skip_all, fields(host = %dh.name()))]
pub async fn stop(dh: &DockerHost, sel: &Selector) -> Result<Stopped, DockerError> {
    let plan = stop_plan(dh, sel).await?;
    for n in &plan.stopped {
        info!(container = %n, "stopping");
        dh.docker
            .stop_container(
                n,
                Some(
                    StopContainerOptionsBuilder::default()
                        .t(STOP_GRACE_SECS)
                        .build(),
                ),
            )
            .await
            .map_err(|e| dh.api_err(format!("stopping {n}"), e))?;
    }
    Ok(plan)
}

/// The order `start` would start `names` in (dependencies first), read only.
pub async fn start_plan(dh: &DockerHost, names: &[String]) -> Result<Vec<String>, DockerError> {
    Ok(start_order(&container_deps(dh, names).await?))
}

/// Start containers dependencies first, each one healthy (or running, when
/// it has no health check) before the next.
#[instrument(skip_all, fields(host = %dh.name()))]
pub async fn start(
    dh: &DockerHost,
    names: &[String],
    timeout: Duration,
) -> Result<Vec<String>, DockerError> {
    let order = start_plan(dh, names).await?;
    for n in &order {
        info!(container = %n, "starting");
        dh.docker
            .start_container(n, None::<StartContainerOptions>)
            .await
            .map_err(|e| dh.api_err(format!("starting {n}"), e))?;
        wait_healthy(dh, n, timeout).await?;
    }
    Ok(order)
}

/// Wait until a container is healthy (with a health check) or running
/// (without one).
pub async fn wait_healthy(
    dh: &DockerHost,
    name: &str,
    timeout: Duration,
) -> Result<(), DockerError> {
    let t0 = Instant::now();
    loop {
        let ins = dh
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| dh.api_err(format!("inspecting {name}"), e))?;
        let st = ins.state.unwrap_or_default();
        let status = st.status.map(|s| s.to_string()).unwrap_or_default();
        let health = st.health.and_then(|h| h.status).map(|s| s.to_string());
        let last = match &health {
            Some(h) if !h.is_empty() && h != "none" => {
                if h == "healthy" {
                    return Ok(());
                }
                format!("{status}, {h}")
            }
            _ => {
                if status == "running" {
                    return Ok(());
                }
                status.clone()
            }
        };
        if status == "exited" || status == "dead" {
            return Err(DockerError::Failed(format!(
                "container {name} on {} stopped right after starting (exit code {}); see `docker logs {name}`",
                dh.name(),
                st.exit_code.unwrap_or(-1)
            )));
        }
        if t0.elapsed() > timeout {
            return Err(DockerError::Timeout {
                host: dh.name(),
                what: format!("container {name}"),
                want: "healthy".into(),
                secs: timeout.as_secs(),
                last,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Scaled {
    pub service: String,
    pub replicas: i64,
}

async fn swarm_manager(dh: &DockerHost) -> Result<(), DockerError> {
    let (state, manager) = inventory::swarm_state(dh).await?;
    if state != "active" || !manager {
        return Err(DockerError::Refused(format!(
            "{} is not a swarm manager (swarm: {state}); scale services on a manager node",
            dh.name()
        )));
    }
    Ok(())
}

/// One service update `scale-down` or `scale-up` makes (or, in a dry run,
/// would make): `POST /services/{service}/update?version={version}` with the
/// service's current spec, its replica count and the remembered-count label
/// changed.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceUpdate {
    pub service: String,
    pub version: u64,
    pub replicas_before: i64,
    pub replicas_after: i64,
    /// The value of the remembered-count label after the update (None: removed).
    pub remembered: Option<String>,
    /// The count scale-down remembered, or scale-up restored.
    pub count: i64,
}

/// Edit a service's spec with `f`; send the update only when `apply`.
async fn set_replicas(
    dh: &DockerHost,
    name: &str,
    f: fn(&mut bollard::models::ServiceSpec) -> Option<i64>,
    apply: bool,
) -> Result<Option<ServiceUpdate>, DockerError> {
    let svc = dh
        .docker
        .inspect_service(
            name,
            None::<bollard::query_parameters::InspectServiceOptions>,
        )
        .await
        .map_err(|e| dh.api_err(format!("inspecting service {name}"), e))?;
    let version = svc.version.and_then(|v| v.index).unwrap_or(0);
    let mut spec = svc.spec.unwrap_or_default();
    let before = replicas_of(&spec).unwrap_or(0);
    let Some(count) = f(&mut spec) else {
        return Ok(None);
    };
    let update = ServiceUpdate {
        service: name.to_string(),
        version,
        replicas_before: before,
        replicas_after: replicas_of(&spec).unwrap_or(0),
        remembered: spec
            .labels
            .as_ref()
            .and_then(|l| l.get(REPLICAS_LABEL).cloned()),
        count,
    };
    if apply {
        dh.docker
            .update_service(
                name,
                spec,
                UpdateServiceOptionsBuilder::default()
                    .version(version as i32)
                    .build(),
                None,
            )
            .await
            .map_err(|e| dh.api_err(format!("updating service {name}"), e))?;
    }
    Ok(Some(update))
}

/// Scale-down's edit: remember the count in a label, set replicas to 0.
fn down_edit(spec: &mut bollard::models::ServiceSpec) -> Option<i64> {
    if spec
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(REPLICAS_LABEL))
    {
        // Already scaled down by us: keep the first count.
        return None;
    }
    let cur = replicas_of(spec)?;
    spec.labels
        .get_or_insert_with(Default::default)
        .insert(REPLICAS_LABEL.into(), cur.to_string());
    put_replicas(spec, 0);
    Some(cur)
}

/// Scale-up's edit: restore the remembered count and drop the label.
fn up_edit(spec: &mut bollard::models::ServiceSpec) -> Option<i64> {
    let labels = spec.labels.get_or_insert_with(Default::default);
    let before: i64 = labels.get(REPLICAS_LABEL)?.parse().ok()?;
    labels.remove(REPLICAS_LABEL);
    put_replicas(spec, before);
    Some(before)
}

async fn scale(
    dh: &DockerHost,
    stack: Option<&str>,
    names: &[String],
    f: fn(&mut bollard::models::ServiceSpec) -> Option<i64>,
    apply: bool,
) -> Result<Vec<ServiceUpdate>, DockerError> {
    let picked = pick_services(dh, stack, names).await?;
    let mut out = Vec::new();
    for n in &picked {
        if let Some(u) = set_replicas(dh, n, f, apply).await? {
            if apply {
                info!(service = %n, replicas = u.replicas_after, "scaled");
            }
            out.push(u);
        }
    }
    Ok(out)
}

/// The updates `scale_down` would send, read only.
pub async fn scale_down_plan(
    dh: &DockerHost,
    stack: Option<&str>,
    names: &[String],
) -> Result<Vec<ServiceUpdate>, DockerError> {
    scale(dh, stack, names, down_edit, false).await
}

/// The updates `scale_up` would send, read only.
pub async fn scale_up_plan(
    dh: &DockerHost,
    stack: Option<&str>,
    names: &[String],
) -> Result<Vec<ServiceUpdate>, DockerError> {
    scale(dh, stack, names, up_edit, false).await
}

fn replicas_of(spec: &bollard::models::ServiceSpec) -> Option<i64> {
    spec.mode
        .as_ref()
        .and_then(|m| m.replicated.as_ref())
        .map(|r| r.replicas.unwrap_or(1))
}

fn put_replicas(spec: &mut bollard::models::ServiceSpec, n: i64) {
    let mode = spec.mode.get_or_insert_with(Default::default);
    mode.replicated = Some(ServiceSpecModeReplicated { replicas: Some(n) });
}

/// Swarm services of a stack (or the named services).
async fn pick_services(
    dh: &DockerHost,
    stack: Option<&str>,
    names: &[String],
) -> Result<Vec<String>, DockerError> {
    swarm_manager(dh).await?;
    let all = inventory::services(dh).await?;
    for n in names {
        if !all.iter().any(|s| &s.name == n) {
            return Err(DockerError::BadInput(format!(
                "there is no swarm service `{n}` on {}",
                dh.name()
            )));
        }
    }
    let picked: Vec<String> = all
        .iter()
        .filter(|s| names.contains(&s.name) || (stack.is_some() && s.stack.as_deref() == stack))
        .map(|s| s.name.clone())
        .collect();
    if picked.is_empty() {
        return Err(DockerError::BadInput(format!(
            "no swarm service on {} matches (stack {})",
            dh.name(),
            stack.unwrap_or("-")
        )));
    }
    Ok(picked)
}

/// Scale replicated services to 0, remembering each count in a label.
/// Global services cannot be scaled and are refused by name.
#[instrument(skip_all, fields(host = %dh.name()))]
pub async fn scale_down(
    dh: &DockerHost,
    stack: Option<&str>,
    names: &[String],
) -> Result<Vec<Scaled>, DockerError> {
    let out = scaled(scale(dh, stack, names, down_edit, true).await?);
    for s in &out {
        wait_tasks(dh, &s.service, 0, Duration::from_secs(120)).await?;
    }
    Ok(out)
}

/// Scale services back to their remembered counts and wait for the tasks.
#[instrument(skip_all, fields(host = %dh.name()))]
pub async fn scale_up(
    dh: &DockerHost,
    stack: Option<&str>,
    names: &[String],
    timeout: Duration,
) -> Result<Vec<Scaled>, DockerError> {
    let out = scaled(scale(dh, stack, names, up_edit, true).await?);
    for s in &out {
        wait_tasks(dh, &s.service, s.replicas, timeout).await?;
    }
    Ok(out)
}

fn scaled(updates: Vec<ServiceUpdate>) -> Vec<Scaled> {
    updates
        .into_iter()
        .map(|u| Scaled {
            service: u.service,
            replicas: u.count,
        })
        .collect()
}

/// Tasks actually running, whatever their desired state: a task being shut
/// down still holds its data open until its container has exited.
async fn running_tasks(dh: &DockerHost, service: &str) -> Result<i64, DockerError> {
    let mut f = HashMap::new();
    f.insert("service", vec![service]);
    let tasks = dh
        .docker
        .list_tasks(Some(ListTasksOptionsBuilder::default().filters(&f).build()))
        .await
        .map_err(|e| dh.api_err(format!("listing tasks of {service}"), e))?;
    Ok(tasks
        .iter()
        .filter(|t| {
            t.status
                .as_ref()
                .and_then(|s| s.state.as_ref())
                .is_some_and(|s| s.to_string() == "running")
        })
        .count() as i64)
}

async fn wait_tasks(
    dh: &DockerHost,
    service: &str,
    want: i64,
    timeout: Duration,
) -> Result<(), DockerError> {
    let t0 = Instant::now();
    loop {
        let n = running_tasks(dh, service).await?;
        if n == want {
            return Ok(());
        }
        if t0.elapsed() > timeout {
            return Err(DockerError::Timeout {
                host: dh.name(),
                what: format!("service {service}"),
                want: format!("{want} running tasks"),
                secs: timeout.as_secs(),
                last: format!("{n} running"),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(n: &str, s: &str, d: &[&str]) -> DepEntry {
        (
            n.into(),
            Some("app".into()),
            Some(s.into()),
            d.iter().map(|x| x.to_string()).collect(),
        )
    }

    #[test]
    fn dependencies_start_first() {
        let o = start_order(&[
            c("app-web-1", "web", &["db", "cache"]),
            c("app-db-1", "db", &[]),
            c("app-cache-1", "cache", &["db"]),
        ]);
        assert_eq!(o, vec!["app-db-1", "app-cache-1", "app-web-1"]);
    }

    #[test]
    fn parses_compose_depends_on_label() {
        assert_eq!(
            depends_on("db:service_healthy:false,redis:service_started:true"),
            vec!["db", "redis"]
        );
    }

    #[test]
    fn cycles_do_not_hang() {
        let o = start_order(&[c("a", "a", &["b"]), c("b", "b", &["a"])]);
        assert_eq!(o.len(), 2);
    }
}
