//! `migrate copy --dry-run`: what a copy would send and delete, and the
//! commands it would run, found by reading both servers only (the same
//! probes and listings as a real pass, without the job directory, the
//! temporary key, the operator's job registry or anything else a pass
//! writes), like rsync's `--dry-run`. The job script and its launch command
//! are printed exactly, made by the same functions a real pass uses
//! (`script::render`, `job::launch_command`); the temporary key appears by
//! its path in the job directory, never as key material.

use serde::Serialize;

use migrate_remote::{Host, HostSpec, sh_quote, trust};

use crate::error::CopyError;
use crate::exclude::Excludes;
use crate::job::{
    CopyOptions, PROBE_MIN_BYTES, aside_for, job_id, launch_command, measures_late, operator_ssh,
    read_manifest, relay_create, relay_params, relay_prepare, walks,
};
use crate::script::{self, ScriptParams};
use crate::{link, manifest, plan, remote_cmds};

/// What the pass would do.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    pub src: String,
    pub dst: String,
    pub final_pass: bool,
    /// Non-directory entries that would be sent (paths relative to the roots).
    pub send: Vec<String>,
    pub files: u64,
    pub bytes: u64,
    /// Directories that would be created on the destination.
    pub mkdirs: Vec<String>,
    /// Paths that would be removed on the destination first.
    pub delete: Vec<String>,
    /// The commands, in order, each with the host it would run on.
    pub commands: Vec<String>,
}

fn rel(p: &[u8]) -> String {
    let s = String::from_utf8_lossy(p);
    s.strip_prefix("./").unwrap_or(&s).to_string()
}

