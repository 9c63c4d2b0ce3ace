//! `--dry-run` for the docker commands that change servers (`volume`,
//! `docker db`, `docker root-move`, `docker root-relocate`, `docker stop`,
//! `docker start`, `docker scale-down`, `docker scale-up`, `docker owners
//! --map-owner`, `docker daemon`): read what is there (docker API
//! inspections, listings), refuse what the real command would refuse, and
//! print the commands and API calls it would make.
//! Nothing is written on either server or on this machine.

use migrate_db::Place;
use migrate_db::client::Ownership;
use migrate_docker::DockerHost;
use migrate_docker::daemon::{self, Init};
use migrate_docker::lifecycle::{REPLICAS_LABEL, STOP_GRACE_SECS, Selector};
use migrate_docker::owners::{self, MapOwner};
use migrate_docker::{DockerError, inventory, lifecycle, volume};
use migrate_remote::{HostSpec, Location, sh_quote};
use serde_json::{Value, json};

use super::Global;
use super::reply::{Failure, to_json};

/// Numbered, a script's later lines indented under its number.
pub(super) fn print_commands(commands: &[String]) {
    for (i, c) in commands.iter().enumerate() {
        let mut lines = c.lines();
        println!("  {}. {}", i + 1, lines.next().unwrap_or(""));
        for l in lines {
            println!("       {l}");
        }
    }
}

/// Print the commands (unless --json) and return them in the result. Every
/// dry run of a command that changes servers prints through this.
pub(super) fn finish(g: &Global, title: String, commands: Vec<String>, mut result: Value) -> Value {
    if !g.json {
        println!("dry run: {title}");
        print_commands(&commands);
        println!("nothing was changed (dry run)");
    }
    result["dry_run"] = json!(true);
    result["commands"] = json!(commands);
    result
}

fn spec(s: &str) -> Result<HostSpec, DockerError> {
    HostSpec::parse(s).map_err(DockerError::from)
}

/// A script as it would be sent, on one line per host for reading.
fn on(host: &str, script: &str) -> String {
    format!("{host}: {}", script.trim())
}

/// The copy a docker command would make, as `migrate copy --dry-run` shows it.
fn copy_options(
    src: &HostSpec,
    sp: &str,
    dst: &HostSpec,
    dp: &str,
    streams: migrate_copy::link::Streams,
    final_pass: bool,
) -> migrate_copy::CopyOptions {
    migrate_copy::CopyOptions {
        src: Location {
            host: src.clone(),
            path: sp.to_string(),
        },
        dst: Location {
            host: dst.clone(),
            path: dp.to_string(),
        },
        final_pass,
        verify: final_pass,
        verify_sent: false,
        streams,
        compress: false,
        relay: false,
        detach: false,
        bwlimit: None,
        exclude: Vec::new(),
        force: true,
        delete_without_backup: false,
    }
}

