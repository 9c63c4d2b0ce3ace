//! `migrate copy`, `migrate status`, `migrate cleanup`.

use std::io::IsTerminal;
use std::time::Instant;

use migrate_copy::status::JobStatus;
use migrate_copy::{CopyError, CopyOptions, Outcome, Progress};
use migrate_remote::{RemoteError, parse_location};

use super::Global;
use crate::exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source, `HOST:PATH` (HOST is ssh://user@host:port, user@host, an ssh_config alias, or local).
    pub src: String,
    /// Destination, `HOST:PATH`.
    pub dst: String,
    /// Final pass (app stopped): send only new and changed files and delete on
    /// the destination what the source no longer has. Never deletes on the source.
    #[arg(long = "final")]
    pub final_pass: bool,
    /// Afterwards compare both trees, file contents included (sha256).
    #[arg(long)]
    pub verify: bool,
    /// Parallel tar streams, each over its own ssh connection.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub streams: u16,
    /// Compress the streams (pays off for text and databases, not for media).
    #[arg(long, value_parser = ["zstd"])]
    pub compress: Option<String>,
    /// Stream through this machine instead of server to server (slower).
    #[arg(long)]
    pub relay: bool,
    /// Start the copy on the source server and return; follow with `migrate status`.
    #[arg(long)]
    pub detach: bool,
    /// Limit each stream's rate (pv syntax: 500k, 20m, 1g bytes per second).
    #[arg(long, value_parser = parse_rate)]
    pub bwlimit: Option<String>,
    /// Copy into a non-empty destination that no earlier `migrate copy` filled,
    /// and ignore the last pass's manifest (compare with the destination itself).
    #[arg(long)]
    pub force: bool,
}

fn parse_rate(s: &str) -> Result<String, String> {
    let digits = s.trim_end_matches(['k', 'm', 'g', 'K', 'M', 'G']);
    if !digits.is_empty()
        && digits.len() + 1 >= s.len()
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        Ok(s.to_ascii_lowercase())
    } else {
        Err("expected a rate like 500k, 20m or 1g (bytes per second)".into())
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
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            None
        }
    }
}

fn code_for(e: &CopyError) -> u8 {
    match e {
        CopyError::Remote(RemoteError::BadAddress { .. })
        | CopyError::MissingPath { .. }
        | CopyError::BadInput(_) => exit::BAD_INPUT,
        e if e.is_unreachable() => exit::UNREACHABLE,
        CopyError::MissingTool { .. }
        | CopyError::DestinationNotEmpty { .. }
        | CopyError::NotEnoughSpace { .. }
        | CopyError::AlreadyRunning { .. } => exit::REFUSED,
        _ => exit::FAILURE,
    }
}

pub fn human(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
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
            "{} sent  {} files  {}/s  (total not known yet)",
            human(p.bytes_done),
            p.files_done,
            human(rate as u64)
        );
    }
    format!(
        "{} / {} ({}%)  {}/{} files  {}/s  ETA {}  {}",
        human(p.bytes_done),
        human(p.bytes_total),
        pct(p.bytes_done, p.bytes_total),
        p.files_done,
        p.files_total,
        human(rate as u64),
        eta(p),
        bars.join(" ")
    )
}

