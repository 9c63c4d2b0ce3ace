//! One `migrate copy` run, from the operator's side: probe both servers,
//! build manifests, plan the pass, hand the job to the source server (or
//! relay it), follow its progress, and verify.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use migrate_remote::registry::{self, JobKind, JobRecord};
use migrate_remote::{Host, HostSpec, Location, SshCommand, SshOpt, sh_quote, trust};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{info, instrument, warn};

use crate::error::CopyError;
use crate::exclude::Excludes;
use crate::link::{self, Streams};
use crate::manifest::{self, Entry};
use crate::plan::{self, Plan};
use crate::remote_cmds::{self, parse_kv};
use crate::script::{self, ScriptParams};
use crate::verify::{self, Verdict};

/// Rough tar overhead per archived file (header, pax record, padding), used
/// to turn archive bytes into data bytes for progress.
const TAR_OVERHEAD_PER_FILE: u64 = 1800;

#[derive(Debug, Clone)]
pub struct CopyOptions {
    pub src: Location,
    pub dst: Location,
    pub final_pass: bool,
    /// Afterwards compare both trees whole, contents included.
    pub verify: bool,
    /// Afterwards hash what this pass sent on both servers and compare
    /// those files only (a pass that walked an empty destination sent
    /// everything: it is verified whole). `verify` supersedes it.
    pub verify_sent: bool,
    /// Fixed by the operator, or chosen from the link and the cores
    /// (`link::choose`) once the source has measured the link.
    pub streams: Streams,
    pub compress: bool,
    pub relay: bool,
    pub detach: bool,
    pub bwlimit: Option<String>,
    /// rsync-style patterns of names to leave out (see `exclude`).
    pub exclude: Vec<String>,
    pub force: bool,
    /// Remove for good what the pass removes from the destination, instead
    /// of moving it aside into a dated directory beside it.
    pub delete_without_backup: bool,
}

/// What the operator sees while a copy runs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Progress {
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// (bytes done, bytes total) per stream.
    pub streams: Vec<(u64, u64)>,
    pub elapsed_secs: f64,
}

impl Progress {
    /// Whether the totals are known (a walk knows them once it has counted
    /// the tree).
    pub fn totals_known(&self) -> bool {
        self.bytes_total > 0 || self.files_total > 0
    }

    /// Cap every counter at its total, where the total is known.
    pub fn clamp(&mut self) {
        if self.totals_known() {
            self.files_done = self.files_done.min(self.files_total);
            self.bytes_done = self.bytes_done.min(self.bytes_total);
        }
        for (d, t) in &mut self.streams {
            if *t > 0 {
                *d = (*d).min(*t);
            }
        }
    }
}

/// The plan as stored next to the job on the source (read by `migrate status`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PlanInfo {
    pub id: String,
    pub src: String,
    pub dst: String,
    pub final_pass: bool,
    pub files: u64,
    pub bytes: u64,
    pub deleted: u64,
    pub stream_files: Vec<u64>,
    pub stream_bytes: Vec<u64>,
    /// Walk mode: the job lists the source itself, so the totals are not
    /// known until it ends (then its `sent` file has them).
    #[serde(default)]
    pub walk: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub job_id: String,
    pub src: String,
    pub dst: String,
    pub final_pass: bool,
    pub files_sent: u64,
    pub bytes_sent: u64,
    pub deleted: u64,
    /// What the pass removed from the destination (relative paths, the
    /// first `LISTED_DELETIONS`; `deleted` counts them all).
    pub deletions: Vec<String>,
    /// Where they went: the dated directory beside the destination, or
    /// None when they were deleted (`--delete-without-backup`) or there
    /// were none.
    pub aside: Option<String>,
    pub seconds: f64,
    /// Of `seconds`, listing the trees and comparing them (0 when the
    /// listing overlapped the streams, into an empty destination).
    pub listing_seconds: f64,
    pub mode: &'static str,
    /// How many tar streams ran, and why that many.
    pub streams: usize,
    pub streams_why: String,
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub verdict: Option<Box<Verdict>>,
}

#[derive(Debug)]
pub enum Outcome {
    Detached { job_id: String, src_host: String },
    Finished(Summary),
}

/// The smallest pass worth probing the link for: the probe moves 4 MiB
/// through it, and compressing saves the 7-9 % that tar's headers make of a
/// media stream, so below about 50 MiB the probe costs more than it can win,
/// on a slow link as on a fast one (a 1 % final pass is typically smaller).
pub(crate) const PROBE_MIN_BYTES: u64 = 64 << 20;

/// This machine's own ssh to dst (the source is this machine): its config,
/// agent and known_hosts, no questions asked.
pub(crate) fn operator_ssh(dst_dest: &str) -> Result<SshCommand, migrate_remote::RemoteError> {
    Ok(SshCommand::new(
        dst_dest,
        vec![
            SshOpt::option("BatchMode", "yes")?,
            SshOpt::option("StrictHostKeyChecking", "yes")?,
        ],
    )?)
}

/// How long a copy's temporary key is accepted if nothing removes it. A
/// copy opens new connections to dst for as long as it runs (each chunk,
/// each retry), so the key must outlive the slowest plausible copy of the
/// whole source filesystem: the pipe's few hours, plus one hour per 8 GiB
/// in use there (about 2.3 MB/s, a 20 Mbit/s link).
fn key_lifetime(src_probe: &HashMap<String, String>) -> Duration {
    let used_bytes = src_probe
        .get("usedk")
        .and_then(|k| k.parse::<u64>().ok())
        .unwrap_or(0)
        .saturating_mul(1024);
    trust::DEFAULT_LIFETIME + Duration::from_secs(3600 * used_bytes.div_ceil(8 << 30))
}

/// How many removed paths a summary names (the count is always whole).
pub const LISTED_DELETIONS: usize = 1000;

/// Where this pass moves what it removes from the destination.
/// Whether the job walks the source itself (see `ScriptParams::walk`),
/// from the two probes' answers.
/// Free space on the destination's filesystem, from its probe.
fn avail_bytes(dp: &HashMap<String, String>) -> u64 {
    dp.get("availk")
        .and_then(|a| a.parse::<u64>().ok())
        .map_or(u64::MAX, |k| k.saturating_mul(1024))
}

