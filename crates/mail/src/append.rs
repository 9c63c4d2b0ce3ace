//! APPEND written out by hand. async-imap's `append` loses the server's
//! words when the server refuses before the literal (Dovecot answers an
//! over-quota or too-large APPEND with a tagged `NO [OVERQUOTA] …` instead
//! of `+`; async-imap 0.12 then returns a bare `Error::Append`). Here the
//! tagged answer is kept, so quota and refusals can be told apart. With
//! LITERAL+ (RFC 7888) the message follows the command without waiting for
//! `+`, saving a round trip per message.

use async_imap::imap_proto::{Response, Status};
use tokio::io::AsyncWriteExt;

use crate::conn::Imap;

/// What the destination supports for storing messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caps {
    /// RFC 7888: literals without waiting for `+`.
    pub literal_plus: bool,
    /// RFC 3502: several messages per APPEND.
    pub multiappend: bool,
}

pub enum AppendError {
    /// The server said NO or BAD; its text.
    Refused(String),
    /// Transport or protocol failure.
    Imap(async_imap::error::Error),
}

impl From<async_imap::error::Error> for AppendError {
    fn from(e: async_imap::error::Error) -> Self {
        AppendError::Imap(e)
    }
}

impl From<std::io::Error> for AppendError {
    fn from(e: std::io::Error) -> Self {
        AppendError::Imap(async_imap::error::Error::Io(e))
    }
}

/// An IMAP quoted string (mailbox names from LIST are passed through).
fn quote(s: &str) -> Result<String, AppendError> {
    if s.contains(['\r', '\n']) {
        return Err(AppendError::Refused(format!(
            "mailbox name {s:?} contains a line break"
        )));
    }
    Ok(format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

fn refusal(
    status: &Status,
    code: &Option<async_imap::imap_proto::ResponseCode<'_>>,
    info: Option<&str>,
) -> String {
    let code = code
        .as_ref()
        .map(|c| format!("[{c:?}] "))
        .unwrap_or_default();
    format!("{status:?} {code}{}", info.unwrap_or(""))
        .trim()
        .to_string()
}

/// Without LITERAL+, the server must say `+` before a literal is sent; a
/// tagged answer instead is its refusal (quota, size), kept with its reason.
async fn await_continuation(
    s: &mut Imap,
    id: &async_imap::imap_proto::RequestId,
) -> Result<(), AppendError> {
    loop {
        let res = s
            .read_response()
            .await?
            .ok_or(async_imap::error::Error::ConnectionLost)?;
        match res.parsed() {
            Response::Continue { .. } => return Ok(()),
            Response::Done {
                tag,
                status,
                outcome,
            } if tag == id => {
                return Err(AppendError::Refused(refusal(
                    status,
                    &outcome.code,
                    outcome.information.as_deref(),
                )));
            }
            _ => continue,
        }
    }
}

pub async fn append(
    s: &mut Imap,
    mailbox: &str,
    flags: &str,
    idate: Option<&str>,
    body: &[u8],
    literal_plus: bool,
) -> Result<(), AppendError> {
    let cmd = format!(
        "APPEND {} {flags}{} {{{}{}}}",
        quote(mailbox)?,
        idate.map(|d| format!(" {d}")).unwrap_or_default(),
        body.len(),
        if literal_plus { "+" } else { "" }
    );
    let id = s.run_command(&cmd).await?;
    if !literal_plus {
        await_continuation(s, &id).await?;
    }
    let w = s.get_mut();
    w.write_all(body).await?;
    w.write_all(b"\r\n").await?;
    w.flush().await?;
    loop {
        let res = s
            .read_response()
            .await?
            .ok_or(async_imap::error::Error::ConnectionLost)?;
        if let Response::Done {
            tag,
            status,
            outcome,
        } = res.parsed()
            && *tag == id
        {
            return match status {
                Status::Ok => Ok(()),
                st => Err(AppendError::Refused(refusal(
                    st,
                    &outcome.code,
                    outcome.information.as_deref(),
                ))),
            };
        }
    }
}

/// One message for MULTIAPPEND: flags list, quoted internal date, bytes.
pub struct Item<'a> {
    pub flags: String,
    pub idate: Option<String>,
    pub body: &'a [u8],
}

/// MULTIAPPEND (RFC 3502): many messages in one command and one server
/// transaction, so the server syncs to disk once per batch instead of once
/// per message, which dominates the time of a plain copy. All or nothing:
/// on a refusal none of the batch was stored, and the caller retries one
/// by one to learn which message it was.
pub async fn multiappend(
    s: &mut Imap,
    mailbox: &str,
    items: &[Item<'_>],
    literal_plus: bool,
) -> Result<(), AppendError> {
    let Some((first, rest)) = items.split_first() else {
        return Ok(());
    };
    let plus = if literal_plus { "+" } else { "" };
    let head = |it: &Item<'_>| {
        format!(
            "{}{} {{{}{plus}}}",
            it.flags,
            it.idate
                .as_deref()
                .map(|d| format!(" {d}"))
                .unwrap_or_default(),
            it.body.len()
        )
    };
    let id = s
        .run_command(format!("APPEND {} {}", quote(mailbox)?, head(first)))
        .await?;
    // Collected up front: an iterator adapter held across the awaits
    // below would make the future not `Send`.
    let mut parts: Vec<(Option<String>, &[u8])> = vec![(None, first.body)];
    parts.extend(rest.iter().map(|it| (Some(head(it)), it.body)));
    let last = parts.len() - 1;
    for (i, (prefix, body)) in parts.into_iter().enumerate() {
        if let Some(p) = prefix {
            let w = s.get_mut();
            w.write_all(b" ").await?;
            w.write_all(p.as_bytes()).await?;
            w.write_all(b"\r\n").await?;
        }
        if !literal_plus {
            s.get_mut().flush().await?;
            await_continuation(s, &id).await?;
        }
        s.get_mut().write_all(body).await?;
        if i == last {
            s.get_mut().write_all(b"\r\n").await?;
        }
    }
    s.get_mut().flush().await?;
    loop {
        let res = s
            .read_response()
            .await?
            .ok_or(async_imap::error::Error::ConnectionLost)?;
        if let Response::Done {
            tag,
            status,
            outcome,
        } = res.parsed()
            && *tag == id
        {
            return match status {
                Status::Ok => Ok(()),
                st => Err(AppendError::Refused(refusal(
                    st,
                    &outcome.code,
                    outcome.information.as_deref(),
                ))),
            };
        }
    }
}
