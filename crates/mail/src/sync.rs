//! One account: folders created, new messages appended with their flags
//! and internal dates, flag changes carried, destination-only messages
//! deleted when asked, and the result re-read from the destination so the
//! verdict reports what is there, not what was sent.

use std::collections::{HashMap, HashSet};

use futures::TryStreamExt;
use serde::Serialize;
use tracing::{Instrument, info_span};

use crate::append::{self, AppendError};
use crate::conn::{Imap, connection_error, tidy};
use crate::error::{MailError, Result};
use crate::folders::{self, Mapping};
use crate::scan::{Listing, Msg, scan};
use crate::server::Server;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub dry_run: bool,
    pub folders_only: bool,
    /// Delete destination messages that are not on the source.
    pub delete: bool,
    /// Allow `delete` even when the destination already received mail
    /// newer than anything on the source (i.e. after the MX cutover).
    pub force: bool,
    /// Bytes of message bodies fetched per round trip.
    pub batch_bytes: u64,
    /// Shared counters for a progress display.
    pub progress: Option<std::sync::Arc<Progress>>,
    /// Folder renames (source → destination, decoded names).
    pub renames: Vec<(String, String)>,
}

/// Live counters across all accounts of a run. The planned figures grow
/// as each folder is compared (a folder's messages to copy are counted
/// before the first of them is sent), so copied never passes planned.
#[derive(Debug, Default)]
pub struct Progress {
    pub messages: std::sync::atomic::AtomicU64,
    pub bytes: std::sync::atomic::AtomicU64,
    pub accounts_done: std::sync::atomic::AtomicU64,
    pub messages_planned: std::sync::atomic::AtomicU64,
    pub bytes_planned: std::sync::atomic::AtomicU64,
}

impl Progress {
    fn plan(&self, messages: u64, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.messages_planned.fetch_add(messages, Relaxed);
        self.bytes_planned.fetch_add(bytes, Relaxed);
    }