pub async fn volume(a: &super::docker::VolumeArgs, g: &Global) -> Result<Value, Failure> {
    let (src, src_volume) = volume::parse_src(&a.src)?;
    let (dst, dst_volume) = volume::parse_dst(&a.dst)?;
    let dst_volume = dst_volume.unwrap_or_else(|| src_volume.clone());
    volume::check_volume_name(&src_volume)?;
    volume::check_volume_name(&dst_volume)?;
    if src == dst && src_volume == dst_volume {
        return Err(
            DockerError::BadInput("source and destination are the same volume".into()).into(),
        );
    }
    let (s, d) = tokio::try_join!(DockerHost::connect(&src), DockerHost::connect(&dst))?;
    let sv = volume::inspect(&s, &src_volume).await?;
    if sv.driver != "local" {
        return Err(DockerError::Refused(format!(
            "volume {src_volume} on {} uses the `{}` driver; only `local` volumes have their data on the server's disk",
            s.name(),
            sv.driver
        ))
        .into());
    }
    let dv = d.docker.inspect_volume(&dst_volume).await.ok();
    let dst_nonempty = match &dv {
        Some(v) => {
            let out = d
                .host
                .sh(
                    "looking into the destination volume",
                    &format!(
                        "find {} -mindepth 1 -maxdepth 1 -print -quit",
                        sh_quote(&v.mountpoint)
                    ),
                    None,
                )
                .await
                .map_err(DockerError::from)?;
            !out.is_empty()
        }
        None => false,
    };
    if dst_nonempty && !a.force {
        return Err(DockerError::VolumeNotEmpty {
            host: d.name(),
            volume: dst_volume.clone(),
            what: "entries at its top level".into(),
        }
        .into());
    }
    let users = lifecycle::select(
        &s,
        &lifecycle::Selector {
            volumes: vec![src_volume.clone()],
            ..Default::default()
        },
    )
    .await?;
    let running: Vec<String> = users
        .iter()
        .filter(|c| c.state == "running")
        .map(|c| c.name.clone())
        .collect();
    let (sn, dn) = (s.name(), d.name());
    s.close().await;
    d.close().await;

    let mut commands = Vec::new();
    let dst_path = match &dv {
        Some(v) => v.mountpoint.clone(),
        None => {
            commands.push(format!(
                "{dn}: docker API POST /volumes/create {{\"Name\":{dst_volume:?},\"Driver\":{:?}}} (options and labels as on {sn})",
                sv.driver
            ));
            format!("/var/lib/docker/volumes/{dst_volume}/_data")
        }
    };
    if dst_nonempty {
        commands.push(format!(
            "{dn}: tar -C {} -cf /var/backups/migrate/<volume-{dst_volume}-TIME>.tar .",
            sh_quote(&dst_path)
        ));
    }
    let streams = super::copy::streams_arg(a.streams);
    let plan = migrate_copy::dry_run::dry_run(&copy_options(
        &src,
        &sv.mountpoint,
        &dst,
        &dst_path,
        streams,
        true,
    ))
    .await?;
    if !running.is_empty() {
        commands.push(format!(
            "copy {} → {dn}:{dst_path} while {} run (the bulk pass)",
            sv.mountpoint,
            running.join(", ")
        ));
        if a.stop {
            commands.push(format!(
                "{sn}: docker API POST /containers/NAME/stop for {}",
                running.join(", ")
            ));
        }
    }
    commands.push(format!(
        "copy {sn}:{} → {dn}:{dst_path}, final pass with --verify: {} files, {} ({})",
        sv.mountpoint,
        plan.files,
        migrate_units::human_bytes(plan.bytes),
        plan.commands.join("; ")
    ));
    if a.stop && !running.is_empty() {
        commands.push(format!(
            "{sn}: docker API POST /containers/NAME/start for {}",
            running.join(", ")
        ));
    }
    if let Some(m) = &a.map_owner {
        commands.push(format!(
            "{dn}: find {} -xdev -uid {from} -exec chown -h {to} {{}} + ; the same for gid {from}",
            sh_quote(&dst_path),
            from = m.from,
            to = m.to
        ));
    }
    Ok(finish(
        g,
        format!("volume {sn}:{src_volume} → {dn}:{dst_volume}"),
        commands,
        json!({"copy": to_json(&plan), "running": running}),
    ))
}