pub fn run(args: Args, g: &Global) -> u8 {
    let (src, dst) = match (parse_location(&args.src), parse_location(&args.dst)) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let opts = CopyOptions {
        src,
        dst,
        final_pass: args.final_pass,
        verify: args.verify,
        streams: args.streams as usize,
        compress: args.compress.is_some(),
        relay: args.relay,
        detach: args.detach,
        bwlimit: args.bwlimit,
        force: args.force,
    };
    if opts.relay {
        eprintln!(
            "warning: --relay streams every byte through this machine: expect it to be slower than server to server, and to stop if this machine disconnects"
        );
    }
    let Some(rt) = runtime() else {
        return exit::FAILURE;
    };
    let tty = std::io::stderr().is_terminal() && !g.json;
    let mut last = Instant::now();
    let mut shown = false;
    let mut on_progress = |p: &Progress| {
        if tty && last.elapsed().as_millis() >= 500 {
            eprint!("\r\x1b[2K{}", progress_line(p));
            last = Instant::now();
            shown = true;
        }
    };
    let res = rt.block_on(migrate_copy::run(&opts, &mut on_progress));
    if shown {
        eprintln!();
    }
    match res {
        Err(e) => {
            eprintln!("error: {e}");
            code_for(&e)
        }
        Ok(Outcome::Detached { job_id, src_host }) => {
            if g.json {
                println!(
                    "{}",
                    serde_json::json!({"job": job_id, "state": "detached", "host": src_host})
                );
            } else {
                println!(
                    "copy {job_id} is running detached on {src_host}; follow it with `migrate status --wait`"
                );
            }
            exit::OK
        }
        Ok(Outcome::Finished(s)) => {
            for w in &s.warnings {
                eprintln!("warning: {w}");
            }
            let verdict = s.verdict.as_ref();
            if g.json {
                let mut v = serde_json::to_value(&s).unwrap_or_default();
                if let Some(vd) = verdict {
                    v["verified"] = serde_json::json!({
                        "identical": vd.identical(),
                        "files": vd.files,
                        "bytes": vd.bytes,
                        "differences": vd.differences,
                    });
                }
                println!("{v}");
            } else {
                eprintln!(
                    "{}: sent {} files, {}, deleted {} on the destination, in {:.1} s ({})",
                    if s.final_pass { "final pass" } else { "copy" },
                    s.files_sent,
                    human(s.bytes_sent),
                    s.deleted,
                    s.seconds,
                    s.mode
                );
                if let Some(vd) = verdict {
                    if vd.identical() {
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
                Some(vd) if !vd.identical() => exit::VERIFY_FAILED,
                _ => exit::OK,
            }
        }
    }
}

fn print_status(all: &[JobStatus], json: bool) {
    if json {
        println!("{}", serde_json::to_string(all).unwrap_or_default());
        return;
    }
    if all.is_empty() {
        println!("no copy jobs");
    }
    for s in all {
        let prog = s.progress.as_ref().map(progress_line).unwrap_or_default();
        println!("{} {} -> {}: {}  {}", s.id, s.src, s.dst, s.state, prog);
        if let Some(d) = &s.detail {
            println!("    {d}");
        }
        if s.keys_left {
            println!("    a temporary key is still installed: run `migrate cleanup`");
        }
    }
}

pub fn status(args: StatusArgs, g: &Global) -> u8 {
    let Some(rt) = runtime() else {
        return exit::FAILURE;
    };
    let tty = std::io::stderr().is_terminal() && !g.json;
    let res = if args.wait {
        rt.block_on(migrate_copy::status::wait_all(&mut |all| {
            if tty {
                for s in all {
                    if let Some(p) = &s.progress {
                        eprint!("\r\x1b[2K{} {}", s.id, progress_line(p));
                    }
                }
            }
        }))
    } else {
        rt.block_on(migrate_copy::status::status_all())
    };
    if tty && args.wait {
        eprintln!();
    }
    match res {
        Ok(all) => {
            print_status(&all, g.json);
            if all
                .iter()
                .any(|s| s.state == "failed" || s.state == "interrupted")
            {
                exit::FAILURE
            } else if all.iter().any(|s| s.state == "unreachable") {
                exit::UNREACHABLE
            } else {
                exit::OK
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            code_for(&e)
        }
    }
}

pub fn cleanup(args: CleanupArgs, g: &Global) -> u8 {
    let Some(rt) = runtime() else {
        return exit::FAILURE;
    };
    match rt.block_on(migrate_copy::status::cleanup(args.purge, &args.hosts)) {
        Ok(rep) => {
            if g.json {
                println!("{}", serde_json::to_string(&rep).unwrap_or_default());
            } else {
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
            if rep.failed.is_empty() {
                exit::OK
            } else {
                exit::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            code_for(&e)
        }
    }
}
