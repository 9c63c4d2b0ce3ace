//! `migrate volume SRC:VOLUME DST[:VOLUME]`: create the destination volume,
//! copy the data with the copy engine (server to server, numeric owners, a
//! pre-sync then a final pass), verify, and check ownership.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::VolumeCreateRequest;
use migrate_copy::{CopyOptions, Outcome, Summary};
use migrate_progress::Report;
use migrate_remote::{HostSpec, Location, sh_quote};
use serde::Serialize;
use tracing::{info, instrument, warn};

use crate::conn::DockerHost;
use crate::error::DockerError;
use crate::lifecycle::{self, Selector};
use crate::owners::{self, MapOwner, OwnerReport};

#[derive(Debug, Clone)]
pub struct VolumeMove {
    pub src: HostSpec,
    pub src_volume: String,
    pub dst: HostSpec,
    pub dst_volume: String,
    /// Overwrite a non-empty destination volume (after a backup).
    pub force: bool,
    /// Stop the containers using the source volume for the final pass, and
    /// start them again afterwards.
    pub stop: bool,
    pub map_owner: Option<MapOwner>,
    pub streams: migrate_copy::link::Streams,
}

#[derive(Debug, Clone, Serialize)]
pub struct VolumeReport {
    pub src: String,
    pub dst: String,
    pub src_mountpoint: String,
    pub dst_mountpoint: String,
    pub created: bool,
    /// Backup of the destination's previous content (with --force).
    pub backup: Option<String>,
    pub files: u64,
    pub bytes: u64,
    pub passes: Vec<PassReport>,
    pub stopped: Vec<String>,
    pub restarted: Vec<String>,
    pub identical: bool,
    pub remapped: Option<u64>,
    pub owners: OwnerReport,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PassReport {
    pub final_pass: bool,
    pub files_sent: u64,
    pub bytes_sent: u64,
    pub seconds: f64,
    pub mode: String,
}

/// Parse `HOST:VOLUME` (the volume part is required).
pub fn parse_src(s: &str) -> Result<(HostSpec, String), DockerError> {
    match split_host_volume(s)? {
        (h, Some(v)) => Ok((h, v)),
        (_, None) => Err(DockerError::BadInput(format!(
            "`{s}`: write HOST:VOLUME, e.g. src:nextcloud_data"
        ))),
    }
}

/// Parse `HOST[:VOLUME]`.
pub fn parse_dst(s: &str) -> Result<(HostSpec, Option<String>), DockerError> {
    split_host_volume(s)
}

fn split_host_volume(s: &str) -> Result<(HostSpec, Option<String>), DockerError> {
    // ssh://user@host:port carries a colon of its own: a volume after it
    // follows the last '/'-free colon past the authority, written ssh://h:22:VOL.
    let (h, v) = if let Some(rest) = s.strip_prefix("ssh://") {
        let at = rest.rfind('@').map_or(0, |i| i + 1);
        let colons: Vec<usize> = rest[at..].match_indices(':').map(|(i, _)| at + i).collect();
        let has_port = colons.first().is_some_and(|&c| {
            rest[c + 1..]
                .split(':')
                .next()
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        });
        let vol_colon = if has_port {
            colons.get(1)
        } else {
            colons.first()
        };
        match vol_colon {
            Some(&c) => (&s[..6 + c], Some(&rest[c + 1..])),
            None => (s, None),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, v)) if !h.is_empty() => (h, Some(v)),
            _ => (s, None),
        }
    };
    let host = HostSpec::parse(h).map_err(DockerError::from)?;
    if let Some(v) = v {
        check_volume_name(v)?;
    }
    Ok((host, v.map(str::to_string)))
}

/// Docker's own rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_volume_name(v: &str) -> Result<(), DockerError> {
    let ok = v.len() >= 2
        && v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(DockerError::BadInput(format!(
            "`{v}` is not a docker volume name (letters, digits, `_`, `.`, `-`, at least 2 characters)"
        )))
    }
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Inspect a volume; a missing one is `NoSuchVolume`.
pub async fn inspect(dh: &DockerHost, name: &str) -> Result<bollard::models::Volume, DockerError> {
    dh.docker.inspect_volume(name).await.map_err(|e| {
        if is_not_found(&e) {
            DockerError::NoSuchVolume {
                host: dh.name(),
                volume: name.to_string(),
            }
        } else {
            dh.api_err(format!("inspecting volume {name}"), e)
        }
    })
}

