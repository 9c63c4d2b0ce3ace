//! Folder listing and the source → destination name mapping: INBOX, then
//! special folders by SPECIAL-USE attribute (RFC 6154) and by the common
//! names clients use (imapsync's `--automap`), then the hierarchy
//! separator and an `INBOX.` namespace prefix translated.

use async_imap::types::NameAttribute;
use futures::TryStreamExt;

use crate::conn::{Imap, connection_error};
use crate::error::Result;
use crate::server::Server;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Role {
    Sent,
    Drafts,
    Junk,
    Trash,
    Archive,
}

/// Well-known names per role, compared case-insensitively on the decoded
/// last path component (subset of imapsync 2.229's automap lists).
const NAMES: &[(Role, &[&str])] = &[
    (
        Role::Sent,
        &[
            "sent",
            "sent items",
            "sent messages",
            "sent mail",
            "gesendet",
            "gesendete elemente",
            "gesendete objekte",
            "envoyés",
            "éléments envoyés",
            "elementos enviados",
            "enviados",
            "posta inviata",
            "verzonden items",
            "skickat",
        ],
    ),
    (
        Role::Drafts,
        &[
            "drafts",
            "draft",
            "entwürfe",
            "brouillons",
            "borradores",
            "bozze",
            "concepten",
        ],
    ),
    (
        Role::Junk,
        &[
            "junk",
            "spam",
            "junk e-mail",
            "junk email",
            "junk-e-mail",
            "bulk mail",
            "indésirables",
            "courrier indésirable",
            "correo no deseado",
            "posta indesiderata",
        ],
    ),
    (
        Role::Trash,
        &[
            "trash",
            "deleted items",
            "deleted messages",
            "deleted",
            "bin",
            "papierkorb",
            "gelöschte elemente",
            "gelöschte objekte",
            "corbeille",
            "éléments supprimés",
            "papelera",
            "cestino",
            "prullenbak",
        ],
    ),
    (Role::Archive, &["archive", "archives", "archiv", "archief"]),
];

#[derive(Debug, Clone)]
pub struct Folder {
    /// The wire name (modified UTF-7), passed through unchanged.
    pub name: String,
    pub delim: Option<String>,
    pub role: Option<Role>,
    /// Role from the SPECIAL-USE attribute (stronger than a name match).
    pub special_use: bool,
    pub selectable: bool,
    /// Virtual views (`\All`, `\Flagged`, e.g. Gmail's "All Mail") hold
    /// copies of messages from other folders; copying them duplicates mail.
    pub virtual_view: bool,
}

impl Folder {
    pub fn is_inbox(&self) -> bool {
        self.name.eq_ignore_ascii_case("INBOX")
    }
    /// The name for people: modified UTF-7 decoded.
    pub fn display(&self) -> String {
        decode_mutf7(&self.name)
    }
}

pub async fn list(s: &mut Imap, server: &Server) -> Result<Vec<Folder>> {
    let names: Vec<_> = s
        .list(Some(""), Some("*"))
        .await
        .map_err(|e| connection_error(server, "LIST", e))?
        .try_collect()
        .await
        .map_err(|e| connection_error(server, "LIST", e))?;
    Ok(names
        .iter()
        .map(|n| {
            let mut role = None;
            let mut selectable = true;
            let mut virtual_view = false;
            for a in n.attributes() {
                match a {
                    NameAttribute::Sent => role = Some(Role::Sent),
                    NameAttribute::Drafts => role = Some(Role::Drafts),
                    NameAttribute::Trash => role = Some(Role::Trash),
                    NameAttribute::Junk => role = Some(Role::Junk),
                    NameAttribute::Archive => role = Some(Role::Archive),
                    NameAttribute::All | NameAttribute::Flagged => virtual_view = true,
                    NameAttribute::NoSelect => selectable = false,
                    NameAttribute::Extension(x) if x.eq_ignore_ascii_case("\\NonExistent") => {
                        selectable = false
                    }
                    _ => {}
                }
            }
            let special_use = role.is_some();
            let name = n.name().to_string();
            let delim = n.delimiter().map(str::to_string);
            let role = role.or_else(|| role_by_name(&name, delim.as_deref()));
            Folder {
                name,
                delim,
                role,
                special_use,
                selectable,
                virtual_view,
            }
        })
        .collect())
}

