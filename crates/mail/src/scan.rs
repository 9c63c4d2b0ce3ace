//! Reading a folder's message list: identity key, flags, internal date and
//! size of every message, in one FETCH of the identity headers.

use async_imap::types::{Fetch, Flag};
use chrono::{DateTime, FixedOffset};
use futures::TryStreamExt;

use crate::conn::{Imap, connection_error, tidy};
use crate::error::{MailError, Result};
use crate::ident;
use crate::server::Server;

#[derive(Debug, Clone)]
pub struct Msg {
    pub uid: u32,
    pub key: String,
    /// Sorted, without `\Recent`.
    pub flags: Vec<String>,
    pub idate: Option<DateTime<FixedOffset>>,
    pub size: u32,
}

impl Msg {
    /// `"dd-Mon-yyyy hh:mm:ss +zzzz"` for APPEND (RFC 3501 date-time).
    pub fn idate_imap(&self) -> Option<String> {
        self.idate
            .map(|d| d.format("\"%d-%b-%Y %H:%M:%S %z\"").to_string())
    }
}

/// A folder's state after SELECT/EXAMINE.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub msgs: Vec<Msg>,
    /// PERMANENTFLAGS (only meaningful after SELECT).
    pub permanent: Vec<String>,
    pub uid_validity: Option<u32>,
}

impl Listing {
    pub fn bytes(&self) -> u64 {
        self.msgs.iter().map(|m| u64::from(m.size)).sum()
    }
    /// Whether the folder accepts this flag permanently (`\*` = any keyword).
    pub fn accepts(&self, flag: &str) -> bool {
        self.permanent
            .iter()
            .any(|p| p == "\\*" || p.eq_ignore_ascii_case(flag))
    }
}

pub fn flag_str(f: &Flag<'_>) -> Option<String> {
    Some(match f {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        // \Recent cannot be APPENDed or STOREd (facts/dns-mail.md B4.6).
        Flag::Recent | Flag::MayCreate => return None,
        Flag::Custom(c) => c.to_string(),
    })
}

const QUERY: &str = "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID RECEIVED DATE FROM TO SUBJECT)])";

/// List a folder. `write` = SELECT (destination: we need PERMANENTFLAGS
/// and will store flags), otherwise EXAMINE (source: read-only, so `\Seen`
/// and `\Recent` stay untouched).
pub async fn scan(s: &mut Imap, server: &Server, folder: &str, write: bool) -> Result<Listing> {
    let mb = if write {
        s.select(folder).await
    } else {
        s.examine(folder).await
    }
    .map_err(|e| match e {
        async_imap::error::Error::No(d) | async_imap::error::Error::Bad(d) => MailError::Protocol {
            server: server.to_string(),
            context: format!("cannot open folder {folder:?}"),
            detail: tidy(&d),
        },
        other => connection_error(server, "SELECT", other),
    })?;
    let permanent = mb.permanent_flags.iter().filter_map(|f| match f {
        Flag::MayCreate => Some("\\*".to_string()),
        other => flag_str(other),
    });
    let mut listing = Listing {
        msgs: Vec::new(),
        permanent: permanent.collect(),
        uid_validity: mb.uid_validity,
    };
    if mb.exists == 0 {
        return Ok(listing);
    }
    let fetches: Vec<Fetch> = s
        .fetch("1:*", QUERY)
        .await
        .map_err(|e| connection_error(server, "FETCH headers", e))?
        .try_collect()
        .await
        .map_err(|e| connection_error(server, "FETCH headers", e))?;
    let mut raw = Vec::with_capacity(fetches.len());
    for f in &fetches {
        let Some(uid) = f.uid else { continue };
        let size = f.size.unwrap_or(0);
        let mut flags: Vec<String> = f.flags().filter_map(|fl| flag_str(&fl)).collect();
        flags.sort();
        flags.dedup();
        raw.push((
            uid,
            ident::key(f.header().unwrap_or_default(), size),
            flags,
            f.internal_date(),
            size,
        ));
    }
    raw.sort_by_key(|r| r.0);
    let keys = ident::numbered(raw.iter().map(|r| r.1.clone()));
    listing.msgs = raw
        .into_iter()
        .zip(keys)
        .map(|((uid, _, flags, idate, size), key)| Msg {
            uid,
            key,
            flags,
            idate,
            size,
        })
        .collect();
    Ok(listing)
}