pub(crate) fn walks(
    sp: &HashMap<String, String>,
    dp: &HashMap<String, String>,
    relay: bool,
) -> bool {
    let has = |m: &HashMap<String, String>, k: &str| m.contains_key(k);
    let avail = avail_bytes(dp);
    // Into an empty destination nothing needs comparing, so the job can walk
    // the source itself and stream while it walks. The space check then
    // cannot use the tree's size; the source's whole filesystem (bytes, plus
    // a block per inode) bounds it. When that does not fit, list first and
    // check precisely.
    let src_fs_need = match (
        sp.get("usedk").and_then(|v| v.parse::<u64>().ok()),
        sp.get("usedi").and_then(|v| v.parse::<u64>().ok()),
    ) {
        (Some(k), Some(i)) => Some(k.saturating_mul(1024) + i.saturating_mul(4096)),
        _ => None,
    };
    !has(dp, "nonempty") && !relay && has(sp, "walk") && src_fs_need.is_some_and(|n| n <= avail)
}

pub(crate) fn aside_for(opts: &CopyOptions, p: &Plan) -> Option<String> {
    (!p.delete.is_empty() && !opts.delete_without_backup)
        .then(|| script::aside_dir(&opts.dst.path, std::time::SystemTime::now()))
}

/// Stable id for a (source, destination) pair: reruns find their job.
pub fn job_id(src: &Location, dst: &Location) -> String {
    let mut h = Sha256::new();
    h.update(src.to_string().as_bytes());
    h.update(b"\n");
    h.update(dst.to_string().as_bytes());
    hex::encode(&h.finalize()[..6])
}

fn missing_tool(host: &Host, tool: &str, package: &str, why: &str) -> CopyError {
    CopyError::MissingTool {
        host: host.name(),
        tool: tool.into(),
        package: package.into(),
        why: why.into(),
    }
}

use migrate_units::human_bytes;

enum Mode {
    /// src streams straight to dst with a temporary key.
    Direct { dst_dest: String },
    /// src streams to dst with the ssh setup src already has (src is the
    /// operator's machine).
    FromLocal { dst_dest: String },
    /// dst is the same host as src.
    SameHost,
    /// Through the operator.
    Relay,
}

impl Mode {
    fn name(&self) -> &'static str {
        match self {
            Mode::Direct { .. } => "direct",
            Mode::FromLocal { .. } => "from-local",
            Mode::SameHost => "same-host",
            Mode::Relay => "relay",
        }
    }
}

pub(crate) async fn read_manifest(
    host: &Host,
    cmd: &str,
    what: &str,
) -> Result<Vec<Entry>, CopyError> {
    read_manifest_with(host, cmd, what, &mut |_| true).await
}

/// Stream a manifest in, keeping the entries `keep` accepts.
async fn read_manifest_with(
    host: &Host,
    cmd: &str,
    what: &str,
    keep: &mut (dyn FnMut(&Entry) -> bool + Send),
) -> Result<Vec<Entry>, CopyError> {
    let bad = |e: manifest::ParseError| CopyError::Manifest {
        host: host.name(),
        why: e.to_string(),
    };
    let mut parser = manifest::StreamParser::default();
    stream_output(host, cmd, what, &mut |chunk| {
        parser.feed_filtered(chunk, keep).map_err(bad)
    })
    .await?;
    parser.finish().map_err(bad)
}

/// Logs how long each phase of a pass took (`RUST_LOG=info` shows them),
/// so a slow copy says where its time went.
struct Phases {
    last: Instant,
    /// How long the listing took (0 in walk mode, where it overlaps the
    /// streams): a downtime prediction's walk rate.
    listing: f64,
}

impl Phases {
    fn new() -> Self {
        Phases {
            last: Instant::now(),
            listing: 0.0,
        }
    }

    fn done(&mut self, phase: &'static str) {
        let secs = self.last.elapsed().as_secs_f64();
        info!(phase, secs = format!("{secs:.2}"), "phase finished");
        if phase == "listing" {
            self.listing += secs;
        }
        self.last = Instant::now();
    }
}

fn nul_join(paths: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(paths.iter().map(|p| p.len() + 1).sum());
    for p in paths {
        out.extend_from_slice(p);
        out.push(0);
    }
    out
}

