//! A database dump streamed from the source server straight into the
//! destination's loader, as the copy streams files: a temporary key on the
//! source, authorized on the destination for this one job and removed after
//! (also by `migrate cleanup` after a crash: the job is in the copy
//! registry). Where the servers cannot reach each other the dump is
//! relayed through this machine instead, and the step says so.

use migrate_copy::registry::{self, JobRecord};
use migrate_remote::{Host, HostSpec, Location, sh_quote, trust};

/// How the bytes travelled.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    ServerToServer,
    /// Through the operator, and why.
    Relayed(String),
}

impl Route {
    pub fn describe(&self) -> String {
        match self {
            Route::ServerToServer => "server to server".into(),
            Route::Relayed(why) => format!("relayed through this machine ({why})"),
        }
    }
}

/// Stream `dump` (run on src) into `load` (run on dst); returns the bytes
/// moved and the route taken.
pub async fn stream(
    src: &Host,
    dst: &Host,
    specs: (&HostSpec, &HostSpec),
    job_id: &str,
    dump: &str,
    load: &str,
) -> Result<(u64, Route), String> {
    let dst_dest = match specs {
        (HostSpec::Ssh { dest: a }, HostSpec::Ssh { dest: b }) if a != b => b.clone(),
        _ => {
            let n = relay(src, dump, dst, load).await?;
            return Ok((n, Route::Relayed("one side is this machine".into())));
        }
    };
    let jd = job_dir(src, job_id).await?;
    let rec = JobRecord {
        id: job_id.to_string(),
        src: Location {
            host: specs.0.clone(),
            path: jd.clone(),
        }
        .to_string(),
        dst: Location {
            host: specs.1.clone(),
            path: "/".into(),
        }
        .to_string(),
        job_dir: jd.clone(),
        relay: false,
    };
    registry::upsert(rec).map_err(|e| e.to_string())?;
    let t = match trust::setup(src, dst, &dst_dest, &jd, job_id).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!("no direct link between the servers, relaying the dump: {e}");
            let _ = registry::remove(job_id);
            let n = relay(src, dump, dst, load).await?;
            return Ok((n, Route::Relayed(e.to_string())));
        }
    };
    // dd counts what passed; pipefail makes any stage's failure the pipe's.
    let script = format!(
        "set -o pipefail; {dump} | dd bs=1M 2>{j}/dd.err | {ssh} {load}; rc=$?; sed -n 's/^\\([0-9]*\\) bytes.*/\\1/p' {j}/dd.err; exit $rc",
        j = sh_quote(&jd),
        ssh = t.dst_ssh,
        load = sh_quote(load)
    );
    let out = src
        .sh_raw(
            "piping the dump to dst",
            &format!("bash -c {}", sh_quote(&script)),
            None,
        )
        .await;
    let torn = trust::teardown(src, dst, &jd, job_id).await;
    if torn.is_ok() {
        let _ = registry::remove(job_id);
    }
    let out = out.map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "the dump or the load failed: {}",
            tail(&String::from_utf8_lossy(&out.stderr))
        ));
    }
    if let Err(e) = torn {
        return Err(format!(
            "the dump arrived but the temporary key could not be removed ({e}); run `migrate cleanup`"
        ));
    }
    let bytes = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    Ok((bytes, Route::ServerToServer))
}

/// The job's private directory on src, next to the copy jobs' (so a
/// sweep of those keys finds this one too).
async fn job_dir(src: &Host, job_id: &str) -> Result<String, String> {
    let out = src
        .sh(
            "finding the job directory",
            "printf %s \"${XDG_STATE_HOME:-$HOME/.local/state}/migrate/copy\"",
            None,
        )
        .await
        .map_err(|e| e.to_string())?;
    let base = String::from_utf8_lossy(&out).trim().to_string();
    if !base.starts_with('/') {
        return Err("cannot tell the job directory on the source (is $HOME set?)".into());
    }
    Ok(format!("{base}/{job_id}"))
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.trim().lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" / ")
}

/// Stream `from`'s stdout into `to`'s stdin through this machine; both
/// must exit 0.
pub async fn relay(from: &Host, a: &str, to: &Host, b: &str) -> Result<u64, String> {
    let mut src = from
        .spawn("dump", a, false, true)
        .await
        .map_err(|e| e.to_string())?;
    let mut dst = to
        .spawn("load", b, true, true)
        .await
        .map_err(|e| e.to_string())?;
    let (Some(mut out), Some(mut inp)) = (src.stdout.take(), dst.stdin.take()) else {
        return Err("no pipes".into());
    };
    let n = tokio::io::copy(&mut out, &mut inp)
        .await
        .map_err(|e| e.to_string())?;
    drop(inp);
    let (so, dout) = tokio::join!(src.wait_with_output("dump"), dst.wait_with_output("load"));
    let so = so.map_err(|e| e.to_string())?;
    let dout = dout.map_err(|e| e.to_string())?;
    if !so.status.success() {
        return Err(format!(
            "the dump failed on the source: {}",
            String::from_utf8_lossy(&so.stderr).trim()
        ));
    }
    if !dout.status.success() {
        return Err(format!(
            "the load failed on the destination: {}",
            String::from_utf8_lossy(&dout.stderr).trim()
        ));
    }
    Ok(n)
}
