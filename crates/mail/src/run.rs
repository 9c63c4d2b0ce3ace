//! Many accounts in parallel, each with one session on each server, and at
//! most `connections` sessions per server at a time (servers limit
//! connections per user and per IP; Dovecot's default is 10 per user+IP,
//! facts/dns-mail.md B4.7). One account's failure never stops the others.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tracing::{Instrument, info_span};

use crate::conn;
use crate::error::MailError;
use crate::server::Server;
use crate::sync::{self, AccountReport, Options};
use crate::users::Account;

#[derive(Debug, Clone)]
pub struct Job {
    pub src: Server,
    pub dst: Server,
    pub opts: Options,
    /// Sessions per server at once (so also accounts at once).
    pub connections: usize,
}

/// Sync every account; `done` is called as each one finishes (for
/// progress output). Reports come back in the users file's order.
pub async fn run(
    job: Job,
    accounts: Vec<Account>,
    mut done: impl FnMut(&AccountReport),
) -> Vec<AccountReport> {
    let job = Arc::new(job);
    let n = job.connections.max(1);
    let src_sem = Arc::new(Semaphore::new(n));
    let dst_sem = Arc::new(Semaphore::new(n));
    let mut set = tokio::task::JoinSet::new();
    for (i, acc) in accounts.into_iter().enumerate() {
        let (job, src_sem, dst_sem) = (job.clone(), src_sem.clone(), dst_sem.clone());
        let span = info_span!("account", src = %acc.src_user, dst = %acc.dst_user);
        set.spawn(
            async move {
                // Always src before dst: no two tasks wait on each other.
                let _s = src_sem.acquire_owned().await;
                let _d = dst_sem.acquire_owned().await;
                (i, one(&job, &acc).await)
            }
            .instrument(span),
        );
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok((i, rep)) => {
                done(&rep);
                out.push((i, rep));
            }
            Err(e) => tracing::error!("account task failed: {e}"),
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

async fn one(job: &Job, acc: &Account) -> AccountReport {
    let mut rep = AccountReport {
        src_user: acc.src_user.clone(),
        dst_user: acc.dst_user.clone(),
        dry_run: job.opts.dry_run,
        folders_only: job.opts.folders_only,
        ..Default::default()
    };
    if let Err(e) = one_inner(job, acc, &mut rep).await {
        rep.fatal = Some(e);
    }
    if let Some(p) = &job.opts.progress {
        p.accounts_done
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    rep
}

async fn one_inner(job: &Job, acc: &Account, rep: &mut AccountReport) -> Result<(), MailError> {
    let missing = |side: &str, user: &str| MailError::Password {
        user: user.to_string(),
        detail: format!(
            "the users file gives no {side} password (entry {})",
            acc.entry
        ),
    };
    let sp = acc
        .src_password
        .as_ref()
        .ok_or_else(|| missing("src", &acc.src_user))?;
    let dp = acc
        .dst_password
        .as_ref()
        .ok_or_else(|| missing("dst", &acc.dst_user))?;
    let sp = sp.resolve(&acc.src_user).await?;
    let dp = dp.resolve(&acc.dst_user).await?;
    let mut src = conn::login(&job.src, &acc.src_user, &sp).await?;
    let mut dst = conn::login(&job.dst, &acc.dst_user, &dp).await?;
    let r = sync::account(&mut src, &job.src, &mut dst, &job.dst, rep, &job.opts).await;
    let _ = src.logout().await;
    let _ = dst.logout().await;
    r
}

/// Figures for the whole run.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Totals {
    pub accounts: usize,
    pub accounts_good: usize,
    pub src_messages: u64,
    pub missing: u64,
    pub copied: u64,
    pub copied_bytes: u64,
    pub flags_synced: u64,
}

pub fn totals(reports: &[AccountReport]) -> Totals {
    let mut t = Totals {
        accounts: reports.len(),
        ..Default::default()
    };
    for r in reports {
        t.accounts_good += usize::from(r.good());
        t.src_messages += r.src_messages();
        t.missing += r.missing();
        t.copied += r.copied();
        t.copied_bytes += r.copied_bytes();
        t.flags_synced += r.flags_synced();
    }
    t
}

/// The overall verdict line.
pub fn verdict(reports: &[AccountReport]) -> String {
    let t = totals(reports);
    let failed = reports.iter().filter(|r| r.worst().is_some()).count();
    if let Some(r) = reports.first() {
        if r.dry_run {
            return format!(
                "dry run: {} of {} messages in {} accounts would be copied; nothing was changed",
                t.missing, t.src_messages, t.accounts
            );
        }
        if r.folders_only {
            return format!(
                "folders only: {} accounts, messages not compared",
                t.accounts
            );
        }
    }
    if t.accounts_good == t.accounts {
        format!(
            "sync looks good: all {} messages of the source are on the destination ({} accounts)",
            t.src_messages, t.accounts
        )
    } else {
        format!(
            "sync incomplete: {} of {} accounts not in sync ({failed} with errors), {} of {} messages of the source are not on the destination",
            t.accounts - t.accounts_good,
            t.accounts,
            t.missing,
            t.src_messages
        )
    }
}
