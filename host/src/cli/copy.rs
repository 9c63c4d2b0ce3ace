//! `migrate copy`, `migrate copy status`, `migrate copy cleanup`.

use migrate_copy::status::JobStatus;
use migrate_copy::{CopyOptions, Outcome, Progress};
use migrate_progress::{Report, Unit};
use migrate_remote::parse_location;

use migrate_units::{human_bytes as human, human_rate};
use serde_json::{Value, json};

use super::Global;
use super::reply::{Failure, runtime, to_json};
use crate::exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source, `HOST:PATH` (HOST is ssh://user@host:port, user@host, an ssh_config alias, or local).
    #[arg(required = true)]
    pub src: Option<String>,
    /// Destination, `HOST:PATH`.
    #[arg(required = true)]
    pub dst: Option<String>,
    /// Final pass (app stopped): send only new and changed files and take away
    /// on the destination what the source no longer has, moved aside into a
    /// dated directory beside it (DST.migrate-aside-YYYYMMDD-HHMMSS, UTC).
    /// Never deletes on the source.
    #[arg(long = "final")]
    pub final_pass: bool,
    /// Afterwards compare both trees, file contents included (sha256).
    #[arg(long)]
    pub verify: bool,
    /// Afterwards hash only the files this pass sent, on both servers, and
    /// compare them (a final pass checks its own work without re-reading
    /// both trees; --verify compares everything).
    #[arg(long, conflicts_with = "verify")]
    pub verify_sent: bool,
    /// Parallel tar streams, each over its own ssh connection. Without it
    /// the count follows the cores, and the round trip and rate the source
    /// measures to the destination (more streams where one ssh window
    /// cannot fill the link).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub streams: Option<u16>,
    /// Compress the streams (pays off for text and databases, not for media).
    #[arg(long, value_parser = ["zstd"])]
    pub compress: Option<String>,
    /// Stream through this machine instead of server to server (slower).
    #[arg(long)]
    pub relay: bool,
    /// Start the copy on the source server and return; follow with `migrate copy status`.
    #[arg(long)]
    pub detach: bool,
    /// Limit each stream's rate, in rsync's units: a bare number is KiB/s,
    /// K/M/G suffixes are KiB/MiB/GiB per second (500K, 20M, 1.5G), 0 is no limit.
    #[arg(long, value_name = "RATE", value_parser = super::bwlimit::parse)]
    pub bwlimit: Option<u64>,
    /// Leave out what matches PATTERN (repeatable), with rsync's rules: a
    /// leading `/` anchors at the copied directory, a trailing `/` matches
    /// directories only, `*` stays within a path component, `**` does not,
    /// `?` is one character. Excluded files on the destination are kept.
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Copy into a non-empty destination that no earlier `migrate copy` filled,
    /// and ignore the last pass's manifest (compare with the destination itself).
    #[arg(long)]
    pub force: bool,
    /// Delete for good what the pass takes away on the destination, instead
    /// of moving it aside.
    #[arg(long)]
    pub delete_without_backup: bool,
    /// Read both servers and show what would be sent and deleted, and the
    /// commands; change nothing (no key, no job, nothing written).
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

/// `migrate copy`: a copy (`copy SRC DST`), or one of its verbs.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Group {
    #[command(subcommand)]
    pub command: Option<Verb>,
    #[command(flatten)]
    pub copy: Args,
}

#[derive(Debug, clap::Subcommand)]
pub enum Verb {
    /// Show the progress of detached copies.
    Status(StatusArgs),
    /// Remove temporary keys and state left by copies (also after a crash).
    Cleanup(CleanupArgs),
}