/// Run a copy pass. `on_progress` is called about once a second.
#[instrument(skip_all, fields(src = %opts.src, dst = %opts.dst))]
pub async fn run(
    opts: &CopyOptions,
    on_progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<Outcome, CopyError> {
    let started = Instant::now();
    let mut ph = Phases::new();
    if let Streams::Fixed(n) = opts.streams
        && (n == 0 || n > 64)
    {
        return Err(CopyError::BadInput(
            "--streams must be between 1 and 64".into(),
        ));
    }
    let excludes = Excludes::new(&opts.exclude)?;
    // A bad key lifetime is refused before anything happens on a server.
    trust::lifetime_from_env()?;
    let (src, dst) =
        tokio::try_join!(Host::connect(&opts.src.host), Host::connect(&opts.dst.host))?;
    ph.done("connect");
    let id = job_id(&opts.src, &opts.dst);
    let same_host = opts.src.host == opts.dst.host;
    if same_host
        && (opts.src.path == opts.dst.path
            || opts.dst.path.starts_with(&format!("{}/", opts.src.path))
            || opts.src.path.starts_with(&format!("{}/", opts.dst.path))
            || opts.src.path == "/"
            || opts.dst.path == "/")
    {
        return Err(CopyError::BadInput(format!(
            "{} and {} overlap; copy into a directory outside the source",
            opts.src, opts.dst
        )));
    }

    let src_probe = remote_cmds::src_probe(&id, &opts.src.path);
    let dst_probe = remote_cmds::dst_probe(&opts.dst.path);
    let (sp, dp) = tokio::try_join!(
        src.sh("checking the source", &src_probe, None),
        dst.sh("checking the destination", &dst_probe, None)
    )?;
    let sp = parse_kv(&sp);
    let dp = parse_kv(&dp);
    ph.done("probe");
    let has = |m: &HashMap<String, String>, k: &str| m.contains_key(k);

    let mode = if same_host {
        Mode::SameHost
    } else if opts.relay {
        Mode::Relay
    } else {
        match (&opts.src.host, &opts.dst.host) {
            (HostSpec::Local, HostSpec::Ssh { dest }) => Mode::FromLocal {
                dst_dest: dest.clone(),
            },
            (HostSpec::Ssh { .. }, HostSpec::Local) => {
                warn!("the destination is this machine: relaying through the operator");
                Mode::Relay
            }
            (_, HostSpec::Ssh { dest }) => Mode::Direct {
                dst_dest: dest.clone(),
            },
            _ => Mode::SameHost,
        }
    };

    // Preconditions, before anything is written anywhere.
    if !has(&sp, "srcdir") {
        return Err(CopyError::MissingPath {
            location: opts.src.to_string(),
        });
    }
    if dp.get("dstdir").map(String::as_str) == Some("0") {
        return Err(CopyError::BadInput(format!(
            "{} exists and is not a directory",
            opts.dst
        )));
    }
    for (m, h) in [(&sp, &src), (&dp, &dst)] {
        if !has(m, "gnutar") {
            return Err(missing_tool(h, "tar", "tar", "GNU tar is needed"));
        }
        if !has(m, "gnufind") {
            return Err(missing_tool(
                h,
                "find",
                "findutils",
                "GNU find is needed for manifests",
            ));
        }
        if opts.compress && !has(m, "tool zstd") {
            return Err(missing_tool(
                h,
                "zstd",
                "zstd",
                "--compress zstd needs it on both servers",
            ));
        }
        if opts.verify && !has(m, "tool sha256sum") {
            return Err(missing_tool(
                h,
                "sha256sum",
                "coreutils",
                "--verify hashes every file",
            ));
        }
    }
    if !has(&sp, "tool bash") {
        return Err(missing_tool(
            &src,
            "bash",
            "bash",
            "the detached job script is bash",
        ));
    }
    if matches!(mode, Mode::Direct { .. } | Mode::FromLocal { .. }) && !has(&sp, "tool ssh") {
        return Err(missing_tool(
            &src,
            "ssh",
            "openssh-client",
            "the source connects to the destination",
        ));
    }
    if matches!(mode, Mode::Direct { .. }) && !has(&sp, "tool ssh-keygen") {
        return Err(missing_tool(
            &src,
            "ssh-keygen",
            "openssh-client",
            "a temporary key is made on the source",
        ));
    }
    if opts.bwlimit.is_some() && !has(&sp, "tool pv") {
        return Err(missing_tool(&src, "pv", "pv", "--bwlimit uses it"));
    }
    let jd = sp
        .get("jobdir")
        .cloned()
        .filter(|j| j.starts_with('/'))
        .ok_or_else(|| CopyError::Manifest {
            host: src.name(),
            why: "cannot tell the job directory (is $HOME set?)".into(),
        })?;
    if let Some(pid) = sp.get("alive") {
        return Err(CopyError::AlreadyRunning {
            host: src.name(),
            pid: pid.clone(),
        });
    }
    let known_job = sp.contains_key("state");
    if has(&dp, "nonempty") && !known_job && !opts.force {
        return Err(CopyError::DestinationNotEmpty {
            location: opts.dst.to_string(),
        });
    }
    let xattrs = has(&sp, "xattrs") && has(&dp, "xattrs");

    registry::upsert(JobRecord {
        id: id.clone(),
        src: opts.src.to_string(),
        dst: opts.dst.to_string(),
        job_dir: jd.clone(),
        relay: matches!(mode, Mode::Relay),
        kind: JobKind::Copy,
    })?;

    let avail = avail_bytes(&dp);
    let walk = walks(&sp, &dp, matches!(mode, Mode::Relay));

    // Manifests. Trust our own last manifest only if that pass completed;
    // otherwise look at what really is on the destination.
    let jq = sh_quote(&jd);
    let src_scan = format!(
        "umask 077; mkdir -p {jq} && {{ {}; }} | tee {jq}/manifest.pending",
        manifest::find_command_excluding(&opts.src.path, &excludes)
    );
    // Our last manifest stands in for the destination only while the
    // destination still looks the way that pass left it.
    // Which names an earlier pass left out is not recorded, so with
    // exclusions the destination is listed (through the same exclusions)
    // rather than trusted: a name excluded now must not look deleted.
    let use_last = !opts.force
        && excludes.is_empty()
        && sp.get("state").map(String::as_str) == Some("done")
        && has(&sp, "hasdone")
        && has(&dp, "nonempty");
    let dst_root_mtime = dp.get("rootmtime").and_then(|m| manifest::parse_mtime(m));
    let dst_scan = manifest::find_command_excluding(&opts.dst.path, &excludes);

    // With our last manifest as the baseline, it is read first and the source
    // listing is compared against it as it streams in, so only changed
    // entries are kept: one full manifest in memory, not two.
    // The temporary key is set up while the source is listed (it does not
    // depend on the listing): its round trips then cost no wall time.
    // The stream count waits for the link probe, which needs the key: the
    // planning below receives it just before it splits the work.
    let cores = (link::cores_of(&sp), link::cores_of(&dp));
    let fallback = opts
        .streams
        .or_cores(cores.0.min(cores.1).or(cores.0.or(cores.1)));
    let (choice_tx, choice_rx) = tokio::sync::oneshot::channel::<link::Choice>();
    let cores_only = link::LinkProbe {
        src_cores: cores.0,
        dst_cores: cores.1,
        ..Default::default()
    };
    // A walk into an empty destination starts at once with the cores'
    // count of streams, and the link is measured while the job connects and
    // walks: at 50 ms the probe's connect and round trips took 1.1 s, all of
    // it before the first byte moved (`bench/copy.sh` SHAPED=1). The job
    // adds streams when the measure asks for them (`late_streams` in the
    // script). A detached job has nobody to measure for it.
    let late = measures_late(opts, walk, matches!(mode, Mode::Direct { .. }));
    let trust_fut = async {
        match &mode {
            Mode::Direct { dst_dest } => {
                let t = trust::setup(&src, &dst, dst_dest, &jd, &id, key_lifetime(&sp)).await?;
                let c = if late {
                    link::choose(opts.streams, &cores_only)
                } else {
                    probe_link(
                        &src,
                        &over_master(&t.dst_ssh, &jd),
                        opts.streams,
                        cores,
                        true,
                    )
                    .await
                };
                let _ = choice_tx.send(c);
                Ok::<_, migrate_remote::RemoteError>(Some(t))
            }
            Mode::FromLocal { dst_dest } => {
                let c = match operator_ssh(dst_dest) {
                    Ok(ssh) => probe_link(&src, &ssh, opts.streams, cores, true).await,
                    Err(_) => link::choose(opts.streams, &link::LinkProbe::default()),
                };
                let _ = choice_tx.send(c);
                Ok(None)
            }
            _ => {
                let _ = choice_tx.send(link::choose(opts.streams, &cores_only));
                Ok(None)
            }
        }
    };
    let choice_rx = async {
        choice_rx.await.unwrap_or_else(|_| link::Choice {
            streams: fallback,
            why: "the link was not measured".into(),
            one_stream: None,
        })
    };
    let planning = async {
        let mut last = None;
        let mut choice_rx = std::pin::pin!(choice_rx);
        if use_last && !walk {
            let b = read_manifest(
                &src,
                &format!("cat {jq}/manifest.done"),
                "reading the last manifest",
            )
            .await?;
            let root = b.iter().find(|e| e.path == b".").map(|e| e.mtime_ns);
            if root.is_some() && root == dst_root_mtime {
                last = Some(b);
            } else {
                warn!("the destination changed since the last pass; comparing with it directly");
            }
        }
        let p = if walk {
            info!("empty destination: the job walks the source while it streams");
            let c = choice_rx.as_mut().await;
            info!(streams = c.streams, why = %c.why, "streams chosen");
            let p = Plan {
                streams: vec![Vec::new(); c.streams],
                stream_bytes: vec![0; c.streams],
                ..Plan::default()
            };
            (p, c)
        } else if let Some(b) = last {
            let mut seen = vec![false; b.len()];
            let reduced = {
                let idx: HashMap<&[u8], usize> = b
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (e.path.as_slice(), i))
                    .collect();
                let mut keep = |e: &Entry| match idx.get(e.path.as_slice()) {
                    Some(&i) => {
                        seen[i] = true;
                        !plan::same(e, &b[i], true) || (e.kind == b'f' && e.nlink > 1)
                    }
                    None => true,
                };
                read_manifest_with(&src, &src_scan, "listing the source", &mut keep).await?
            };
            info!(
                changed = reduced.len(),
                base = b.len(),
                "source compared with the last pass"
            );
            ph.done("listing");
            let c = choice_rx.as_mut().await;
            info!(streams = c.streams, why = %c.why, "streams chosen");
            let p = plan::plan_reduced(
                &reduced,
                Some(&b),
                Some(&seen),
                true,
                opts.final_pass,
                c.streams,
            );
            (p, c)
        } else {
            let base_fut = async {
                if has(&dp, "dstdir") {
                    read_manifest(&dst, &dst_scan, "listing the destination")
                        .await
                        .map(Some)
                } else {
                    Ok(None)
                }
            };
            let (src_m, base) = tokio::try_join!(
                read_manifest(&src, &src_scan, "listing the source"),
                base_fut
            )?;
            info!(entries = src_m.len(), "manifests read");
            ph.done("listing");
            let c = choice_rx.as_mut().await;
            info!(streams = c.streams, why = %c.why, "streams chosen");
            let p = plan::plan(&src_m, base.as_deref(), false, opts.final_pass, c.streams);
            (p, c)
        };
        ph.done("plan");
        Ok::<(Plan, link::Choice), CopyError>(p)
    };
    let (p, early_trust) = tokio::join!(planning, trust_fut);
    let early_trust = match (p.as_ref(), early_trust) {
        (_, Err(e)) => return Err(e.into()),
        (Err(_), Ok(Some(_))) => {
            let _ = trust::teardown(&src, &dst, &jd, &id).await;
            None
        }
        (_, Ok(t)) => t,
    };
    let (p, mut choice) = p?;
    let drop_trust = async |why: &str| {
        if early_trust.is_some() {
            info!(why, "removing the unused temporary key");
            let _ = trust::teardown(&src, &dst, &jd, &id).await;
        }
    };

    let need = p.bytes + 4096 * p.files;
    if need > avail {
        drop_trust("no room on the destination").await;
        return Err(CopyError::NotEnoughSpace {
            location: opts.dst.to_string(),
            need: human_bytes(need),
            avail: human_bytes(avail),
        });
    }

    let aside = aside_for(opts, &p);
    let deletions: Vec<String> = p
        .delete
        .iter()
        .take(LISTED_DELETIONS)
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .collect();
    for d in &deletions {
        match &aside {
            Some(a) => info!(path = %d, aside = %a, "moving aside on the destination"),
            None => warn!(path = %d, "deleting on the destination (--delete-without-backup)"),
        }
    }
    let info_ = PlanInfo {
        id: id.clone(),
        src: opts.src.to_string(),
        dst: opts.dst.to_string(),
        final_pass: opts.final_pass,
        files: p.files,
        bytes: p.bytes,
        deleted: p.delete.len() as u64,
        stream_files: p.streams.iter().map(|s| s.len() as u64).collect(),
        stream_bytes: p.stream_bytes.clone(),
        walk,
    };
    let mut warnings = Vec::new();
    let mut sent = None;

    if p.is_empty() && !walk {
        drop_trust("nothing to send").await;
        src.sh(
            "recording the pass",
            &format!("cd {jq} && mv -f manifest.pending manifest.done && echo done > state"),
            None,
        )
        .await?;
    } else {
        match &mode {
            Mode::Relay => {
                upload_job(&src, &jd, &p, &info_).await?;
                ph.done("upload");
                warn!("relaying through the operator: data crosses this machine's link twice");
                warnings.push(
                    "relayed through this machine: slower than server-to-server, and it stops if this machine disconnects".into(),
                );
                relay(
                    &src,
                    &dst,
                    opts,
                    &jd,
                    &p,
                    xattrs,
                    aside.as_deref(),
                    on_progress,
                    started,
                )
                .await?;
                ph.done("streaming");
            }
            _ => {
                let (dst_ssh, key_removal) = match &mode {
                    Mode::Direct { dst_dest } => {
                        let t = match early_trust.clone() {
                            Some(t) => t,
                            None => {
                                trust::setup(&src, &dst, dst_dest, &jd, &id, key_lifetime(&sp))
                                    .await?
                            }
                        };
                        (
                            Some(t.dst_ssh),
                            Some(trust::removal_script(trust::Keys::Job(&id)).to_string()),
                        )
                    }
                    Mode::FromLocal { dst_dest } => (Some(operator_ssh(dst_dest)?), None),
                    _ => (None, None),
                };
                ph.done("trust");
                // A link measured to be slow is compressed without the job
                // measuring it again.
                let auto = has(&sp, "tool zstd")
                    && has(&dp, "tool zstd")
                    && (walk || p.bytes >= PROBE_MIN_BYTES);
                let slow = choice.one_stream.map(|r| r < script::SLOW_LINK_RATE);
                let late_ssh = dst_ssh.clone().filter(|_| late);
                let params = ScriptParams {
                    job_dir: jd.clone(),
                    src_root: opts.src.path.clone(),
                    dst_root: opts.dst.path.clone(),
                    streams: p.streams.len(),
                    dst_ssh,
                    xattrs,
                    compress: opts.compress || (auto && slow == Some(true)),
                    auto_compress: auto && slow.is_none(),
                    bwlimit: opts.bwlimit.clone(),
                    key_removal,
                    walk,
                    exclude: excludes.clone(),
                    aside: aside.clone(),
                    late_streams: late_ssh.is_some(),
                };
                // One round trip: job files, script, and the detached start.
                let mut files = job_files(&p, &info_, walk)?;
                files.push(("run.sh".into(), script::render(&params).into_bytes()));
                upload_files(&src, &jd, &files, &launch_command(&jd)).await?;
                ph.done("upload+launch");
                if opts.detach {
                    return Ok(Outcome::Detached {
                        job_id: id,
                        src_host: src.name(),
                    });
                }
                let measure = async {
                    let ssh = over_master(late_ssh.as_ref()?, &jd);
                    let c = probe_link(&src, &ssh, opts.streams, cores, false).await;
                    let cmd = format!(
                        "cd {jq} && echo {} > streams.tmp && mv -f streams.tmp streams",
                        c.streams
                    );
                    if let Err(e) = src.sh("handing the job its streams", &cmd, None).await {
                        warn!(error = %e, "the job keeps the streams it started with");
                        return None;
                    }
                    Some(c)
                };
                let (followed, measured) =
                    tokio::join!(follow(&src, &jd, &info_, on_progress, started), measure);
                // The job only ever adds streams to those it started with.
                if let Some(c) = measured {
                    choice = link::Choice {
                        streams: c.streams.max(choice.streams),
                        ..c
                    };
                }
                let (st, kv) = followed?;
                sent = kv.get("sent").cloned();
                if let Some(r) = kv.get("retries") {
                    let (n, last) = r.split_once(' ').unwrap_or((r.as_str(), ""));
                    warnings.push(format!(
                        "{n} stream connection(s) to {} dropped and were started again (last: {}); their files were sent again",
                        dst.name(),
                        last.trim()
                    ));
                }
                ph.done("streaming");
                if matches!(mode, Mode::Direct { .. }) {
                    // The job removes its key itself; this covers a job that
                    // could not (link down at the end).
                    if let Err(e) = trust::teardown(&src, &dst, &jd, &id).await {
                        warnings.push(format!(
                            "could not remove the temporary key: {e}; run `migrate cleanup`"
                        ));
                    }
                }
                ph.done("teardown");
                if st != "done" {
                    return Err(failure(&src, &jd, opts).await);
                }
            }
        }
    }

    let verdict = if opts.verify || (opts.verify_sent && walk) {
        let v = verify_trees(&src, &dst, opts).await?;
        ph.done("verify");
        Some(v)
    } else if opts.verify_sent {
        let paths: Vec<&[u8]> = p.streams.iter().flatten().map(Vec::as_slice).collect();
        let v =
            crate::sent::verify_sent(&src, &dst, &opts.src.path, &opts.dst.path, &paths).await?;
        ph.done("verify sent");
        Some(v)
    } else {
        None
    };
    let (files_sent, bytes_sent) = match (walk, sent) {
        (true, Some(s)) => {
            let mut it = s.split_whitespace().map(|x| x.parse::<u64>().unwrap_or(0));
            (it.next().unwrap_or(0), it.next().unwrap_or(0))
        }
        _ => (p.files, p.bytes),
    };
    Ok(Outcome::Finished(Summary {
        job_id: id,
        src: opts.src.to_string(),
        dst: opts.dst.to_string(),
        final_pass: opts.final_pass,
        files_sent,
        bytes_sent,
        deleted: p.delete.len() as u64,
        deletions,
        aside,
        seconds: started.elapsed().as_secs_f64(),
        listing_seconds: ph.listing,
        mode: mode.name(),
        // A late measure may have added streams to the plan's.
        streams: if late {
            p.streams.len().max(choice.streams)
        } else {
            p.streams.len()
        },
        streams_why: choice.why,
        warnings,
        verdict: verdict.map(Box::new),
    }))
}

