//! `migrate copy --dry-run`: what a copy would send and delete, and the
//! commands it would run, found by reading both servers only (the same
//! probes and listings as a real pass, without the job directory, the
//! temporary key, the operator's job registry or anything else a pass
//! writes), like rsync's `--dry-run`.

use serde::Serialize;

use migrate_remote::{Host, sh_quote};

use crate::error::CopyError;
use crate::exclude::Excludes;
use crate::job::{CopyOptions, job_id, read_manifest};
use crate::{manifest, plan, remote_cmds};

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
    let p = plan::plan(
        &src_m,
        base.as_deref(),
        false,
        opts.final_pass,
        opts.streams,
    );

    let (sr, dr) = (sh_quote(&opts.src.path), sh_quote(&opts.dst.path));
    let jd = sp
        .get("jobdir")
        .cloned()
        .unwrap_or_else(|| "~/.local/state/migrate/jobs/ID".into());
    let mut commands = vec![
        format!("{s}: list {sr} (find -printf, one walker per subtree)"),
        format!("{d}: list {dr} (the same find)"),
    ];
    if opts.src.host != opts.dst.host && !opts.relay {
        commands.push(format!(
            "{s}: ssh-keygen -t ed25519 -N '' -f {jd}/key  (a key for this job only)"
        ));
        commands.push(format!(
            "{d}: append the key to ~/.ssh/authorized_keys as restrict,from=\"<{s}'s address>\",expiry-time=\"<six hours on>\""
        ));
    }
    if !p.delete.is_empty() {
        let paths = p
            .delete
            .iter()
            .map(|x| sh_quote(&rel(x)))
            .collect::<Vec<_>>()
            .join(" ");
        if opts.delete_without_backup {
            commands.push(format!("{d}: cd {dr} && rm -rf -- {paths}"));
        } else {
            // Dated when the pass runs; this is the name it would get now.
            let aside = crate::script::aside_dir(&opts.dst.path, std::time::SystemTime::now());
            commands.push(format!(
                "{d}: cd {dr} && move aside into {} (each under its own path, nothing overwritten): {paths}",
                sh_quote(&aside)
            ));
        }
    }
    if !p.mkdirs.is_empty() {
        commands.push(format!(
            "{d}: mkdir -p the {} missing directories under {dr}",
            p.mkdirs.len()
        ));
    }
    let streams = p.streams.iter().filter(|s| !s.is_empty()).count();
    if p.files > 0 {
        let via = if opts.relay {
            "this machine"
        } else {
            s.as_str()
        };
        commands.push(format!(
            "{s}: in {streams} stream(s): tar -C {sr} --null -T LIST -cf - | (through {via}) {d}: tar -C {dr} -xpf -{}",
            opts.bwlimit
                .as_ref()
                .map(|b| format!("  (each limited with pv -L {b})"))
                .unwrap_or_default()
        ));
    }
    if !p.dirs.is_empty() {
        commands.push(format!(
            "{d}: re-apply owner, mode and mtime of {} directories",
            p.dirs.len()
        ));
    }
    if opts.src.host != opts.dst.host && !opts.relay {
        commands.push(format!(
            "{d}: remove the job's key from ~/.ssh/authorized_keys"
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