pub fn run_group(grp: Group, g: &Global) -> Result<Value, Failure> {
    match grp.command {
        Some(Verb::Status(a)) => status(a, g),
        Some(Verb::Cleanup(a)) => cleanup(a, g),
        None => run(grp.copy, g),
    }
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Keep following until every copy has finished.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, clap::Args)]
pub struct CleanupArgs {
    /// Also delete the jobs' state on the source servers (the manifests a
    /// later `--final` pass would compare against).
    #[arg(long)]
    pub purge: bool,
    /// Also sweep these hosts for any temporary key migrate left behind.
    pub hosts: Vec<String>,
    /// Show the scripts it would run on each host; change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

fn eta(p: &Progress) -> String {
    if p.bytes_done == 0 || p.elapsed_secs < 1.0 {
        return "--:--".into();
    }
    let rate = p.bytes_done as f64 / p.elapsed_secs;
    let left = (p.bytes_total.saturating_sub(p.bytes_done)) as f64 / rate;
    let s = left as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// One status line: total, then a small bar per stream.
pub fn progress_line(p: &Progress) -> String {
    let pct = |d: u64, t: u64| (d * 100).checked_div(t).map_or(100, |p| p.min(100));
    let rate = if p.elapsed_secs > 0.0 {
        p.bytes_done as f64 / p.elapsed_secs
    } else {
        0.0
    };
    let bars: Vec<String> = p
        .streams
        .iter()
        .map(|(d, t)| {
            let n = (pct(*d, *t) / 10) as usize;
            format!("[{}{}]", "#".repeat(n), ".".repeat(10 - n))
        })
        .collect();
    if p.bytes_total == 0 && p.files_total == 0 && p.bytes_done > 0 {
        // Walk mode: the job is still finding what to send, so no total yet.
        return format!(
            "{} sent  {} files  {}  (total not known yet)",
            human(p.bytes_done),
            p.files_done,
            human_rate(rate)
        );
    }
    format!(
        "{} / {} ({}%)  {}/{} files  {}  ETA {}  {}",
        human(p.bytes_done),
        human(p.bytes_total),
        pct(p.bytes_done, p.bytes_total),
        p.files_done,
        p.files_total,
        human_rate(rate),
        eta(p),
        bars.join(" ")
    )
}

/// `--streams N` fixes the count; without it the copy chooses.
pub fn streams_arg(n: Option<u16>) -> migrate_copy::link::Streams {
    match n {
        Some(n) => migrate_copy::link::Streams::Fixed(usize::from(n)),
        None => migrate_copy::link::Streams::Auto,
    }
}

pub fn run(args: Args, g: &Global) -> Result<Value, Failure> {
    let (Some(src), Some(dst)) = (&args.src, &args.dst) else {
        return Err(Failure::new(
            exit::BAD_INPUT,
            "usage",
            "give the source and the destination: migrate copy HOST:PATH HOST:PATH",
        ));
    };
    let opts = CopyOptions {
        src: parse_location(src)?,
        dst: parse_location(dst)?,
        final_pass: args.final_pass,
        verify: args.verify,
        verify_sent: args.verify_sent,
        streams: streams_arg(args.streams),
        compress: args.compress.is_some(),
        relay: args.relay,
        detach: args.detach,
        bwlimit: args.bwlimit.filter(|b| *b > 0).map(|b| b.to_string()),
        exclude: args.exclude,
        force: args.force,
        delete_without_backup: args.delete_without_backup,
    };
    if args.dry_run {
        return dry_run(&opts, g);
    }
    if opts.relay {
        eprintln!(
            "warning: --relay streams every byte through this machine: expect it to be slower than server to server, and to stop if this machine disconnects"
        );
    }
    let rt = runtime()?;
    let progress = g.progress();
    let mut shown = migrate_copy::report::Shown::new(&progress, "copy");
    let mut on_progress = |p: &Progress| shown.on(p);
    let res = rt.block_on(migrate_copy::run(&opts, &mut on_progress));
    if res
        .as_ref()
        .is_ok_and(|o| matches!(o, Outcome::Finished(_)))
    {
        shown.end();
    }
    match res? {
        Outcome::Detached { job_id, src_host } => {
            if !g.json {
                println!(
                    "copy {job_id} is running detached on {src_host}; follow it with `migrate copy status --wait`"
                );
            }
            Ok(json!({"job": job_id, "state": "detached", "host": src_host}))
        }
        Outcome::Finished(s) => {
            for w in &s.warnings {
                eprintln!("warning: {w}");
            }
            let verdict = s.verdict.as_ref();
            let mut v = to_json(&s);
            if let Some(vd) = verdict {
                v["verified"] = json!({
                    "identical": vd.identical(),
                    "scope": if vd.sent_only { "sent" } else { "all" },
                    "files": vd.files,
                    "bytes": vd.bytes,
                    "differences": vd.differences,
                });
            }
            if !g.json {
                eprintln!(
                    "{}: sent {} files, {}, deleted {} on the destination, in {:.1} s ({})",
                    if s.final_pass { "final pass" } else { "copy" },
                    s.files_sent,
                    human(s.bytes_sent),
                    s.deleted,
                    s.seconds,
                    s.mode
                );
                eprintln!("streams: {} ({})", s.streams, s.streams_why);
                if s.deleted > 0 {
                    match &s.aside {
                        Some(a) => eprintln!("moved aside on the destination, into {a}:"),
                        None => eprintln!("deleted on the destination (--delete-without-backup):"),
                    }
                    for d in &s.deletions {
                        eprintln!("    {d}");
                    }
                    if s.deleted as usize > s.deletions.len() {
                        eprintln!(
                            "    ... and {} more",
                            s.deleted as usize - s.deletions.len()
                        );
                    }
                }
                if let Some(vd) = verdict {
                    if vd.identical() && vd.sent_only {
                        println!(
                            "copy looks good: the {} files this pass sent are identical on both servers (sha256)",
                            vd.files
                        );
                    } else if vd.identical() {
                        println!(
                            "copy looks good: {} files, {} bytes identical",
                            vd.files, vd.bytes
                        );
                    } else {
                        for d in vd.differences.iter().take(50) {
                            println!("{d}");
                        }
                        if vd.differences.len() > 50 {
                            println!("... and {} more", vd.differences.len() - 50);
                        }
                        println!(
                            "copy differs: {} differences between {} and {}",
                            vd.differences.len(),
                            s.src,
                            s.dst
                        );
                    }
                }
            }
            match verdict {
                Some(vd) if !vd.identical() => Err(Failure::new(
                    exit::VERIFY_FAILED,
                    "differences",
                    format!(
                        "copy differs: {} differences between {} and {}",
                        vd.differences.len(),
                        s.src,
                        s.dst
                    ),
                )
                .with_result(v)
                .told()),
                _ => Ok(v),
            }
        }
    }
}

fn dry_run(opts: &CopyOptions, g: &Global) -> Result<Value, Failure> {
    let rt = runtime()?;
    let d = rt.block_on(migrate_copy::dry_run::dry_run(opts))?;
    if !g.json {
        println!(
            "dry run: {} → {}{}: would send {} files ({}), take away {}, create {} directories",
            d.src,
            d.dst,
            if d.final_pass { " (final pass)" } else { "" },
            d.files,
            human(d.bytes),
            d.delete.len(),
            d.mkdirs.len()
        );
        for p in &d.delete {
            println!("delete {p}");
        }
        for p in &d.send {
            println!("send {p}");
        }
        println!("commands:");
        super::docker_dry_run::print_commands(&d.commands);
        println!("nothing was changed (dry run)");
    }
    Ok(json!({"dry_run": true, "plan": to_json(&d)}))
}

/// The jobs `copy status --wait` follows: a progress task per job that was
/// starting or running while it waited ("copy JOB"), ended once the job is
/// not. Jobs that had already ended before the wait get no task; the
/// status printed afterwards tells of them.
#[derive(Default)]
struct Following {
    started: Vec<String>,
    ended: Vec<String>,
}

impl Following {
    fn show(&mut self, r: &dyn Report, all: &[JobStatus]) {
        for s in all {
            let task = format!("copy {}", s.id);
            let active = s.state == "running" || s.state == "starting";
            if self.ended.contains(&s.id) {
                continue;
            }
            if !self.started.contains(&s.id) {
                if !active {
                    continue;
                }
                self.started.push(s.id.clone());
                r.update(&task, Unit::Bytes, 0, None);
            }
            if let Some(p) = &s.progress {
                let mut p = p.clone();
                p.clamp();
                migrate_copy::report::show_total(r, &task, &p);
            }
            if !active {
                self.ended.push(s.id.clone());
                r.finish(&task);
            }
        }
    }
}

fn print_status(all: &[JobStatus]) {
    if all.is_empty() {
        println!("no copy jobs");
    }
    for s in all {
        let prog = s
            .progress
            .clone()
            .map(|mut p| {
                p.clamp();
                progress_line(&p)
            })
            .unwrap_or_default();
        println!("{} {} -> {}: {}  {}", s.id, s.src, s.dst, s.state, prog);
        if let Some(d) = &s.detail {
            println!("    {d}");
        }
        if s.keys_left {
            println!("    a temporary key is still installed: run `migrate copy cleanup`");
        }
    }
}

pub fn status(args: StatusArgs, g: &Global) -> Result<Value, Failure> {
    let rt = runtime()?;
    let res = if args.wait {
        let progress = g.progress();
        let mut follow = Following::default();
        rt.block_on(migrate_copy::status::wait_all(&mut |all| {
            follow.show(&progress, all)
        }))
    } else {
        rt.block_on(migrate_copy::status::status_all())
    };
    let all = res?;
    if !g.json {
        print_status(&all);
    }
    let result = json!({ "jobs": to_json(&all) });
    let failed = all
        .iter()
        .filter(|s| s.state == "failed" || s.state == "interrupted")
        .count();
    let unreachable = all.iter().filter(|s| s.state == "unreachable").count();
    if failed > 0 {
        Err(Failure::new(
            exit::FAILURE,
            "job-failed",
            format!("{failed} copy job(s) failed or were interrupted"),
        )
        .with_result(result)
        .told())
    } else if unreachable > 0 {
        Err(Failure::new(
            exit::UNREACHABLE,
            "unreachable",
            format!("the host of {unreachable} copy job(s) could not be reached"),
        )
        .with_result(result)
        .told())
    } else {
        Ok(result)
    }
}

pub fn cleanup(args: CleanupArgs, g: &Global) -> Result<Value, Failure> {
    let rt = runtime()?;
    if args.dry_run {
        let plan = rt.block_on(migrate_copy::status::cleanup_plan(args.purge, &args.hosts))?;
        let mut commands: Vec<String> = plan
            .steps
            .iter()
            .map(|s| format!("{}: {}\n{}", s.host, s.what, s.script.trim()))
            .collect();
        commands.extend(
            plan.forget
                .iter()
                .map(|id| format!("this machine: forget job {id} in the job registry")),
        );
        let title = if plan.skipped.is_empty() {
            "copy cleanup".to_string()
        } else {
            format!("copy cleanup (skipped: {})", plan.skipped.join("; "))
        };
        return Ok(super::docker_dry_run::finish(
            g,
            title,
            commands,
            json!({"plan": to_json(&plan)}),
        ));
    }
    let rep = rt.block_on(migrate_copy::status::cleanup(args.purge, &args.hosts))?;
    if !g.json {
        for c in &rep.cleaned {
            println!("cleaned: {c}");
        }
        for s in &rep.skipped {
            println!("skipped: {s}");
        }
        for f in &rep.failed {
            println!("failed: {f}");
        }
        if rep.cleaned.is_empty() && rep.skipped.is_empty() && rep.failed.is_empty() {
            println!("nothing to clean up");
        }
    }
    let result = to_json(&rep);
    if rep.failed.is_empty() {
        Ok(result)
    } else {
        Err(Failure::new(
            exit::FAILURE,
            "cleanup-failed",
            format!("{} cleanup(s) failed", rep.failed.len()),
        )
        .with_result(result)
        .told())
    }
}