/// Whether a pass measures the link while its job starts (see
/// `ScriptParams::late_streams`) rather than before: a walk into an empty
/// destination, server to server (`direct`), with the streams left to the
/// tool and someone there to measure. The run and its dry run ask here.
pub(crate) fn measures_late(opts: &CopyOptions, walk: bool, direct: bool) -> bool {
    walk && direct && !opts.detach && opts.streams == Streams::Auto
}

/// `ssh` through the connection master the key's test left open on src
/// (`JOB_DIR/cm`, see `trust::setup`): a session on it costs a round trip
/// or two, a new connection about fifteen (0.8 s at 50 ms). Where the master
/// is gone, ssh connects directly.
fn over_master(ssh: &SshCommand, jd: &str) -> SshCommand {
    match (
        SshOpt::option("ControlMaster", "no"),
        SshOpt::option("ControlPath", &trust::master_path(jd)),
    ) {
        (Ok(a), Ok(b)) => ssh.with_first(vec![a, b]),
        _ => ssh.clone(),
    }
}

/// Measure the link from the source (round trip, and one stream's rate
/// where the round trip is long enough for the window to bind) and choose
/// the streams. A probe that fails leaves the choice to the cores.
#[instrument(skip_all, fields(src = %src.name()))]
async fn probe_link(
    src: &Host,
    ssh: &migrate_remote::SshCommand,
    streams: Streams,
    cores: (Option<u32>, Option<u32>),
    with_rate: bool,
) -> link::Choice {
    let mut probe = link::LinkProbe {
        src_cores: cores.0,
        dst_cores: cores.1,
        ..Default::default()
    };
    if streams == Streams::Auto {
        let script = link::probe_script(ssh, with_rate);
        let cmd = format!("bash -c {}", script.quoted().as_str());
        match src
            .sh("measuring the link to the destination", &cmd, None)
            .await
        {
            Ok(out) => {
                (probe.rtt, probe.one_stream) = link::parse_probe(&out);
                info!(rtt = ?probe.rtt, one_stream = ?probe.one_stream, "link measured");
            }
            Err(e) => warn!(error = %e, "could not measure the link; streams follow the cores"),
        }
    }
    link::choose(streams, &probe)
}