fn role_by_name(wire: &str, delim: Option<&str>) -> Option<Role> {
    let decoded = decode_mutf7(wire);
    let mut parts: Vec<&str> = match delim {
        Some(d) if !d.is_empty() => decoded.split(d).collect(),
        _ => vec![decoded.as_str()],
    };
    // Only top level, or directly under INBOX (Courier's INBOX.Sent).
    if parts.len() == 2 && parts[0].eq_ignore_ascii_case("INBOX") {
        parts.remove(0);
    }
    if parts.len() != 1 {
        return None;
    }
    let last = parts[0].to_lowercase();
    NAMES
        .iter()
        .find(|(_, names)| names.contains(&last.as_str()))
        .map(|(r, _)| *r)
}

/// Where each selectable source folder goes on the destination.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub src: Folder,
    pub dst_name: String,
    /// Whether the destination already has it.
    pub exists: bool,
}

/// `renames`: (source name as displayed, destination name as displayed),
/// both decoded and with each server's own separator; they win over every
/// other rule (imapsync's `--f1f2`).
pub fn map(src: &[Folder], dst: &[Folder], renames: &[(String, String)]) -> Vec<Mapping> {
    let src_delim = src.iter().find_map(|f| f.delim.clone());
    let dst_delim = dst
        .iter()
        .find_map(|f| f.delim.clone())
        .or_else(|| src_delim.clone());
    let prefix_of = |folders: &[Folder], delim: &Option<String>| -> Option<String> {
        let d = delim.as_deref()?;
        let p = format!("INBOX{d}");
        let others: Vec<_> = folders.iter().filter(|f| !f.is_inbox()).collect();
        (!others.is_empty() && others.iter().all(|f| f.name.starts_with(&p))).then_some(p)
    };
    let src_prefix = prefix_of(src, &src_delim);
    let dst_prefix = prefix_of(dst, &dst_delim);
    let mut out = Vec::new();
    // A name only stands for a role when no source folder carries that role
    // as SPECIAL-USE: the server's own word wins, and an old "Sent Items"
    // next to the real Sent folder keeps its own name.
    let src_special: Vec<Role> = src
        .iter()
        .filter(|f| f.special_use)
        .filter_map(|f| f.role)
        .collect();
    for f in src.iter().filter(|f| f.selectable && !f.virtual_view) {
        let role = f.role.filter(|r| f.special_use || !src_special.contains(r));
        let by_role = role.and_then(|r| {
            dst.iter()
                .filter(|d| d.role == Some(r))
                .max_by_key(|d| d.special_use)
                .map(|d| d.name.clone())
        });
        let renamed = renames.iter().find(|(from, _)| *from == f.display());
        let dst_name = if let Some((_, to)) = renamed {
            encode_mutf7(to)
        } else if f.is_inbox() {
            "INBOX".to_string()
        } else if let Some(n) = by_role {
            n
        } else {
            let mut rest = f.name.as_str();
            if let Some(p) = &src_prefix {
                rest = rest.strip_prefix(p.as_str()).unwrap_or(rest);
            }
            let translated = match (&src_delim, &dst_delim) {
                (Some(s), Some(d)) if s != d => rest
                    .split(s.as_str())
                    // A destination separator inside a source name would
                    // create a level that did not exist.
                    .map(|part| part.replace(d.as_str(), "_"))
                    .collect::<Vec<_>>()
                    .join(d),
                _ => rest.to_string(),
            };
            match &dst_prefix {
                Some(p) => format!("{p}{translated}"),
                None => translated,
            }
        };
        let exists = dst
            .iter()
            .any(|d| d.name == dst_name || (d.is_inbox() && dst_name == "INBOX"));
        out.push(Mapping {
            src: f.clone(),
            dst_name,
            exists,
        });
    }
    out
}