pub async fn db(a: &super::docker::DbArgs, g: &Global) -> Result<Value, Failure> {
    let place = |c: &Option<String>| c.clone().map_or(Place::Host, Place::Container);
    let (src, dst) = (spec(&a.src)?, spec(&a.dst)?);
    let from = migrate_db::Client::new(a.engine, place(&a.from_container));
    let to = migrate_db::Client::new(a.engine, place(&a.to_container));
    let check = |n: &str| {
        migrate_db::DbName::new(a.engine, n).map_err(|e| DockerError::BadInput(e.to_string()))
    };
    let src_db = a.db.as_deref().map(check).transpose()?;
    let dst_db = match &a.to_db {
        Some(d) => Some(check(d)?),
        None => src_db.clone(),
    };
    // The containers must be there (read through the docker API).
    let (s, d) = tokio::try_join!(DockerHost::connect(&src), DockerHost::connect(&dst))?;
    for (dh, c) in [(&s, &a.from_container), (&d, &a.to_container)] {
        if let Some(c) = c {
            let all = inventory::containers(dh).await?;
            if !all.iter().any(|x| &x.name == c) {
                return Err(DockerError::NoSuchContainer {
                    host: dh.name(),
                    name: c.clone(),
                }
                .into());
            }
        }
    }
    let (sn, dn) = (s.name(), d.name());
    s.close().await;
    d.close().await;
    let dump = match (&a.dump_file, &src_db) {
        (Some(f), _) => format!("{} < {}", migrate_db::transfer::decompress(f), sh_quote(f)),
        (None, Some(db)) => from.dump(db.as_str(), Ownership::Keep),
        (None, None) => from.dump_all(),
    };
    let load = match &dst_db {
        Some(db) => to.load(db.as_str()),
        None => to.load_all(),
    };
    let mut commands = Vec::new();
    if let Some(db) = &dst_db {
        commands.push(format!(
            "{dn}: check that database {db} is empty{}",
            if a.force {
                " (with --force: dump it to /var/backups/migrate first)"
            } else {
                "; refuse otherwise"
            }
        ));
    }
    commands.push(on(&sn, &format!("bash -c {}", sh_quote(&dump))));
    commands.push(format!(
        "  | {}",
        on(&dn, &format!("bash -c {}", sh_quote(&load)))
    ));
    commands.push(format!(
        "(the stream is guarded: {})",
        match (a.engine, &dst_db) {
            (migrate_db::Engine::Postgresql, Some(_)) =>
                "wrapped in BEGIN … COMMIT, COMMIT only after a complete dump",
            (migrate_db::Engine::Mariadb, _) =>
                "table migrate_load_incomplete created first, dropped only after a complete dump",
            _ => "a failed pg_dumpall is reported with the databases to check",
        }
    ));
    commands.push(format!(
        "{sn} and {dn}: count the rows of every table and compare"
    ));
    Ok(finish(
        g,
        format!("{} database → {dn}", a.engine),
        commands,
        json!({}),
    ))
}

fn stop_start(host: &str, init: &Init, stop: bool) -> String {
    on(
        host,
        &if stop {
            daemon::stop_script(init)
        } else {
            daemon::start_script(init)
        },
    )
}

pub async fn root_move(
    src: &str,
    dst: &str,
    force: bool,
    restart_source: bool,
    g: &Global,
) -> Result<Value, Failure> {
    let (src, dst) = (spec(src)?, spec(dst)?);
    if src == dst {
        return Err(DockerError::BadInput(
            "source and destination are the same host; use `migrate docker root-relocate HOST NEW_DIR` to move the docker root to another disk".into(),
        )
        .into());
    }
    let (s, d) = tokio::try_join!(DockerHost::connect(&src), DockerHost::connect(&dst))?;
    let (si, di) = tokio::try_join!(inventory::inventory(&s), inventory::inventory(&d))?;
    let (sinit, dinit) = tokio::try_join!(daemon::detect(&s.host), daemon::detect(&d.host))?;
    let (sn, dn) = (s.name(), d.name());
    s.close().await;
    d.close().await;
    let dst_empty = di.images.is_empty() && di.volumes.is_empty() && di.containers.is_empty();
    if !dst_empty && !force {
        return Err(DockerError::Refused(format!(
            "docker on {dn} already holds {} images, {} volumes and {} containers; refusing to replace its docker root. Pass --force (it is saved to /var/backups/migrate first)",
            di.images.len(),
            di.volumes.len(),
            di.containers.len()
        ))
        .into());
    }
    let mut commands = vec![stop_start(&dn, &dinit, true), stop_start(&sn, &sinit, true)];
    if !dst_empty {
        commands.push(format!(
            "{dn}: tar -C {} -cf /var/backups/migrate/<docker-root-TIME>.tar .",
            sh_quote(&di.docker_root)
        ));
    }
    commands.push(format!(
        "copy {sn}:{} → {dn}:{} (migrate copy, final pass, --verify)",
        si.docker_root, di.docker_root
    ));
    commands.push(stop_start(&dn, &dinit, false));
    if restart_source {
        commands.push(stop_start(&sn, &sinit, false));
    } else if sinit == Init::Systemd {
        commands.push(on(
            &sn,
            "systemctl unmask docker.socket docker.service >/dev/null",
        ));
    }
    commands.push(format!(
        "{dn}: docker API: check it serves the source's {} volumes and {} images",
        si.volumes.len(),
        si.images.len()
    ));
    Ok(finish(
        g,
        format!(
            "docker root {sn}:{} → {dn}:{}",
            si.docker_root, di.docker_root
        ),
        commands,
        json!({"running_on_source": si.containers.iter().filter(|c| c.state == "running").map(|c| c.name.clone()).collect::<Vec<_>>()}),
    ))
}