/// The files a job needs besides its script: stream lists, directories,
/// deletions, plan. In walk mode the job makes its lists itself.
fn job_files(p: &Plan, info_: &PlanInfo, walk: bool) -> Result<Vec<(String, Vec<u8>)>, CopyError> {
    let mut files = Vec::new();
    if !walk {
        for (i, l) in p.streams.iter().enumerate() {
            files.push((format!("list.{i}"), nul_join(l)));
        }
        files.push(("list.dirs".into(), nul_join(&p.dirs)));
        files.push(("list.mkdirs".into(), nul_join(&p.mkdirs)));
    }
    files.push(("delete".into(), nul_join(&p.delete)));
    let pj = serde_json::to_vec(info_).map_err(|e| CopyError::State {
        path: "plan.json".into(),
        why: e.to_string(),
    })?;
    files.push(("plan.json".into(), pj));
    Ok(files)
}

/// Reset the job directory and write `files` into it in one remote call
/// (each ssh exec costs round trips), then run `then` there. GNU `head -c`
/// reads no more than it is asked for, so the files can share stdin.
async fn upload_files(
    src: &Host,
    jd: &str,
    files: &[(String, Vec<u8>)],
    then: &str,
) -> Result<(), CopyError> {
    let jq = sh_quote(jd);
    let mut cmd = format!(
        "umask 077; mkdir -p {jq} && cd {jq} && rm -f list.* delete pid started finished sent s*.rc s*.err s*.walkerr s*.dsterr s*.idx total keys streams && echo starting > state"
    );
    let mut data = Vec::with_capacity(files.iter().map(|f| f.1.len()).sum());
    for (name, bytes) in files {
        cmd.push_str(&format!(" && head -c {} > {}", bytes.len(), sh_quote(name)));
        data.extend_from_slice(bytes);
    }
    if !then.is_empty() {
        cmd.push('\n');
        cmd.push_str(then);
    }
    src.sh("writing the job", &cmd, Some(&data)).await?;
    Ok(())
}