    fn add(&self, messages: u64, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.messages.fetch_add(messages, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FolderReport {
    pub src: String,
    pub dst: String,
    pub src_messages: u64,
    pub src_bytes: u64,
    pub dst_messages: u64,
    pub dst_bytes: u64,
    pub created: bool,
    pub copied: u64,
    pub copied_bytes: u64,
    pub flags_synced: u64,
    pub deleted: u64,
    /// Source messages not (or, in a dry run, not yet) on the destination.
    pub missing: u64,
    /// Source messages whose destination copy has other flags.
    pub flag_differences: u64,
    /// Keywords the destination does not accept permanently.
    pub dropped_keywords: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct AccountReport {
    pub src_user: String,
    pub dst_user: String,
    pub dry_run: bool,
    pub folders_only: bool,
    pub folders: Vec<FolderReport>,
    /// Problems with single folders or messages; the rest went on.
    #[serde(serialize_with = "ser_errors")]
    pub item_errors: Vec<MailError>,
    /// What stopped the account, if anything.
    #[serde(serialize_with = "ser_opt_error")]
    pub fatal: Option<MailError>,
}

fn ser_errors<S: serde::Serializer>(v: &[MailError], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(
        v.iter()
            .map(|e| serde_json::json!({"kind": e.kind(), "message": e.to_string()})),
    )
}
fn ser_opt_error<S: serde::Serializer>(
    v: &Option<MailError>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(e) => serde_json::json!({"kind": e.kind(), "message": e.to_string()}).serialize(s),
        None => s.serialize_none(),
    }
}

impl AccountReport {
    pub fn src_messages(&self) -> u64 {
        self.folders.iter().map(|f| f.src_messages).sum()
    }
    pub fn missing(&self) -> u64 {
        self.folders.iter().map(|f| f.missing).sum()
    }
    pub fn copied(&self) -> u64 {
        self.folders.iter().map(|f| f.copied).sum()
    }
    pub fn copied_bytes(&self) -> u64 {
        self.folders.iter().map(|f| f.copied_bytes).sum()
    }
    pub fn flags_synced(&self) -> u64 {
        self.folders.iter().map(|f| f.flags_synced).sum()
    }
    pub fn flag_differences(&self) -> u64 {
        self.folders.iter().map(|f| f.flag_differences).sum()
    }
    /// The first error that decides the exit code.
    pub fn worst(&self) -> Option<&MailError> {
        self.fatal.as_ref().or(self.item_errors.first())
    }
    pub fn good(&self) -> bool {
        self.fatal.is_none()
            && self.item_errors.is_empty()
            && self.missing() == 0
            && self.flag_differences() == 0
            && !self.dry_run
            && !self.folders_only
    }
    /// One sentence: the account's verdict.
    pub fn verdict(&self) -> String {
        let n = self.src_messages();
        if let Some(e) = &self.fatal {
            return format!(
                "sync FAILED: {e} ({} of {n} messages seen so far are not on the destination)",
                self.missing()
            );
        }
        if self.folders_only {
            return format!(
                "folders only: {} folders mapped, messages not compared",
                self.folders.len()
            );
        }
        if self.dry_run {
            let deletions: u64 = self.folders.iter().map(|f| f.deleted).sum();
            let del = if deletions > 0 {
                format!(", {deletions} destination-only messages would be deleted")
            } else {
                String::new()
            };
            return format!(
                "dry run: {} of {n} messages of the source would be copied, {} flag changes carried{del}; nothing was changed",
                self.missing(),
                self.flag_differences()
            );
        }

        if self.good() {
            let dropped: u64 = self.folders.iter().map(|f| f.dropped_keywords).sum();
            // Honest about what could not be carried: a destination that
            // does not take new keywords (no `\*` in PERMANENTFLAGS, e.g.
            // Dovecot's 26-keyword limit per folder) keeps them out.
            let note = if dropped > 0 {
                format!(
                    " ({dropped} keyword flags were left out: the destination does not accept them)"
                )
            } else {
                String::new()
            };
            return format!(
                "sync looks good: all {n} messages of the source are on the destination{note}"
            );
        }
        let mut why = Vec::new();
        if self.missing() > 0 {
            why.push(format!(
                "{} of {n} messages of the source are not on the destination",
                self.missing()
            ));
        }
        if self.flag_differences() > 0 {
            why.push(format!(
                "{} messages have other flags on the destination",
                self.flag_differences()
            ));
        }
        if !self.item_errors.is_empty() {
            why.push(format!("{} errors", self.item_errors.len()));
        }
        format!("sync incomplete: {}", why.join(", "))
    }
}

/// Sync one logged-in pair of sessions.
pub async fn account(
    src: &mut Imap,
    src_server: &Server,
    dst: &mut Imap,
    dst_server: &Server,
    report: &mut AccountReport,
    opts: &Options,
) -> Result<()> {
    let sf = folders::list(src, src_server).await?;
    let df = folders::list(dst, dst_server).await?;
    let mappings = folders::map(&sf, &df, &opts.renames);
    let caps = dst
        .capabilities()
        .await
        .map_err(|e| connection_error(dst_server, "CAPABILITY", e))?;
    let caps = append::Caps {
        literal_plus: caps.has_str("LITERAL+"),
        multiappend: caps.has_str("MULTIAPPEND"),
    };
    // Several source folders can land in one destination folder (a "Sent"
    // and an old "Sent Items"); what the destination has beyond the source
    // is judged against all of them together, never one alone.
    struct Group {
        report_idx: usize,
        src_keys: HashSet<String>,
        dst: Vec<DstMsg>,
    }
    let mut groups: Vec<(String, Group)> = Vec::new();
    let mut newest_src = None;
    for m in &mappings {
        let span =
            info_span!("folder", src = %m.src.display(), dst = %folders::decode_mutf7(&m.dst_name));
        let r = folder(src, src_server, dst, dst_server, m, report, opts, caps)
            .instrument(span)
            .await?;
        if let Some((fr, keys)) = r {
            newest_src = newest_src.max(keys.src_newest);
            report.folders.push(fr);
            let idx = report.folders.len() - 1;
            match groups.iter_mut().find(|(n, _)| *n == m.dst_name) {
                Some((_, g)) => {
                    g.src_keys.extend(keys.src_keys);
                    // The later listing is the fresher one.
                    g.dst = keys.dst;
                    g.report_idx = idx;
                }
                None => groups.push((
                    m.dst_name.clone(),
                    Group {
                        report_idx: idx,
                        src_keys: keys.src_keys.into_iter().collect(),
                        dst: keys.dst,
                    },
                )),
            }
        }
    }
    if !opts.delete || opts.folders_only {
        return Ok(());
    }
    let mut pending: Vec<(String, usize, Vec<u32>)> = Vec::new();
    let mut newest_dst_only = None;
    for (name, g) in &groups {
        let only: Vec<&DstMsg> = g
            .dst
            .iter()
            .filter(|d| !g.src_keys.contains(&d.key))
            .collect();
        newest_dst_only = newest_dst_only.max(only.iter().filter_map(|d| d.idate).max());
        if !only.is_empty() {
            pending.push((
                name.clone(),
                g.report_idx,
                only.iter().map(|d| d.uid).collect(),
            ));
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    // Mail newer than anything on the source can only have been delivered
    // to the destination itself: the MX already points there.
    if !opts.force && newest_dst_only > newest_src {
        report.item_errors.push(MailError::Refused(format!(
            "not deleting {} destination-only messages: the destination holds mail newer than anything on the source, so it already receives mail (after cutover); pass --force to delete anyway",
            pending.iter().map(|(_, _, u)| u.len()).sum::<usize>()
        )));
        return Ok(());
    }
    for (wire, idx, uids) in pending {
        let n = if opts.dry_run {
            uids.len() as u64
        } else {
            delete(dst, dst_server, &wire, &uids).await?
        };
        let fr = &mut report.folders[idx];
        fr.deleted = n;
        if !opts.dry_run {
            fr.dst_messages -= n.min(fr.dst_messages);
        }
    }
    Ok(())
}

/// A destination message, for deciding deletions.
struct DstMsg {
    uid: u32,
    key: String,
    idate: Option<i64>,
}

/// What `folder` saw, for the deletion decision across folders.
struct FolderKeys {
    src_keys: Vec<String>,
    src_newest: Option<i64>,
    dst: Vec<DstMsg>,
}

fn dst_msgs(l: &Listing) -> Vec<DstMsg> {
    l.msgs
        .iter()
        .map(|m| DstMsg {
            uid: m.uid,
            key: m.key.clone(),
            idate: m.idate.map(|d| d.timestamp()),
        })
        .collect()
}

type FolderOutcome = Option<(FolderReport, FolderKeys)>;

#[allow(clippy::too_many_arguments)]
async fn folder(
    src: &mut Imap,
    src_server: &Server,
    dst: &mut Imap,
    dst_server: &Server,
    m: &Mapping,
    report: &mut AccountReport,
    opts: &Options,
    caps: append::Caps,
) -> Result<FolderOutcome> {
    let mut fr = FolderReport {
        src: m.src.display(),
        dst: folders::decode_mutf7(&m.dst_name),
        ..Default::default()
    };
    let mut exists = m.exists;
    if !exists {
        fr.created = true;
        if !opts.dry_run {
            match dst.create(&m.dst_name).await {
                Ok(()) => {
                    exists = true;
                    let _ = dst.subscribe(&m.dst_name).await;
                    tracing::info!("created folder");
                }
                Err(async_imap::error::Error::No(d) | async_imap::error::Error::Bad(d)) => {
                    let detail = tidy(&d);
                    let listing = scan(src, src_server, &m.src.name, false).await?;
                    fr.src_messages = listing.msgs.len() as u64;
                    fr.src_bytes = listing.bytes();
                    fr.missing = fr.src_messages;
                    report.item_errors.push(MailError::Append {
                        server: dst_server.to_string(),
                        folder: fr.dst.clone(),
                        what: "the folder".into(),
                        detail,
                    });
                    return Ok(Some((
                        fr,
                        FolderKeys {
                            src_keys: Vec::new(),
                            src_newest: None,
                            dst: Vec::new(),
                        },
                    )));
                }
                Err(e) => return Err(connection_error(dst_server, "CREATE", e)),
            }
        }
    }
    let s = scan(src, src_server, &m.src.name, false).await?;
    fr.src_messages = s.msgs.len() as u64;
    fr.src_bytes = s.bytes();
    let src_newest = s
        .msgs
        .iter()
        .filter_map(|m| m.idate.map(|d| d.timestamp()))
        .max();
    let src_keys: Vec<String> = s.msgs.iter().map(|m| m.key.clone()).collect();
    if opts.folders_only {
        return Ok(Some((
            fr,
            FolderKeys {
                src_keys,
                src_newest,
                dst: Vec::new(),
            },
        )));
    }
    let d = if exists {
        scan(dst, dst_server, &m.dst_name, true).await?
    } else {
        Listing::default()
    };
    let dmap: HashMap<&str, &Msg> = d.msgs.iter().map(|m| (m.key.as_str(), m)).collect();
    let wanted = |msg: &Msg, fr: &mut FolderReport| -> Vec<String> {
        let (keep, drop): (Vec<_>, Vec<_>) = msg
            .flags
            .iter()
            .cloned()
            .partition(|f| !exists || d.permanent.is_empty() || d.accepts(f));
        fr.dropped_keywords += drop.len() as u64;
        keep
    };
    let mut to_copy = Vec::new();
    let mut to_flag = Vec::new();
    for msg in &s.msgs {
        match dmap.get(msg.key.as_str()) {
            None => to_copy.push(msg),
            Some(dm) => {
                let want = wanted(msg, &mut fr);
                if dm.flags != want {
                    to_flag.push((dm.uid, want));
                }
            }
        }
    }
    if opts.dry_run {
        fr.missing = to_copy.len() as u64;
        fr.flag_differences = to_flag.len() as u64;
        fr.dst_messages = d.msgs.len() as u64;
        fr.dst_bytes = d.bytes();
        let dst = dst_msgs(&d);
        return Ok(Some((
            fr,
            FolderKeys {
                src_keys,
                src_newest,
                dst,
            },
        )));
    }

    for (uid, flags) in &to_flag {
        let _: Vec<_> = dst
            .uid_store(
                uid.to_string(),
                format!("FLAGS.SILENT ({})", flags.join(" ")),
            )
            .await
            .map_err(|e| connection_error(dst_server, "UID STORE", e))?
            .try_collect()
            .await
            .map_err(|e| connection_error(dst_server, "UID STORE", e))?;
        fr.flags_synced += 1;
    }

    let mut append_failed = false;
    if !to_copy.is_empty() {
        if let Some(p) = &opts.progress {
            p.plan(
                to_copy.len() as u64,
                to_copy.iter().map(|m| u64::from(m.size)).sum(),
            );
        }
        let flags_for: Vec<Vec<String>> = to_copy.iter().map(|m| wanted(m, &mut fr)).collect();
        let dst_display = fr.dst.clone();
        let res = copy(
            src,
            src_server,
            dst,
            dst_server,
            &m.dst_name,
            &dst_display,
            &to_copy,
            &flags_for,
            opts,
            &mut fr,
            report,
            caps,
        )
        .await;
        match res {
            Ok(failed) => append_failed = failed,
            Err(e) => {
                fr.missing = to_copy.len() as u64 - fr.copied;
                fr.dst_messages = d.msgs.len() as u64 + fr.copied;
                fr.dst_bytes = d.bytes() + fr.copied_bytes;
                report.folders.push(fr);
                return Err(e);
            }
        }
    }

    // Re-read the destination: the verdict counts what is there.
    let after = if fr.copied > 0 || fr.flags_synced > 0 || append_failed {
        scan(dst, dst_server, &m.dst_name, true).await?
    } else {
        d
    };
    let amap: HashMap<&str, &Msg> = after.msgs.iter().map(|m| (m.key.as_str(), m)).collect();
    for msg in &s.msgs {
        match amap.get(msg.key.as_str()) {
            None => fr.missing += 1,
            Some(dm) => {
                let want: Vec<String> = msg
                    .flags
                    .iter()
                    .filter(|f| after.permanent.is_empty() || after.accepts(f))
                    .cloned()
                    .collect();
                if dm.flags != want {
                    fr.flag_differences += 1;
                }
            }
        }
    }
    fr.dst_messages = after.msgs.len() as u64;
    fr.dst_bytes = after.bytes();
    let dst = dst_msgs(&after);
    Ok(Some((
        fr,
        FolderKeys {
            src_keys,
            src_newest,
            dst,
        },
    )))
}

/// Fetch bodies in batches and APPEND them; the next batch is fetched from
/// the source while the current one is appended to the destination.
/// Returns whether some message was refused (the others went on). A quota
/// error stops the account: every further APPEND would fail the same way.
#[allow(clippy::too_many_arguments)]
async fn copy(
    src: &mut Imap,
    src_server: &Server,
    dst: &mut Imap,
    dst_server: &Server,
    dst_wire: &str,
    dst_display: &str,
    msgs: &[&Msg],
    flags_for: &[Vec<String>],
    opts: &Options,
    fr: &mut FolderReport,
    report: &mut AccountReport,
    caps: append::Caps,
) -> Result<bool> {
    let limit = opts.batch_bytes.max(1);
    let mut batches: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    while start < msgs.len() {
        let mut end = start;
        let mut bytes = 0u64;
        while end < msgs.len()
            && (end == start || (bytes + u64::from(msgs[end].size) <= limit && end - start < 500))
        {
            bytes += u64::from(msgs[end].size);
            end += 1;
        }
        batches.push(start..end);
        start = end;
    }
    let mut failed = false;
    let Some(first) = batches.first() else {
        return Ok(false);
    };
    let mut current = fetch_bodies(src, src_server, &msgs[first.clone()]).await?;
    for (bi, range) in batches.iter().enumerate() {
        let next_range = batches.get(bi + 1).cloned();
        let fetch_next = async {
            match next_range {
                Some(r) => fetch_bodies(src, src_server, &msgs[r]).await.map(Some),
                None => Ok(None),
            }
        };
        let append_all = append_batch(
            dst,
            dst_server,
            dst_wire,
            dst_display,
            &msgs[range.clone()],
            &flags_for[range.clone()],
            &current,
            fr,
            report,
            caps,
            opts.progress.as_deref(),
        );
        let (next, appended) = tokio::join!(fetch_next, append_all);
        failed |= appended?;
        match next? {
            Some(n) => current = n,
            None => break,
        }
    }
    Ok(failed)
}

async fn fetch_bodies(
    src: &mut Imap,
    server: &Server,
    batch: &[&Msg],
) -> Result<HashMap<u32, Vec<u8>>> {
    let set = batch
        .iter()
        .map(|m| m.uid.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let fetched: Vec<async_imap::types::Fetch> = src
        .uid_fetch(&set, "(UID BODY.PEEK[])")
        .await
        .map_err(|e| connection_error(server, "UID FETCH bodies", e))?
        .try_collect()
        .await
        .map_err(|e| connection_error(server, "UID FETCH bodies", e))?;
    Ok(fetched
        .iter()
        .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
        .collect())
}

#[allow(clippy::too_many_arguments)]
async fn append_batch(
    dst: &mut Imap,
    dst_server: &Server,
    dst_wire: &str,
    dst_display: &str,
    batch: &[&Msg],
    flags_for: &[Vec<String>],
    bodies: &HashMap<u32, Vec<u8>>,
    fr: &mut FolderReport,
    report: &mut AccountReport,
    caps: append::Caps,
    progress: Option<&Progress>,
) -> Result<bool> {
    if caps.multiappend && batch.len() > 1 {
        let items: Vec<append::Item<'_>> = batch
            .iter()
            .zip(flags_for)
            .filter_map(|(msg, flags)| {
                Some(append::Item {
                    flags: format!("({})", flags.join(" ")),
                    idate: msg.idate_imap(),
                    body: bodies.get(&msg.uid)?,
                })
            })
            .collect();
        match append::multiappend(dst, dst_wire, &items, caps.literal_plus).await {
            Ok(()) => {
                let bytes = items.iter().map(|i| i.body.len() as u64).sum::<u64>();
                fr.copied += items.len() as u64;
                fr.copied_bytes += bytes;
                if let Some(p) = progress {
                    p.add(items.len() as u64, bytes);
                }
                return Ok(false);
            }
            // Nothing of the batch was stored: one by one below finds the
            // message (or the quota) the server refuses.
            Err(AppendError::Refused(d)) => {
                tracing::debug!("MULTIAPPEND refused ({d}); retrying one by one")
            }
            Err(AppendError::Imap(e)) => return Err(connection_error(dst_server, "APPEND", e)),
        }
    }
    let mut failed = false;
    for (msg, flags) in batch.iter().zip(flags_for) {
        let Some(body) = bodies.get(&msg.uid) else {
            // Expunged on the source since the scan: nothing to copy.
            tracing::warn!(
                uid = msg.uid,
                "message vanished from the source during the sync"
            );
            continue;
        };
        let flags = format!("({})", flags.join(" "));
        let idate = msg.idate_imap();
        match append::append(
            dst,
            dst_wire,
            &flags,
            idate.as_deref(),
            body,
            caps.literal_plus,
        )
        .await
        {
            Ok(()) => {
                fr.copied += 1;
                fr.copied_bytes += body.len() as u64;
                if let Some(p) = progress {
                    p.add(1, body.len() as u64);
                }
            }
            Err(AppendError::Refused(detail)) => {
                let lower = detail.to_ascii_lowercase();
                // RFC 5530 OVERQUOTA; older servers only say "quota".
                if lower.contains("overquota")
                    || lower.contains("quota exceeded")
                    || lower.contains("over quota")
                {
                    return Err(MailError::Quota {
                        server: dst_server.to_string(),
                        user: report.dst_user.clone(),
                        folder: dst_display.to_string(),
                        detail,
                    });
                }
                failed = true;
                report.item_errors.push(MailError::Append {
                    server: dst_server.to_string(),
                    folder: dst_display.to_string(),
                    what: format!("message UID {} ({} bytes)", msg.uid, body.len()),
                    detail,
                });
            }
            Err(AppendError::Imap(e)) => return Err(connection_error(dst_server, "APPEND", e)),
        }
    }
    Ok(failed)
}

async fn delete(dst: &mut Imap, server: &Server, folder: &str, uids: &[u32]) -> Result<u64> {
    dst.select(folder)
        .await
        .map_err(|e| connection_error(server, "SELECT", e))?;
    let set = uids
        .iter()
        .map(|u| u.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let _: Vec<_> = dst
        .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
        .await
        .map_err(|e| connection_error(server, "UID STORE \\Deleted", e))?
        .try_collect()
        .await
        .map_err(|e| connection_error(server, "UID STORE \\Deleted", e))?;
    // UID EXPUNGE (UIDPLUS) removes only these messages, not others a
    // user flagged \Deleted on the destination.
    let gone: Vec<_> = dst
        .uid_expunge(&set)
        .await
        .map_err(|e| connection_error(server, "UID EXPUNGE", e))?
        .try_collect()
        .await
        .map_err(|e| connection_error(server, "UID EXPUNGE", e))?;
    Ok(gone.len() as u64)
}
