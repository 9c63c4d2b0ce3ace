//! `migrate status` and `migrate cleanup`: read job state from the source
//! servers; remove temporary keys left behind by killed or crashed copies.

use std::time::Duration;

use migrate_remote::{Host, HostSpec, parse_location, sh_quote, trust};
use serde::Serialize;

use crate::error::CopyError;
use crate::job::{PlanInfo, Progress, progress_from};
use crate::remote_cmds::{self, parse_kv};
use migrate_remote::registry::{self, JobRecord};

#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub id: String,
    pub src: String,
    pub dst: String,
    /// starting, running, done, failed, interrupted (process gone), unknown,
    /// or unreachable.
    pub state: String,
    pub pid: Option<String>,
    pub progress: Option<Progress>,
    pub keys_left: bool,
    pub detail: Option<String>,
}

async fn one(rec: &JobRecord) -> JobStatus {
    let mut st = JobStatus {
        id: rec.id.clone(),
        src: rec.src.clone(),
        dst: rec.dst.clone(),
        state: "unknown".into(),
        pid: None,
        progress: None,
        keys_left: false,
        detail: None,
    };
    let host = match parse_location(&rec.src) {
        Ok(l) => l.host,
        Err(e) => {
            st.detail = Some(e.to_string());
            return st;
        }
    };
    let h = match Host::connect(&host).await {
        Ok(h) => h,
        Err(e) => {
            st.state = "unreachable".into();
            st.detail = Some(e.to_string());
            return st;
        }
    };
    let jq = sh_quote(&rec.job_dir);
    let script = format!(
        "{}\necho '---'\ncat {jq}/plan.json 2>/dev/null",
        remote_cmds::status_script(&rec.job_dir)
    );
    match h.sh("reading job state", &script, None).await {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out).into_owned();
            let (kvs, plan) = text.split_once("\n---\n").unwrap_or((&text, ""));
            let kv = parse_kv(kvs.as_bytes());
            if kv.contains_key("nojob") {
                st.state = "gone".into();
                st.detail = Some(format!("no job directory {} on the source", rec.job_dir));
                return st;
            }
            st.state = kv.get("state").cloned().unwrap_or_else(|| "unknown".into());
            st.pid = kv.get("alive").cloned();
            st.keys_left = kv.contains_key("keysleft");
            if (st.state == "running" || st.state == "starting") && st.pid.is_none() && !rec.relay {
                st.state = "interrupted".into();
                st.detail = Some(
                    "the copy process on the source is gone; run the same `migrate copy` again to resume".into(),
                );
            }
            if let Ok(info) = serde_json::from_str::<PlanInfo>(plan.trim()) {
                let now: f64 = kv.get("now").and_then(|v| v.parse().ok()).unwrap_or(0.0);
                let started: f64 = kv
                    .get("started")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(now);
                let end: f64 = kv
                    .get("finished")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(now);
                let mut pr = progress_from(&kv, &info, (end - started).max(0.0));
                if st.state == "done" {
                    pr.files_done = pr.files_total;
                    pr.bytes_done = pr.bytes_total;
                    for s in pr.streams.iter_mut() {
                        s.0 = s.1;
                    }
                }
                st.progress = Some(pr);
            }
        }
        Err(e) => {
            st.state = "unreachable".into();
            st.detail = Some(e.to_string());
        }
    }
    st
}

/// Status of every job this operator started.
pub async fn status_all() -> Result<Vec<JobStatus>, CopyError> {
    let jobs = registry::load()?;
    let mut out = Vec::new();
    for j in &jobs {
        out.push(one(j).await);
    }
    Ok(out)
}