async fn upload_job(src: &Host, jd: &str, p: &Plan, info_: &PlanInfo) -> Result<(), CopyError> {
    upload_files(src, jd, &job_files(p, info_, false)?, "").await
}

/// Starts the job script in its own session so it outlives this process and
/// its ssh connection.
pub(crate) fn launch_command(jd: &str) -> String {
    let jq = sh_quote(jd);
    format!(
        "cd {jq} || exit 1\n{{ if command -v setsid >/dev/null 2>&1; then exec setsid nohup bash {jq}/run.sh; else exec nohup bash {jq}/run.sh; fi; }} > {jq}/run.log 2>&1 < /dev/null &"
    )
}

/// Read the job's progress files into a snapshot. No counter exceeds its
/// total: each stream is capped by its planned share, the sum by the
/// whole, and a total that is not known yet (a walk still counting) is 0.
pub fn progress_from(kv: &HashMap<String, String>, info_: &PlanInfo, elapsed: f64) -> Progress {
    let pair = |key: &str| {
        kv.get(key).and_then(|v| {
            let mut it = v.split_whitespace().map(|x| x.parse::<u64>().ok());
            Some((it.next()??, it.next()??))
        })
    };
    // A walk learns its totals from its own count of the tree (`total`,
    // written once that count ends) and, at the end, from what it sent.
    let (files_total, bytes_total) = match (pair("sent"), info_.walk) {
        (Some(t), _) => t,
        (None, true) => pair("total").unwrap_or((0, 0)),
        (None, false) => (info_.files, info_.bytes),
    };
    let mut pr = Progress {
        files_total,
        bytes_total,
        elapsed_secs: elapsed,
        ..Progress::default()
    };
    // A walk may add streams after it started (`late_streams`): those
    // report too.
    let mut shown = info_.stream_files.len().min(info_.stream_bytes.len());
    if info_.walk {
        while kv.contains_key(&format!("stream {shown}")) {
            shown += 1;
        }
    }
    for i in 0..shown {
        let files = info_.stream_files.get(i).copied().unwrap_or(0);
        let bytes = info_.stream_bytes.get(i).copied().unwrap_or(0);
        // `records` is tar's checkpoint figure, which counts records (not
        // checkpoints); `members` the non-directories in its index.
        let (records, members) = pair(&format!("stream {i}")).unwrap_or((0, 0));
        let archive = records.saturating_mul(script::RECORD_BYTES);
        let data = archive.saturating_sub(members.saturating_mul(TAR_OVERHEAD_PER_FILE));
        // A walk has no per-stream shares to cap by.
        let (n, data, share) = if info_.walk {
            (members, data, 0)
        } else {
            (members.min(files), data.min(bytes), bytes)
        };
        pr.files_done += n;
        pr.bytes_done += data;
        pr.streams.push((data, share));
    }
    if kv.get("state").map(String::as_str) == Some("done") {
        // The job finished: everything it was to send has gone (the
        // checkpoints lag by up to a megabyte, the directory stream is not
        // counted per stream).
        pr.files_done = pr.files_total;
        pr.bytes_done = pr.bytes_total;
        if !info_.walk {
            for ((d, _), &b) in pr.streams.iter_mut().zip(info_.stream_bytes.iter()) {
                *d = b;
            }
        }
    }
    pr.clamp();
    pr
}

async fn follow(
    src: &Host,
    jd: &str,
    info_: &PlanInfo,
    on_progress: &mut (dyn FnMut(&Progress) + Send),
    started: Instant,
) -> Result<(String, HashMap<String, String>), CopyError> {
    let script = remote_cmds::wait_status_script(jd);
    let mut dead_polls = 0;
    loop {
        let out = src.sh("reading progress", &script, None).await.map_err(|e| {
            if e.is_unreachable() {
                CopyError::Interrupted {
                    detail: format!(
                        "lost the connection to {} ({e}); the copy continues there: see `migrate status`",
                        src.name()
                    ),
                }
            } else {
                e.into()
            }
        })?;
        let kv = parse_kv(&out);
        let state = kv.get("state").cloned().unwrap_or_default();
        on_progress(&progress_from(&kv, info_, started.elapsed().as_secs_f64()));
        if state == "done" || state == "failed" {
            return Ok((state, kv));
        }
        if kv.contains_key("alive") {
            dead_polls = 0;
        } else {
            dead_polls += 1;
            if dead_polls > 5 {
                return Ok(("died".into(), kv));
            }
        }
    }
}

async fn failure(src: &Host, jd: &str, opts: &CopyOptions) -> CopyError {
    let errs = match src
        .sh(
            "reading the job's errors",
            &remote_cmds::errors_script(jd),
            None,
        )
        .await
    {
        Ok(o) => String::from_utf8_lossy(&o).trim().to_string(),
        Err(e) => format!("(could not read the job's errors: {e})"),
    };
    if errs.contains("No space left on device") {
        let line = errs
            .lines()
            .find(|l| l.contains("No space left"))
            .unwrap_or("No space left on device");
        return CopyError::DiskFull {
            location: opts.dst.to_string(),
            detail: line.to_string(),
        };
    }
    let detail = if errs.is_empty() {
        format!(
            "the job process on {} ended without recording a result",
            src.name()
        )
    } else {
        errs.lines().take(12).collect::<Vec<_>>().join("\n    ")
    };
    CopyError::Interrupted { detail }
}

