//! Message identity the way imapsync computes it (imapsync 2.229
//! `parse_header_msg`/`header_construct`; facts/dns-mail.md B1): the
//! `Message-Id` and `Received` header lines, each unfolded, 8-bit bytes
//! turned into `X`, tabs into spaces, whitespace collapsed, upper-cased as
//! `KEY: VALUE`, then sorted and hashed. Size is not part of the key
//! (imapsync's `--skipsize` default).
//!
//! imapsync rewrites messages that have neither header (`--addheader`),
//! which changes the message. We do not touch the bytes: such messages are
//! keyed by `Date`, `From`, `To`, `Subject` plus their size, which a copy
//! keeps identical. Equal keys inside one folder are numbered `#0`, `#1`…
//! so exact duplicates are each copied once and never twice.

use sha2::{Digest, Sha256};

/// The header fields the scan fetches (`BODY.PEEK[HEADER.FIELDS (…)]`).
pub const FIELDS: &str = "MESSAGE-ID RECEIVED DATE FROM TO SUBJECT";

/// A key, hex of SHA-256 (shorter to keep than the header lines).
pub fn key(headers: &[u8], size: u32) -> String {
    let mut ident = Vec::new();
    let mut fallback = Vec::new();
    for (name, line) in normalised_lines(headers) {
        match name.as_str() {
            "MESSAGE-ID" | "RECEIVED" => ident.push(line),
            _ => fallback.push(line),
        }
    }
    let material = if ident.is_empty() {
        fallback.sort();
        format!("NOID\n{}\nSIZE {size}", fallback.join("\n"))
    } else {
        ident.sort();
        ident.join("\n")
    };
    hex::encode(&Sha256::digest(material.as_bytes())[..20])
}

/// Unfolded `(NAME, "NAME: VALUE")` lines, normalised as imapsync does.
fn normalised_lines(raw: &[u8]) -> Vec<(String, String)> {
    let text: String = raw
        .iter()
        .map(|&b| match b {
            b'\t' => ' ',
            0x80..=0xff => 'X',
            b => b as char,
        })
        .collect();
    let mut logical: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with(' ') {
            if let Some(last) = logical.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
            continue;
        }
        if !line.trim().is_empty() {
            logical.push(line.to_string());
        }
    }
    logical
        .into_iter()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let name = k.trim().to_ascii_uppercase();
            let value = v
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_uppercase();
            Some((name.clone(), format!("{name}: {value}")))
        })
        .collect()
}

/// Number equal keys in order: `k#0`, `k#1`, …
pub fn numbered(keys: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    keys.into_iter()
        .map(|k| {
            let n = seen.entry(k.clone()).or_default();
            let out = format!("{k}#{n}");
            *n += 1;
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_and_received_decide() {
        let a = b"Message-ID: <a@x>\r\nReceived: from a\r\n by b; Mon\r\nSubject: one\r\n\r\n";
        let b = b"received:   from a by b;\tMon\r\nmessage-id: <A@X>\r\nSubject: two\r\n\r\n";
        assert_eq!(
            key(a, 10),
            key(b, 99),
            "folding, case, order and other headers do not matter"
        );
        let c = b"Message-ID: <c@x>\r\n\r\n";
        assert_ne!(key(a, 10), key(c, 10));
    }

    #[test]
    fn eight_bit_bytes_become_x() {
        let a = "Message-ID: <für@x>\r\n".as_bytes();
        let b = b"Message-ID: <fXXr@x>\r\n";
        assert_eq!(key(a, 1), key(b, 1));
    }

    #[test]
    fn fallback_without_message_id_uses_size() {
        let a = b"Date: Mon, 1 Jan 2024\r\nFrom: a@x\r\nSubject: s\r\n\r\n";
        assert_eq!(key(a, 100), key(a, 100));
        assert_ne!(key(a, 100), key(a, 101));
        let b = b"Date: Mon, 1 Jan 2024\r\nFrom: a@x\r\nSubject: t\r\n\r\n";
        assert_ne!(key(a, 100), key(b, 100));
    }

    #[test]
    fn duplicates_are_numbered() {
        let n = numbered(["a".to_string(), "b".into(), "a".into()]);
        assert_eq!(n, ["a#0", "b#0", "a#1"]);
    }
}