/// UTF-8 → RFC 3501 §5.1.3 modified UTF-7 (for names the operator types).
pub fn encode_mutf7(s: &str) -> String {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    let mut out = String::new();
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let chars = chunk.len() + 1;
            for i in 0..chars {
                out.push(ALPHA[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out.push('-');
        pending.clear();
    };
    for ch in s.chars() {
        if ch == '&' {
            flush(&mut pending, &mut out);
            out.push_str("&-");
        } else if (' '..='~').contains(&ch) {
            flush(&mut pending, &mut out);
            out.push(ch);
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// RFC 3501 §5.1.3 modified UTF-7 → UTF-8 (invalid input is kept as is).
pub fn decode_mutf7(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let Some(j) = after.find('-') else {
            out.push_str(&rest[i..]);
            return out;
        };
        let chunk = &after[..j];
        if chunk.is_empty() {
            out.push('&');
        } else {
            match decode_b64_utf16(chunk) {
                Some(text) => out.push_str(&text),
                None => out.push_str(&rest[i..i + j + 2]),
            }
        }
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    out
}

fn decode_b64_utf16(chunk: &str) -> Option<String> {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut bytes = Vec::new();
    for c in chunk.bytes() {
        let v = ALPHA.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            bytes.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    if bytes.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, delim: &str, role: Option<Role>) -> Folder {
        Folder {
            name: name.into(),
            delim: Some(delim.into()),
            role: role.or_else(|| role_by_name(name, Some(delim))),
            special_use: role.is_some(),
            selectable: true,
            virtual_view: false,
        }
    }

    #[test]
    fn mutf7() {
        assert_eq!(decode_mutf7("Entw&APw-rfe alt"), "Entwürfe alt");
        assert_eq!(decode_mutf7("A&-B"), "A&B");
        assert_eq!(decode_mutf7("&ZeVnLIqe-"), "日本語");
        for name in [
            "Entwürfe alt",
            "A&B",
            "日本語",
            "Projekte/Ärger & Co",
            "plain",
            "€",
        ] {
            assert_eq!(decode_mutf7(&encode_mutf7(name)), name, "{name}");
        }
        assert_eq!(encode_mutf7("Entwürfe alt"), "Entw&APw-rfe alt");
        assert_eq!(encode_mutf7("日本語"), "&ZeVnLIqe-");
    }

    #[test]
    fn special_folders_follow_roles_and_names() {
        let src = [
            f("INBOX", ".", None),
            f("INBOX.Sent Items", ".", None),
            f("INBOX.Gel&APY-schte Elemente", ".", None),
            f("INBOX.Projects", ".", None),
            f("INBOX.Projects.2024", ".", None),
        ];
        let dst = [
            f("INBOX", "/", None),
            f("Sent", "/", Some(Role::Sent)),
            f("Trash", "/", Some(Role::Trash)),
        ];
        let m = map(&src, &dst, &[]);
        let names: Vec<_> = m.iter().map(|m| m.dst_name.as_str()).collect();
        assert_eq!(
            names,
            ["INBOX", "Sent", "Trash", "Projects", "Projects/2024"]
        );
        assert!(m[1].exists && !m[3].exists);
    }

    #[test]
    fn special_use_beats_a_name() {
        let src = [
            f("INBOX", "/", None),
            f("Sent", "/", Some(Role::Sent)),
            f("Sent Items", "/", None),
        ];
        let dst = [f("INBOX", "/", None), f("Gesendet", "/", Some(Role::Sent))];
        let names: Vec<_> = map(&src, &dst, &[])
            .into_iter()
            .map(|m| m.dst_name)
            .collect();
        assert_eq!(names, ["INBOX", "Gesendet", "Sent Items"]);
    }

    #[test]
    fn separator_inside_a_name_does_not_create_a_level() {
        let src = [f("INBOX", "/", None), f("Reports.Q1", "/", None)];
        let dst = [f("INBOX", ".", None)];
        assert_eq!(map(&src, &dst, &[])[1].dst_name, "Reports_Q1");
        let r = [("Reports.Q1".to_string(), "Berichte/Q1 Ü".to_string())];
        assert_eq!(map(&src, &dst, &r)[1].dst_name, "Berichte/Q1 &ANw-");
    }
}