/// Poll until no job is starting/running, calling `show` each round.
pub async fn wait_all(show: &mut dyn FnMut(&[JobStatus])) -> Result<Vec<JobStatus>, CopyError> {
    loop {
        let all = status_all().await?;
        show(&all);
        if !all
            .iter()
            .any(|s| s.state == "running" || s.state == "starting")
        {
            return Ok(all);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CleanupReport {
    pub cleaned: Vec<String>,
    pub skipped: Vec<String>,
    pub failed: Vec<String>,
}

/// What `cleanup --HOST` runs on a swept host: every migrate key out of
/// authorized_keys, and any key pair left in a job directory.
fn sweep_script() -> String {
    format!(
        "{}\nrm -f \"${{XDG_STATE_HOME:-$HOME/.local/state}}\"/migrate/copy/*/key \"${{XDG_STATE_HOME:-$HOME/.local/state}}\"/migrate/copy/*/key.pub",
        trust::removal_script(trust::Keys::All)
    )
}

/// What `cleanup --purge` runs on a job's source.
fn purge_script(job_dir: &str) -> String {
    format!("rm -rf -- {}", sh_quote(job_dir))
}

/// One script `cleanup` would run.
#[derive(Debug, Clone, Serialize)]
pub struct CleanupStep {
    /// The host it runs on, as the job or the operator named it.
    pub host: String,
    pub what: String,
    pub script: String,
}

/// What `cleanup` would do, found by reading only.
#[derive(Debug, Clone, Serialize)]
pub struct CleanupPlan {
    pub steps: Vec<CleanupStep>,
    /// Jobs left alone (still running), with why.
    pub skipped: Vec<String>,
    /// Jobs `--purge` would drop from this machine's job registry.
    pub forget: Vec<String>,
}

/// The scripts `cleanup` would run, in order; reads job state only.
pub async fn cleanup_plan(purge: bool, hosts: &[String]) -> Result<CleanupPlan, CopyError> {
    let mut plan = CleanupPlan {
        steps: vec![],
        skipped: vec![],
        forget: vec![],
    };
    for rec in registry::load()? {
        let st = one(&rec).await;
        if st.state == "running" || st.state == "starting" {
            plan.skipped.push(format!(
                "{} ({} → {}): still running; not touching its key",
                rec.id, rec.src, rec.dst
            ));
            continue;
        }
        let (src, dst) = (
            parse_location(&rec.src)?.host,
            parse_location(&rec.dst)?.host,
        );
        plan.steps.push(CleanupStep {
            host: dst.to_string(),
            what: format!(
                "remove job {}'s key from ~/.ssh/authorized_keys{}",
                rec.id,
                if st.keys_left {
                    " (the source reports it still installed)"
                } else {
                    ""
                }
            ),
            script: trust::removal_script(trust::Keys::Job(&rec.id)).to_string(),
        });
        plan.steps.push(CleanupStep {
            host: src.to_string(),
            what: format!("remove job {}'s key pair from {}", rec.id, rec.job_dir),
            script: trust::teardown_src_script(&rec.job_dir)?.to_string(),
        });
        if purge {
            plan.steps.push(CleanupStep {
                host: src.to_string(),
                what: format!("remove job directory {}", rec.job_dir),
                script: purge_script(&rec.job_dir),
            });
            plan.forget.push(rec.id.clone());
        }
    }
    for h in hosts {
        HostSpec::parse(h)?;
        plan.steps.push(CleanupStep {
            host: h.clone(),
            what: "remove every migrate temporary key".into(),
            script: sweep_script(),
        });
    }
    Ok(plan)
}

/// Remove temporary keys of every job that is not running; with `purge`,
/// also the job directories (and with them the manifests `--final` uses).
/// `hosts`: additionally sweep these hosts for any migrate key, whatever job
/// made it (for when the operator's own state was lost).
pub async fn cleanup(purge: bool, hosts: &[String]) -> Result<CleanupReport, CopyError> {
    let mut rep = CleanupReport {
        cleaned: vec![],
        skipped: vec![],
        failed: vec![],
    };
    for rec in registry::load()? {
        let st = one(&rec).await;
        if st.state == "running" || st.state == "starting" {
            rep.skipped.push(format!(
                "{} ({} → {}): still running; not touching its key",
                rec.id, rec.src, rec.dst
            ));
            continue;
        }
        let res = async {
            let src = Host::connect(&parse_location(&rec.src)?.host).await?;
            let dst = Host::connect(&parse_location(&rec.dst)?.host).await?;
            trust::teardown(&src, &dst, &rec.job_dir, &rec.id).await?;
            if purge {
                src.sh(
                    "removing the job directory",
                    &purge_script(&rec.job_dir),
                    None,
                )
                .await?;
            }
            Ok::<(), migrate_remote::RemoteError>(())
        }
        .await;
        match res {
            Ok(()) => {
                rep.cleaned
                    .push(format!("{} ({} → {})", rec.id, rec.src, rec.dst));
                if purge {
                    registry::remove(&rec.id)?;
                }
            }
            Err(e) => rep.failed.push(format!("{}: {e}", rec.id)),
        }
    }
    for h in hosts {
        let res = async {
            let spec = HostSpec::parse(h)?;
            let host = Host::connect(&spec).await?;
            host.sh("removing temporary keys", &sweep_script(), None)
                .await?;
            Ok::<(), migrate_remote::RemoteError>(())
        }
        .await;
        match res {
            Ok(()) => rep
                .cleaned
                .push(format!("{h}: every migrate temporary key")),
            Err(e) => rep.failed.push(format!("{h}: {e}")),
        }
    }
    Ok(rep)
}