pub async fn root_relocate(
    host: &str,
    new_dir: &str,
    fstab: bool,
    g: &Global,
) -> Result<Value, Failure> {
    let h = spec(host)?;
    let dh = DockerHost::connect(&h).await?;
    let inv = inventory::inventory(&dh).await?;
    let init = daemon::detect(&dh.host).await?;
    let hn = dh.name();
    dh.close().await;
    let root = inv.docker_root.clone();
    let nd = new_dir.trim_end_matches('/').to_string();
    if !nd.starts_with('/') || nd.split('/').any(|c| c == "..") || nd.is_empty() {
        return Err(DockerError::BadInput(format!(
            "`{new_dir}`: give an absolute path without `..`"
        ))
        .into());
    }
    if nd == root || nd.starts_with(&format!("{root}/")) || root.starts_with(&format!("{nd}/")) {
        return Err(DockerError::BadInput(format!("{nd} overlaps the docker root {root}")).into());
    }
    let (q, rq) = (sh_quote(&nd), sh_quote(&root));
    let line = format!("{nd} {root} none bind 0 0");
    let mut commands = vec![
        stop_start(&hn, &init, true),
        format!("copy {hn}:{root} → {hn}:{nd} (migrate copy, final pass, --verify)"),
        on(&hn, &format!("mount --bind {q} {rq}")),
    ];
    if fstab {
        commands.push(on(
            &hn,
            &format!(
                "grep -qxF {l} /etc/fstab || printf '%s\\n' {l} >> /etc/fstab",
                l = sh_quote(&line)
            ),
        ));
    }
    commands.push(stop_start(&hn, &init, false));
    commands.push(format!(
        "{hn}: docker API: check it serves the same {} volumes and {} images",
        inv.volumes.len(),
        inv.images.len()
    ));
    Ok(finish(
        g,
        format!("docker root on {hn}: {root} → {nd}"),
        commands,
        json!({}),
    ))
}

pub async fn stop(
    sel: &Selector,
    a: &super::docker::SelectArgs,
    g: &Global,
) -> Result<Value, Failure> {
    let dh = DockerHost::connect(&spec(&a.host)?).await?;
    let plan = lifecycle::stop_plan(&dh, sel).await?;
    let hn = dh.name();
    dh.close().await;
    let commands = plan
        .stopped
        .iter()
        .map(|n| format!("{hn}: docker API POST /containers/{n}/stop?t={STOP_GRACE_SECS}"))
        .collect();
    Ok(finish(
        g,
        format!(
            "stop on {hn}, dependents first (not running, left alone: {})",
            none_if_empty(&plan.already_stopped)
        ),
        commands,
        to_json(&plan),
    ))
}