/// The script parameters a relayed pass builds its tar commands from.
pub(crate) fn relay_params(
    opts: &CopyOptions,
    jd: &str,
    p: &Plan,
    xattrs: bool,
    aside: Option<&str>,
) -> ScriptParams {
    ScriptParams {
        job_dir: jd.to_string(),
        src_root: opts.src.path.clone(),
        dst_root: opts.dst.path.clone(),
        streams: p.streams.len(),
        dst_ssh: None,
        xattrs,
        compress: false,
        auto_compress: false,
        bwlimit: None,
        key_removal: None,
        walk: false,
        exclude: Default::default(),
        aside: aside.map(str::to_string),
        late_streams: false,
    }
}

/// The source side of relayed stream `name` (its list is `list.NAME` in the job directory).
pub(crate) fn relay_create(
    opts: &CopyOptions,
    jd: &str,
    params: &ScriptParams,
    name: &str,
) -> String {
    format!(
        "J={}; SRC={}; {}",
        sh_quote(jd),
        sh_quote(&opts.src.path),
        script::create_command(params, name, false)
    )
}

/// What a relayed pass runs on dst before the streams, the paths to take
/// away on its stdin.
pub(crate) fn relay_prepare(opts: &CopyOptions, aside: Option<&str>) -> String {
    format!(
        "mkdir -p -- {} && {}",
        sh_quote(&opts.dst.path),
        script::delete_command(&opts.dst.path, aside)
    )
}

/// Through-the-operator mode: each stream is a `tar c` on src piped into a
/// `tar x` on dst by this process.
#[allow(clippy::too_many_arguments)]
async fn relay(
    src: &Host,
    dst: &Host,
    opts: &CopyOptions,
    jd: &str,
    p: &Plan,
    xattrs: bool,
    aside: Option<&str>,
    on_progress: &mut (dyn FnMut(&Progress) + Send),
    started: Instant,
) -> Result<(), CopyError> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let jq = sh_quote(jd);
    let params = relay_params(opts, jd, p, xattrs, aside);
    src.sh(
        "marking the job",
        &format!("echo running > {jq}/state"),
        None,
    )
    .await?;
    dst.sh(
        "preparing the destination",
        &relay_prepare(opts, aside),
        Some(&nul_join(&p.delete)),
    )
    .await?;
    if !p.mkdirs.is_empty() {
        dst.sh(
            "making the new directories",
            &script::premake_command(&opts.dst.path),
            Some(&nul_join(&p.mkdirs)),
        )
        .await?;
    }

    let extract = script::extract_command(&params);
    let counters: Vec<Arc<AtomicU64>> = (0..p.streams.len())
        .map(|_| Arc::new(AtomicU64::new(0)))
        .collect();
    let one = |name: String, counter: Arc<AtomicU64>| {
        let create = relay_create(opts, jd, &params, &name);
        let extract = extract.clone();
        async move {
            let mut c = src.spawn("tar on the source", &create, false, true).await?;
            let mut x = dst
                .spawn("tar on the destination", &extract, true, true)
                .await?;
            let (Some(mut r), Some(mut w)) = (c.stdout.take(), x.stdin.take()) else {
                return Err(CopyError::Interrupted {
                    detail: "relay pipes missing".into(),
                });
            };
            let mut buf = vec![0u8; 256 * 1024];
            let mut pipe_err = None;
            loop {
                let n = match r.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        pipe_err = Some(format!("reading from the source: {e}"));
                        break;
                    }
                };
                if let Err(e) = w.write_all(&buf[..n]).await {
                    pipe_err = Some(format!("writing to the destination: {e}"));
                    break;
                }
                counter.fetch_add(n as u64, Ordering::Relaxed);
            }
            let _ = w.shutdown().await;
            drop(w);
            drop(r);
            let co = c.wait_with_output("tar on the source").await?;
            let xo = x.wait_with_output("tar on the destination").await?;
            let cerr = String::from_utf8_lossy(&co.stderr).trim().to_string();
            let xerr = String::from_utf8_lossy(&xo.stderr).trim().to_string();
            if !xo.status.success() || co.status.code().unwrap_or(2) > 1 || pipe_err.is_some() {
                let all = format!("{cerr}\n{xerr}\n{}", pipe_err.unwrap_or_default());
                if all.contains("No space left on device") {
                    return Err(CopyError::DiskFull {
                        location: opts.dst.to_string(),
                        detail: xerr,
                    });
                }
                return Err(CopyError::Interrupted {
                    detail: format!("stream {name}: {}", all.trim()),
                });
            }
            Ok::<(), CopyError>(())
        }
    };
    let futs = join_all(
        (0..p.streams.len())
            .map(|i| Box::pin(one(i.to_string(), Arc::clone(&counters[i]))))
            .collect(),
    );
    tokio::pin!(futs);
    let result = loop {
        tokio::select! {
            r = &mut futs => break r,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                let mut pr = Progress { files_total: p.files, bytes_total: p.bytes, elapsed_secs: started.elapsed().as_secs_f64(), ..Progress::default() };
                for (i, c) in counters.iter().enumerate() {
                    let b = c.load(Ordering::Relaxed).min(p.stream_bytes[i]);
                    pr.bytes_done += b;
                    pr.streams.push((b, p.stream_bytes[i]));
                }
                pr.files_done = if pr.bytes_total > 0 { (p.files as f64 * pr.bytes_done as f64 / pr.bytes_total as f64) as u64 } else { 0 };
                pr.clamp();
                on_progress(&pr);
            }
        }
    };
    let mut failed = result
        .into_iter()
        .filter_map(Result::err)
        .collect::<Vec<_>>();
    if failed.is_empty()
        && !p.dirs.is_empty()
        && let Err(e) = one("dirs".into(), Arc::new(AtomicU64::new(0))).await
    {
        failed.push(e);
    }
    if failed.is_empty() {
        // Every stream ended well: all of it went (the counters lag a read).
        on_progress(&Progress {
            files_done: p.files,
            files_total: p.files,
            bytes_done: p.bytes,
            bytes_total: p.bytes,
            streams: p.stream_bytes.iter().map(|&b| (b, b)).collect(),
            elapsed_secs: started.elapsed().as_secs_f64(),
        });
    }
    let state = if failed.is_empty() { "done" } else { "failed" };
    let mark = if failed.is_empty() {
        format!("cd {jq} && mv -f manifest.pending manifest.done && echo done > state")
    } else {
        format!("echo failed > {jq}/state")
    };
    src.sh("recording the pass", &mark, None).await?;
    info!(state, "relay finished");
    match failed.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Await all futures concurrently; results in order.
