//! Whole docker-root moves. Between two servers: stop docker on both ends
//! (masked first where systemd exists), copy the source's data root onto
//! the destination's with the copy engine (final pass, verified), start the
//! destination's daemon and check it serves the same volumes and images.
//! On one host: copy the data root onto a bigger disk and bind-mount it in
//! place, so every path that names /var/lib/docker keeps working.

use std::collections::BTreeSet;

use migrate_copy::{CopyOptions, Outcome};
use migrate_progress::Report;
use migrate_remote::{Host, HostSpec, Location, sh_quote};
use serde::Serialize;
use tracing::{info, instrument, warn};

use crate::conn::DockerHost;
use crate::daemon::{self, DaemonStep, Init};
use crate::error::DockerError;
use crate::inventory::{self, Inventory};

#[derive(Debug, Clone)]
pub struct RootMove {
    pub src: HostSpec,
    pub dst: HostSpec,
    /// Replace a destination docker root that holds images, volumes or
    /// containers (it is saved to a tar first).
    pub force: bool,
    /// Start the source's daemon again afterwards (default: it stays
    /// stopped, so the app cannot run in two places).
    pub restart_source: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RootReport {
    pub src_root: String,
    pub dst_root: String,
    pub steps: Vec<DaemonStep>,
    pub backup: Option<String>,
    pub files: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub volumes: Vec<String>,
    pub images: Vec<String>,
    pub notes: Vec<String>,
}

/// What a daemon serves, for the before/after comparison.
fn served(inv: &Inventory) -> (BTreeSet<String>, BTreeSet<String>) {
    (
        inv.volumes.iter().map(|v| v.name.clone()).collect(),
        inv.images.iter().map(|i| i.id.clone()).collect(),
    )
}

fn is_empty_root(inv: &Inventory) -> bool {
    inv.volumes.is_empty() && inv.images.is_empty() && inv.containers.is_empty()
}

async fn tar_backup(host: &Host, root: &str) -> Result<String, DockerError> {
    let cmd = format!(
        r#"set -e; umask 077; d=/var/backups/migrate; mkdir -p "$d"
f="$d/docker-root-$(date -u +%Y%m%dT%H%M%SZ).tar"
tar -C {r} --numeric-owner --xattrs --xattrs-include='*' --sparse -cf "$f" .
echo "$f""#,
        r = sh_quote(root)
    );
    let out = host
        .sh("backing up the destination docker root", &cmd, None)
        .await?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

async fn copy_tree(
    src: &HostSpec,
    src_path: &str,
    dst: &HostSpec,
    dst_path: &str,
    progress: &dyn Report,
) -> Result<migrate_copy::Summary, DockerError> {
    let opts = CopyOptions {
        src: Location {
            host: src.clone(),
            path: src_path.to_string(),
        },
        dst: Location {
            host: dst.clone(),
            path: dst_path.to_string(),
        },
        final_pass: true,
        verify: true,
        verify_sent: false,
        streams: migrate_copy::link::Streams::Auto,
        compress: false,
        relay: false,
        detach: false,
        bwlimit: None,
        exclude: Vec::new(),
        // The caller decided (empty, or --force with a backup).
        force: true,
        delete_without_backup: false,
    };
    let mut shown = migrate_copy::report::Shown::new(progress, "docker root");
    let mut on = |p: &migrate_copy::Progress| shown.on(p);
    let res = migrate_copy::run(&opts, &mut on).await;
    shown.end();
    let sum = match res? {
        Outcome::Finished(s) => s,
        Outcome::Detached { job_id, .. } => {
            return Err(DockerError::Failed(format!(
                "copy job {job_id} detached unexpectedly"
            )));
        }
    };
    if let Some(v) = &sum.verdict
        && !v.identical()
    {
        return Err(DockerError::NotIdentical {
            what: format!("{src}:{src_path} → {dst}:{dst_path}"),
            list: v
                .differences
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    Ok(sum)
}

async fn check_served(
    dst: &HostSpec,
    want: &(BTreeSet<String>, BTreeSet<String>),
) -> Result<Inventory, DockerError> {
    let d = DockerHost::connect(dst).await?;
    let inv = inventory::inventory(&d).await?;
    d.close().await;
    let got = served(&inv);
    let missing_v: Vec<&String> = want.0.difference(&got.0).collect();
    let missing_i: Vec<&String> = want.1.difference(&got.1).collect();
    if !missing_v.is_empty() || !missing_i.is_empty() {
        return Err(DockerError::NotIdentical {
            what: format!("the docker daemon on {dst}"),
            list: format!("volumes missing: {missing_v:?}\nimages missing: {missing_i:?}"),
        });
    }
    Ok(inv)
}

/// Two servers: mask/stop both, copy, unmask/start the destination.
#[instrument(skip_all, fields(src = %m.src, dst = %m.dst))]
pub async fn move_root(m: &RootMove, progress: &dyn Report) -> Result<RootReport, DockerError> {
    if m.src == m.dst {
        return Err(DockerError::BadInput(
            "source and destination are the same host; use `migrate docker root-relocate HOST NEW_DIR` to move the docker root to another disk".into(),
        ));
    }
    let (s, d) = tokio::try_join!(DockerHost::connect(&m.src), DockerHost::connect(&m.dst))?;
    let (si, di) = tokio::try_join!(inventory::inventory(&s), inventory::inventory(&d))?;
    let want = served(&si);
    let mut notes = Vec::new();
    if si.swarm == "active" {
        notes.push("the source is a swarm node: its swarm state is copied too; run `docker swarm init --force-new-cluster` or leave the swarm on the destination".into());
    }
    if !is_empty_root(&di) && !m.force {
        return Err(DockerError::Refused(format!(
            "docker on {} already holds {} images, {} volumes and {} containers; refusing to replace its docker root. Pass --force (it is saved to /var/backups/migrate first)",
            d.name(),
            di.images.len(),
            di.volumes.len(),
            di.containers.len()
        )));
    }
    let running: Vec<String> = si
        .containers
        .iter()
        .filter(|c| c.state == "running")
        .map(|c| c.name.clone())
        .collect();
    if !running.is_empty() {
        notes.push(format!(
            "containers running on the source were stopped with its daemon: {}",
            running.join(", ")
        ));
    }
    let (sh, dh) = (s.host.clone(), d.host.clone());
    s.close().await;
    d.close().await;
    let (sinit, dinit) = tokio::try_join!(daemon::detect(&sh), daemon::detect(&dh))?;
    let mut steps = vec![daemon::stop(&dh, &dinit).await?];
    match daemon::stop(&sh, &sinit).await {
        Ok(st) => steps.push(st),
        Err(e) => {
            let _ = daemon::start(&dh, &dinit).await;
            return Err(e);
        }
    }
    // From here on, both daemons are down: every failure path starts them again.
    let restore = |e: DockerError| async {
        let _ = daemon::start(&sh, &sinit).await;
        let _ = daemon::start(&dh, &dinit).await;
        e
    };
    let backup = if is_empty_root(&di) {
        None
    } else {
        match tar_backup(&dh, &di.docker_root).await {
            Ok(f) => Some(f),
            Err(e) => return Err(restore(e).await),
        }
    };
    let sum = match copy_tree(&m.src, &si.docker_root, &m.dst, &di.docker_root, progress).await {
        Ok(s) => s,
        Err(e) => {
            let mut msg = e.to_string();
            if let Some(b) = &backup {
                msg.push_str(&format!(
                    "\n  the destination's previous docker root is saved in {b} on {}",
                    dh.name()
                ));
            }
            return Err(restore(DockerError::Failed(format!(
                "copying the docker root failed: {msg}"
            )))
            .await);
        }
    };
    info!(
        files = sum.files_sent,
        bytes = sum.bytes_sent,
        "docker root copied"
    );
    steps.push(daemon::start(&dh, &dinit).await?);
    if m.restart_source {
        steps.push(daemon::start(&sh, &sinit).await?);
    } else {
        if sinit == Init::Systemd {
            sh.sh(
                "unmasking docker on the source",
                "systemctl unmask docker.socket docker.service >/dev/null",
                None,
            )
            .await?;
        }
        notes.push(format!(
            "docker on {} stays stopped so the apps cannot run in two places; `migrate docker daemon start {}` starts it again",
            sh.name(),
            sh.name()
        ));
    }
    let inv = check_served(&m.dst, &want).await?;
    Ok(RootReport {
        src_root: si.docker_root,
        dst_root: di.docker_root,
        steps,
        backup,
        files: sum.verdict.as_ref().map_or(sum.files_sent, |v| v.files),
        bytes: sum.verdict.as_ref().map_or(sum.bytes_sent, |v| v.bytes),
        seconds: sum.seconds,
        volumes: inv.volumes.iter().map(|v| v.name.clone()).collect(),
        images: inv.images.iter().flat_map(|i| i.tags.clone()).collect(),
        notes,
    })
}

#[derive(Debug, Clone)]
pub struct Relocate {
    pub host: HostSpec,
    /// The new home of the data, e.g. /mnt/bigdisk/docker.
    pub new_dir: String,
    /// Also add the bind mount to /etc/fstab.
    pub fstab: bool,
}

/// One host: stop docker, copy its root to `new_dir`, bind-mount `new_dir`
/// over the old root, start docker.
#[instrument(skip_all, fields(host = %r.host, new = %r.new_dir))]
pub async fn relocate(r: &Relocate, progress: &dyn Report) -> Result<RootReport, DockerError> {
    let dh0 = DockerHost::connect(&r.host).await?;
    let inv = inventory::inventory(&dh0).await?;
    let root = inv.docker_root.clone();
    let host = dh0.host.clone();
    dh0.close().await;
    let nd = r.new_dir.trim_end_matches('/').to_string();
    if !nd.starts_with('/') || nd.split('/').any(|c| c == "..") || nd.is_empty() {
        return Err(DockerError::BadInput(format!(
            "`{}`: give an absolute path without `..`",
            r.new_dir
        )));
    }
    if nd == root || nd.starts_with(&format!("{root}/")) || root.starts_with(&format!("{nd}/")) {
        return Err(DockerError::BadInput(format!(
            "{nd} overlaps the docker root {root}"
        )));
    }
    let q = sh_quote(&nd);
    let rq = sh_quote(&root);
    let probe = format!(
        "if mountpoint -q {rq} && findmnt -n -o SOURCE {rq} | grep -q '\\['; then echo bound; fi
         if [ -e {q} ] && [ -n \"$(find {q} -mindepth 1 -maxdepth 1 -print -quit)\" ]; then echo nonempty; fi
         command -v mount >/dev/null || echo nomount"
    );
    let p = String::from_utf8_lossy(&host.sh("checking the new directory", &probe, None).await?)
        .to_string();
    if p.contains("nonempty") {
        return Err(DockerError::Refused(format!(
            "{nd} on {} is not empty; give an empty or new directory",
            host.name()
        )));
    }
    if p.contains("nomount") {
        return Err(DockerError::Failed(format!(
            "`mount` is missing on {} (Debian: apt-get install mount)",
            host.name()
        )));
    }
    let want = served(&inv);
    let init = daemon::detect(&host).await?;
    let mut steps = vec![daemon::stop(&host, &init).await?];
    host.sh(
        "creating the new directory",
        &format!("mkdir -p {q} && chmod 711 {q}"),
        None,
    )
    .await?;
    let sum = match copy_tree(&r.host, &root, &r.host, &nd, progress).await {
        Ok(s) => s,
        Err(e) => {
            let _ = daemon::start(&host, &init).await;
            return Err(e);
        }
    };
    let mut notes = Vec::new();
    if let Err(e) = host
        .sh(
            "bind-mounting the new docker root",
            &format!("mount --bind {q} {rq}"),
            None,
        )
        .await
    {
        let _ = daemon::start(&host, &init).await;
        return Err(DockerError::Failed(format!(
            "the copy in {nd} is complete, but bind-mounting it on {root} failed ({e}); docker was started again on the old root"
        )));
    }
    let line = format!("{nd} {root} none bind 0 0");
    if r.fstab {
        host.sh(
            "adding the bind mount to /etc/fstab",
            &format!(
                "grep -qxF {l} /etc/fstab || printf '%s\\n' {l} >> /etc/fstab",
                l = sh_quote(&line)
            ),
            None,
        )
        .await?;
        notes.push(format!("added to /etc/fstab: {line}"));
    } else {
        notes.push(format!("the bind mount does not survive a reboot yet: add `{line}` to /etc/fstab (or rerun with --fstab)"));
    }
    if init == Init::Systemd {
        notes.push(
            "systemd: consider RequiresMountsFor=".to_string()
                + &root
                + " in a docker.service drop-in",
        );
    }
    notes.push(format!(
        "the old data is still under the bind mount on {root}; once all is well, reclaim it: stop docker, `umount {root}`, delete its contents, mount again"
    ));
    steps.push(daemon::start(&host, &init).await?);
    let after = check_served(&r.host, &want).await;
    if let Err(e) = &after {
        warn!("{e}");
    }
    let inv2 = after?;
    Ok(RootReport {
        src_root: root.clone(),
        dst_root: nd,
        steps,
        backup: None,
        files: sum.verdict.as_ref().map_or(sum.files_sent, |v| v.files),
        bytes: sum.verdict.as_ref().map_or(sum.bytes_sent, |v| v.bytes),
        seconds: sum.seconds,
        volumes: inv2.volumes.iter().map(|v| v.name.clone()).collect(),
        images: inv2.images.iter().flat_map(|i| i.tags.clone()).collect(),
        notes,
    })
}