/// Reads both trees and plans the pass; changes nothing anywhere.
pub async fn dry_run(opts: &CopyOptions) -> Result<DryRun, CopyError> {
    let ex = Excludes::new(&opts.exclude)?;
    let (src, dst) =
        tokio::try_join!(Host::connect(&opts.src.host), Host::connect(&opts.dst.host))?;
    let id = job_id(&opts.src, &opts.dst);
    let (src_probe, dst_probe) = (
        remote_cmds::src_probe(&id, &opts.src.path),
        remote_cmds::dst_probe(&opts.dst.path),
    );
    let (sp, dp) = tokio::try_join!(
        src.sh("checking the source", &src_probe, None),
        dst.sh("checking the destination", &dst_probe, None)
    )?;
    let (sp, dp) = (remote_cmds::parse_kv(&sp), remote_cmds::parse_kv(&dp));
    if !sp.contains_key("srcdir") {
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
    if dp.contains_key("nonempty") && !sp.contains_key("state") && !opts.force {
        return Err(CopyError::DestinationNotEmpty {
            location: opts.dst.to_string(),
        });
    }
    let src_scan = manifest::find_command_excluding(&opts.src.path, &ex);
    let dst_scan = manifest::find_command_excluding(&opts.dst.path, &ex);
    let base_fut = async {
        if dp.contains_key("dstdir") {
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
    let (s, d) = (src.name(), dst.name());
    src.close().await;
    dst.close().await;
    // The real pass measures the link first (with its key, which a dry run
    // does not make); from the cores alone is where that choice starts.
    let cores = (link::cores_of(&sp), link::cores_of(&dp));
    let choice = link::choose(
        opts.streams,
        &link::LinkProbe {
            src_cores: cores.0,
            dst_cores: cores.1,
            ..Default::default()
        },
    );
    let p = plan::plan(
        &src_m,
        base.as_deref(),
        false,
        opts.final_pass,
        choice.streams,
    );
    let same_host = opts.src.host == opts.dst.host;
    let relay = opts.relay
        || (!same_host && matches!(opts.dst.host, HostSpec::Local))
        || matches!(
            (&opts.src.host, &opts.dst.host),
            (HostSpec::Local, HostSpec::Local)
        );
    let walk = walks(&sp, &dp, relay);

    let (sr, dr) = (sh_quote(&opts.src.path), sh_quote(&opts.dst.path));
    let jd = sp
        .get("jobdir")
        .cloned()
        .unwrap_or_else(|| "~/.local/state/migrate/jobs/ID".into());
    let streams_note = match opts.streams {
        link::Streams::Fixed(_) => format!("{choice}"),
        link::Streams::Auto if walk => format!(
            "{choice}; while the job starts, the pass times the link from {s} (5 round trips through one ssh session), writes the count it chooses to {jd}/streams, and the job adds streams where one ssh window cannot carry what the cores feed"
        ),
        link::Streams::Auto => format!(
            "{choice}; the pass first times the link from {s} (5 round trips through one ssh session, and 16 MiB through another when a round trip takes 5 ms or more), adds streams where one ssh window cannot carry the rate, and compresses the streams without the job's own probe when one stream moves under {:.0} MB/s",
            script::SLOW_LINK_RATE / 1e6
        ),
    };
    let mut commands = vec![
        format!("{s}: list {sr} (find -printf, one walker per subtree)"),
        format!("{d}: list {dr} (the same find)"),
        streams_note,
    ];
    // Only a server-to-server pass makes a key (from this machine, its own
    // ssh is used).
    if !same_host && !relay && !matches!(opts.src.host, HostSpec::Local) {
        commands.push(format!(
            "{s}: ssh-keygen -t ed25519 -N '' -f {jd}/key  (a key for this job only)"
        ));
        commands.push(format!(
            "{d}: append the key to ~/.ssh/authorized_keys as restrict,from=\"<{s}'s address>\",expiry-time=\"<six hours on>\""
        ));
    }
    let has = |m: &std::collections::HashMap<String, String>, k: &str| m.contains_key(k);
    let job_ssh = |dest: &str| -> Result<_, CopyError> {
        let r = trust::resolve(dest)?;
        Ok(trust::job_ssh(&jd, &trust::job_alias(&id), &r)?)
    };
    let direct = !same_host
        && !relay
        && !matches!(opts.src.host, HostSpec::Local)
        && matches!(opts.dst.host, HostSpec::Ssh { .. });
    let (dst_ssh, key_removal) = match (&opts.src.host, &opts.dst.host) {
        _ if same_host || relay => (None, None),
        (HostSpec::Local, HostSpec::Ssh { dest }) => (Some(operator_ssh(dest)?), None),
        (_, HostSpec::Ssh { dest }) => (
            Some(job_ssh(dest)?),
            Some(trust::removal_script(trust::Keys::Job(&id)).to_string()),
        ),
        _ => (None, None),
    };
    if relay {
        relay_outline(
            &mut commands,
            opts,
            &p,
            (&jd, has(&sp, "xattrs") && has(&dp, "xattrs")),
            &s,
            &d,
        );
    } else if p.files > 0 || !p.delete.is_empty() || walk {
        let params = ScriptParams {
            job_dir: jd.clone(),
            src_root: opts.src.path.clone(),
            dst_root: opts.dst.path.clone(),
            streams: if walk {
                choice.streams
            } else {
                p.streams.len()
            },
            dst_ssh,
            xattrs: has(&sp, "xattrs") && has(&dp, "xattrs"),
            compress: opts.compress,
            auto_compress: has(&sp, "tool zstd")
                && has(&dp, "tool zstd")
                && (walk || p.bytes >= PROBE_MIN_BYTES),
            bwlimit: opts.bwlimit.clone(),
            key_removal,
            walk,
            exclude: ex.clone(),
            aside: aside_for(opts, &p),
            late_streams: measures_late(opts, walk, direct),
        };
        commands.push(format!(
            "{s}: write {jd}/run.sh (below) with the file lists, then start it detached:\n{}",
            launch_command(&jd)
        ));
        commands.push(format!(
            "{s}: {jd}/run.sh:\n{}",
            script::render(&params).trim_end()
        ));
    }
    if opts.verify {
        commands.push(format!(
            "{s} and {d}: list and sha256sum both trees and compare"
        ));
    }
    Ok(DryRun {
        src: opts.src.to_string(),
        dst: opts.dst.to_string(),
        final_pass: opts.final_pass,
        send: p.streams.iter().flatten().map(|x| rel(x)).collect(),
        files: p.files,
        bytes: p.bytes,
        mkdirs: p.mkdirs.iter().map(|x| rel(x)).collect(),
        delete: p.delete.iter().map(|x| rel(x)).collect(),
        commands,
    })
}

/// What a relayed pass runs (no job script: this machine pipes each
/// stream from one server to the other), through the same builders.
fn relay_outline(
    commands: &mut Vec<String>,
    opts: &CopyOptions,
    p: &plan::Plan,
    (jd, xattrs): (&str, bool),
    s: &str,
    d: &str,
) {
    let aside = aside_for(opts, p);
    let params = relay_params(opts, jd, p, xattrs, aside.as_deref());
    commands.push(format!(
        "{d}: {}  (the {} paths to take away on its stdin)",
        relay_prepare(opts, aside.as_deref()),
        p.delete.len()
    ));
    if !p.mkdirs.is_empty() {
        commands.push(format!(
            "{d}: {}  (the {} missing directories on its stdin)",
            script::premake_command(&opts.dst.path),
            p.mkdirs.len()
        ));
    }
    let extract = script::extract_command(&params);
    for (i, l) in p.streams.iter().enumerate() {
        if !l.is_empty() {
            commands.push(format!(
                "{s}: {}\n  | this machine |\n{d}: {extract}",
                relay_create(opts, jd, &params, &i.to_string())
            ));
        }
    }
}