async fn join_all<F: std::future::Future + Unpin>(mut futs: Vec<F>) -> Vec<F::Output> {
    use std::future::poll_fn;
    use std::task::Poll;
    let mut results: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in futs.iter_mut().enumerate() {
            if results[i].is_none() {
                match std::pin::Pin::new(f).poll(cx) {
                    Poll::Ready(v) => results[i] = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

/// Run `cmd` on `host` and hand its stdout to `f` chunk by chunk.
async fn stream_output(
    host: &Host,
    cmd: &str,
    what: &str,
    f: &mut (dyn FnMut(&[u8]) -> Result<(), CopyError> + Send),
) -> Result<(), CopyError> {
    use tokio::io::AsyncReadExt;
    let mut child = host.spawn(what, cmd, false, true).await?;
    if let Some(mut out) = child.stdout.take() {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = out.read(&mut buf).await.map_err(|e| CopyError::Manifest {
                host: host.name(),
                why: format!("{what}: {e}"),
            })?;
            if n == 0 {
                break;
            }
            f(&buf[..n])?;
        }
    }
    let done = child.wait_with_output(what).await?;
    if !done.status.success() {
        return Err(migrate_remote::RemoteError::Command {
            host: host.name(),
            what: what.to_string(),
            status: done.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&done.stderr).trim().to_string(),
        }
        .into());
    }
    Ok(())
}

/// Scan one side for verification on the server itself (listing and hashing
/// in parallel, into a temporary directory there); returns that directory.
async fn verify_scan(h: &Host, root: &str, ex: &Excludes) -> Result<String, CopyError> {
    let cmd = format!(
        r#"T=$(mktemp -d) || exit 1
( {find} ) > "$T/m" 2> "$T/me" &
a=$!
( {hash} ) > "$T/h" 2> "$T/he"
b=$?
wait $a
a=$?
if [ $a != 0 ] || [ $b != 0 ]; then cat "$T/me" "$T/he" >&2; rm -rf "$T"; exit 1; fi
printf '%s' "$T""#,
        find = manifest::find_command_excluding(root, ex),
        hash = manifest::hash_command_excluding(root, ex)
    );
    let out = h
        .sh("listing and hashing for verification", &cmd, None)
        .await?;
    let t = String::from_utf8_lossy(&out).trim().to_string();
    if !t.starts_with('/') {
        return Err(CopyError::Manifest {
            host: h.name(),
            why: format!("unexpected scratch directory '{t}'"),
        });
    }
    Ok(t)
}

/// Hash-level comparison of both trees, each side scanned on its own server
/// at the same time. The operator then holds only the source side (sorted,
/// with digests) and streams the destination's digests and entries past it,
/// so its memory is one manifest whatever the file count.
#[instrument(skip_all)]
pub async fn verify_trees(
    src: &Host,
    dst: &Host,
    opts: &CopyOptions,
) -> Result<Verdict, CopyError> {
    compare_trees(src, dst, opts, false).await
}

/// The whole comparison once the app runs on the destination: what the
/// destination changed or made after the copy is counted, not judged
/// (`verify::Comparer::since_copy`). Run after a move's downtime window, it
/// checks the bulk of the tree, which the final pass only listed.
#[instrument(skip_all)]
pub async fn verify_unchanged(
    src: &Host,
    dst: &Host,
    opts: &CopyOptions,
) -> Result<Verdict, CopyError> {
    compare_trees(src, dst, opts, true).await
}

async fn compare_trees(
    src: &Host,
    dst: &Host,
    opts: &CopyOptions,
    since_copy: bool,
) -> Result<Verdict, CopyError> {
    let ex = Excludes::new(&opts.exclude)?;
    let (st, dt) = tokio::try_join!(
        verify_scan(src, &opts.src.path, &ex),
        verify_scan(dst, &opts.dst.path, &ex)
    )?;
    let result = verify_compare(src, dst, &st, &dt, since_copy).await;
    let (rs, rd) = (
        format!("rm -rf {}", sh_quote(&st)),
        format!("rm -rf {}", sh_quote(&dt)),
    );
    let _ = tokio::join!(
        src.sh("removing scratch files", &rs, None),
        dst.sh("removing scratch files", &rd, None)
    );
    result
}

async fn verify_compare(
    src: &Host,
    dst: &Host,
    st: &str,
    dt: &str,
    since_copy: bool,
) -> Result<Verdict, CopyError> {
    let bad = |h: &Host| {
        let host = h.name();
        move |e: manifest::ParseError| CopyError::Manifest {
            host: host.clone(),
            why: e.to_string(),
        }
    };
    let mut m = read_manifest(
        src,
        &format!("cat {}/m", sh_quote(st)),
        "reading the source listing",
    )
    .await?;
    m.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let mut recs = manifest::NulRecords::default();
    stream_output(
        src,
        &format!("cat {}/h", sh_quote(st)),
        "reading the source hashes",
        &mut |chunk| {
            recs.feed(chunk, &mut |rec| {
                if let Some((p, d)) = manifest::hash_record(rec)
                    && let Ok(i) = m.binary_search_by(|e| e.path.as_slice().cmp(p))
                    && m[i].kind == b'f'
                {
                    m[i].sha256 = Some(Box::new(d));
                }
            });
            Ok(())
        },
    )
    .await?;
    let mut c = verify::Comparer::new(m);
    if since_copy {
        c = c.since_copy();
    }
    let mut recs = manifest::NulRecords::default();
    stream_output(
        dst,
        &format!("cat {}/h", sh_quote(dt)),
        "reading the destination hashes",
        &mut |chunk| {
            recs.feed(chunk, &mut |rec| {
                if let Some((p, d)) = manifest::hash_record(rec) {
                    c.dst_hash(p, &d);
                }
            });
            Ok(())
        },
    )
    .await?;
    let mut parser = manifest::StreamParser::default();
    let to_err = bad(dst);
    stream_output(
        dst,
        &format!("cat {}/m", sh_quote(dt)),
        "reading the destination listing",
        &mut |chunk| {
            parser
                .feed_filtered(chunk, &mut |e| {
                    c.dst_entry(e);
                    false
                })
                .map_err(&to_err)
        },
    )
    .await?;
    parser.finish().map_err(bad(dst))?;
    Ok(c.finish())
}