pub async fn start(
    sel: &Selector,
    a: &super::docker::SelectArgs,
    g: &Global,
) -> Result<Value, Failure> {
    let dh = DockerHost::connect(&spec(&a.host)?).await?;
    let names: Vec<String> = lifecycle::select(&dh, sel)
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    let order = lifecycle::start_plan(&dh, &names).await?;
    let hn = dh.name();
    dh.close().await;
    let mut commands = Vec::new();
    for n in &order {
        commands.push(format!("{hn}: docker API POST /containers/{n}/start"));
        commands.push(format!(
            "{hn}: docker API GET /containers/{n}/json until healthy (or running, without a health check), at most {} s",
            a.timeout
        ));
    }
    if !order.is_empty() {
        commands.push(format!(
            "{hn}: after {} s, docker API GET /containers/NAME/logs?tail=200 for {}: look for permission errors",
            a.settle,
            order.join(", ")
        ));
    }
    Ok(finish(
        g,
        format!("start on {hn}, dependencies first"),
        commands,
        json!({ "start": order }),
    ))
}

pub async fn scale(a: &super::docker::ScaleArgs, up: bool, g: &Global) -> Result<Value, Failure> {
    let dh = DockerHost::connect(&spec(&a.host)?).await?;
    let updates = if up {
        lifecycle::scale_up_plan(&dh, a.stack.as_deref(), &a.services).await?
    } else {
        lifecycle::scale_down_plan(&dh, a.stack.as_deref(), &a.services).await?
    };
    let hn = dh.name();
    dh.close().await;
    let mut commands = Vec::new();
    for u in &updates {
        let labels = match &u.remembered {
            Some(v) => format!(", \"Labels\": {{\"{REPLICAS_LABEL}\": {v:?}}}"),
            None => format!("; label {REPLICAS_LABEL} removed"),
        };
        commands.push(format!(
            "{hn}: docker API POST /services/{s}/update?version={v} with its spec and {{\"Mode\": {{\"Replicated\": {{\"Replicas\": {r}}}}}{labels}}} (was {b} replicas)",
            s = u.service,
            v = u.version,
            r = u.replicas_after,
            b = u.replicas_before,
        ));
        commands.push(format!(
            "{hn}: docker API GET /tasks?filters={{\"service\":[\"{s}\"]}} until {r} running",
            s = u.service,
            r = u.replicas_after
        ));
    }
    Ok(finish(
        g,
        format!(
            "scale-{} on {hn}{}",
            if up { "up" } else { "down" },
            if updates.is_empty() {
                if up {
                    ": no service remembers a count from scale-down"
                } else {
                    ": nothing to scale down (global services, or already scaled down)"
                }
            } else {
                ""
            }
        ),
        commands,
        json!({ "services": to_json(&updates) }),
    ))
}

pub async fn owners(host: &str, vol: &str, m: MapOwner, g: &Global) -> Result<Value, Failure> {
    volume::check_volume_name(vol)?;
    let dh = DockerHost::connect(&spec(host)?).await?;
    let v = volume::inspect(&dh, vol).await?;
    let n = owners::remap_count(&dh.host, &v.mountpoint, m).await?;
    let hn = dh.name();
    dh.close().await;
    let commands = if n == 0 {
        Vec::new()
    } else {
        vec![on(&hn, &owners::remap_script(&v.mountpoint, m))]
    };
    Ok(finish(
        g,
        format!(
            "remap owner {} → {} on volume {vol} on {hn}: {n} entries would change",
            m.from, m.to
        ),
        commands,
        json!({ "would_remap": n }),
    ))
}

pub async fn daemon(action: &str, host: &str, g: &Global) -> Result<Value, Failure> {
    let h = migrate_remote::Host::connect(&spec(host)?)
        .await
        .map_err(DockerError::from)?;
    let init = daemon::detect(&h).await?;
    let hn = h.name();
    h.close().await;
    Ok(finish(
        g,
        format!("{action} docker on {hn} ({init:?})"),
        vec![stop_start(&hn, &init, action == "stop")],
        json!({ "init": to_json(&init) }),
    ))
}

fn none_if_empty(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}