/// How many entries a directory holds at its top level (0 = empty).
async fn top_entries(dh: &DockerHost, path: &str) -> Result<u64, DockerError> {
    let cmd = format!(
        "find {} -mindepth 1 -maxdepth 1 -printf x | wc -c",
        sh_quote(path)
    );
    let out = dh
        .host
        .sh("checking the destination volume", &cmd, None)
        .await?;
    Ok(String::from_utf8_lossy(&out).trim().parse().unwrap_or(0))
}

/// Tar the destination's current content next to the docker root before it
/// is overwritten (numeric owners, xattrs), and name the file.
async fn backup(dh: &DockerHost, volume: &str, mountpoint: &str) -> Result<String, DockerError> {
    let cmd = format!(
        r#"set -e; umask 077; d=/var/backups/migrate; mkdir -p "$d"
f="$d/volume-{v}-$(date -u +%Y%m%dT%H%M%SZ).tar"
tar -C {mp} --numeric-owner --xattrs -cf "$f" .
echo "$f""#,
        v = volume,
        mp = sh_quote(mountpoint)
    );
    let out = dh
        .host
        .sh("backing up the destination volume", &cmd, None)
        .await?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

async fn pass(
    opts: &CopyOptions,
    progress: &dyn Report,
    task: &str,
) -> Result<Summary, DockerError> {
    let mut shown = migrate_copy::report::Shown::new(progress, task);
    let mut on = |p: &migrate_copy::Progress| shown.on(p);
    let res = migrate_copy::run(opts, &mut on).await;
    shown.end();
    match res? {
        Outcome::Finished(s) => Ok(s),
        Outcome::Detached { job_id, .. } => Err(DockerError::Failed(format!(
            "copy job {job_id} detached unexpectedly"
        ))),
    }
}

#[instrument(skip_all, fields(src = %m.src, vol = %m.src_volume, dst = %m.dst))]
pub async fn move_volume(
    m: &VolumeMove,
    progress: &dyn Report,
) -> Result<VolumeReport, DockerError> {
    check_volume_name(&m.src_volume)?;
    check_volume_name(&m.dst_volume)?;
    if m.src == m.dst && m.src_volume == m.dst_volume {
        return Err(DockerError::BadInput(
            "source and destination are the same volume".into(),
        ));
    }
    let (s, d) = tokio::try_join!(DockerHost::connect(&m.src), DockerHost::connect(&m.dst))?;
    let sv = inspect(&s, &m.src_volume).await?;
    if sv.driver != "local" {
        return Err(DockerError::Refused(format!(
            "volume {} on {} uses the `{}` driver; only `local` volumes have their data on the server's disk",
            m.src_volume,
            s.name(),
            sv.driver
        )));
    }
    let mut warnings = Vec::new();
    let mut created = false;
    let mut backup_file = None;
    let dv = match d.docker.inspect_volume(&m.dst_volume).await {
        Ok(v) => {
            let n = top_entries(&d, &v.mountpoint).await?;
            if n > 0 {
                if !m.force {
                    return Err(DockerError::VolumeNotEmpty {
                        host: d.name(),
                        volume: m.dst_volume.clone(),
                        what: format!("{n} entries at its top level"),
                    });
                }
                let f = backup(&d, &m.dst_volume, &v.mountpoint).await?;
                info!(backup = %f, "destination volume backed up");
                backup_file = Some(f);
            }
            v
        }
        Err(e) if is_not_found(&e) => {
            let mut labels: HashMap<String, String> = sv.labels.clone();
            if m.dst_volume != m.src_volume {
                // A renamed volume belongs to another project/stack now.
                labels.retain(|k, _| {
                    !k.starts_with("com.docker.compose.") && !k.starts_with("com.docker.stack.")
                });
            }
            let v = d
                .docker
                .create_volume(VolumeCreateRequest {
                    name: Some(m.dst_volume.clone()),
                    driver: Some(sv.driver.clone()),
                    driver_opts: Some(sv.options.clone()),
                    labels: Some(labels),
                    ..Default::default()
                })
                .await
                .map_err(|e| d.api_err(format!("creating volume {}", m.dst_volume), e))?;
            created = true;
            v
        }
        Err(e) => return Err(d.api_err(format!("inspecting volume {}", m.dst_volume), e)),
    };

    let base = CopyOptions {
        src: Location {
            host: m.src.clone(),
            path: sv.mountpoint.clone(),
        },
        dst: Location {
            host: m.dst.clone(),
            path: dv.mountpoint.clone(),
        },
        final_pass: false,
        verify: false,
        verify_sent: false,
        streams: m.streams,
        compress: false,
        relay: false,
        detach: false,
        bwlimit: None,
        exclude: Vec::new(),
        // Emptiness was checked above (and a backup taken with --force).
        force: true,
        delete_without_backup: false,
    };
    let users = lifecycle::select(
        &s,
        &Selector {
            volumes: vec![m.src_volume.clone()],
            ..Default::default()
        },
    )
    .await?;
    let running: Vec<String> = users
        .iter()
        .filter(|c| c.state == "running")
        .map(|c| c.name.clone())
        .collect();
    let mut passes = Vec::new();
    let mut stopped = Vec::new();
    if !running.is_empty() {
        // Bulk while the app runs, then a short final pass while it is stopped.
        let p = pass(&base, progress, "volume (live pass)").await?;
        passes.push(p);
        if m.stop {
            stopped = lifecycle::stop(
                &s,
                &Selector {
                    containers: running.clone(),
                    ..Default::default()
                },
            )
            .await?
            .stopped;
        } else {
            warnings.push(format!(
                "{} still running on {} while the volume was copied: the copy may be inconsistent; use --stop",
                running.join(", "),
                s.name()
            ));
        }
    }
    let fin = CopyOptions {
        final_pass: true,
        verify: true,
        verify_sent: false,
        ..base.clone()
    };
    let res = pass(&fin, progress, "volume").await;
    let mut restarted = Vec::new();
    if !stopped.is_empty() {
        match lifecycle::start(&s, &stopped, Duration::from_secs(180)).await {
            Ok(r) => restarted = r,
            Err(e) => warnings.push(format!(
                "could not restart {} on {}: {e}",
                stopped.join(", "),
                s.name()
            )),
        }
    }
    let fsum = res?;
    let verdict = fsum.verdict.clone().unwrap_or_default();
    if !verdict.identical() {
        return Err(DockerError::NotIdentical {
            what: format!("volume {} → {}", m.src_volume, m.dst_volume),
            list: verdict
                .differences
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    passes.push(fsum);
    let remapped = match m.map_owner {
        Some(map) => Some(owners::remap(&d.host, &dv.mountpoint, map).await?),
        None => None,
    };
    let found = owners::scan(&d.host, &dv.mountpoint).await?;
    let mut cusers = owners::volume_users(&s, &m.src_volume).await?;
    cusers.extend(owners::volume_users(&d, &m.dst_volume).await?);
    let owner_report = owners::judge(&found, &cusers);
    for p in &owner_report.problems {
        warn!("{p}");
    }
    let report = VolumeReport {
        src: format!("{}:{}", m.src, m.src_volume),
        dst: format!("{}:{}", m.dst, m.dst_volume),
        src_mountpoint: sv.mountpoint.clone(),
        dst_mountpoint: dv.mountpoint.clone(),
        created,
        backup: backup_file,
        files: verdict.files,
        bytes: verdict.bytes,
        passes: passes
            .iter()
            .map(|p| PassReport {
                final_pass: p.final_pass,
                files_sent: p.files_sent,
                bytes_sent: p.bytes_sent,
                seconds: p.seconds,
                mode: p.mode.to_string(),
            })
            .collect(),
        stopped,
        restarted,
        identical: true,
        remapped,
        owners: owner_report,
        warnings,
    };
    s.close().await;
    d.close().await;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_volume_addresses() {
        let (h, v) = parse_src("src:nextcloud_data").unwrap();
        assert_eq!(h, HostSpec::Ssh { dest: "src".into() });
        assert_eq!(v, "nextcloud_data");
        let (h, v) = parse_dst("ssh://root@127.0.0.3:22:cloud_example_net_data").unwrap();
        assert_eq!(
            h,
            HostSpec::Ssh {
                dest: "ssh://root@127.0.0.3:22".into()
            }
        );
        assert_eq!(v.as_deref(), Some("cloud_example_net_data"));
        let (h, v) = parse_dst("ssh://root@127.0.0.3:22").unwrap();
        assert_eq!(
            h,
            HostSpec::Ssh {
                dest: "ssh://root@127.0.0.3:22".into()
            }
        );
        assert_eq!(v, None);
        let (_, v) = parse_dst("dst").unwrap();
        assert_eq!(v, None);
        assert!(parse_src("src").is_err());
        assert!(parse_src("src:../etc").is_err());
        assert!(parse_src("local:x").is_err());
    }
}
