//! The one place SQL text is escaped: string literals and identifiers for
//! each engine, and database names checked once, when they are read.
//!
//! PostgreSQL (standard_conforming_strings, the default since 9.1): a
//! literal is `'…'` with quotes doubled, an identifier `"…"` with double
//! quotes doubled. MariaDB (default sql_mode, where a backslash escapes in a
//! string): a literal escapes backslash, quote, NUL and the line breaks as
//! `mysql_real_escape_string` does; an identifier is `` `…` `` with
//! backticks doubled.

use std::fmt;

use crate::engine::Engine;

/// `s` as an SQL string literal of `engine`.
///
/// PostgreSQL text cannot hold a NUL character, so no PostgreSQL value can
/// equal a string containing one: such a string renders as a NULL of type
/// text, which compares equal to nothing (the truthful answer).
pub fn literal(engine: Engine, s: &str) -> String {
    match engine {
        Engine::Postgresql => {
            if s.contains('\0') {
                return "(NULL::text)".to_string();
            }
            format!("'{}'", s.replace('\'', "''"))
        }
        Engine::Mariadb => {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('\'');
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\'' => out.push_str("\\'"),
                    '\0' => out.push_str("\\0"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\x1a' => out.push_str("\\Z"),
                    c => out.push(c),
                }
            }
            out.push('\'');
            out
        }
    }
}

/// `s` as a quoted SQL identifier of `engine` (a database, schema, table or
/// role name).
pub fn ident(engine: Engine, s: &str) -> String {
    match engine {
        Engine::Postgresql => format!("\"{}\"", s.replace('"', "\"\"")),
        Engine::Mariadb => format!("`{}`", s.replace('`', "``")),
    }
}

/// A PostgreSQL dollar-quoted body (`$tag$…$tag$`) whose tag does not occur
/// in the body, so a name containing `$$` cannot end it early.
pub fn dollar_quote(body: &str) -> String {
    let mut tag = String::from("$m$");
    let mut n = 0u32;
    while body.contains(&tag) {
        n += 1;
        tag = format!("$m{n}$");
    }
    format!("{tag}{body}{tag}")
}

/// Why a string cannot be a database name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a database name cannot be empty; name the database")]
    Empty,
    #[error("database name {name:?} contains a NUL character, which {engine} does not allow")]
    Nul { engine: Engine, name: String },
    #[error(
        "database name {name:?} is {len} {unit} long; {engine} allows at most {max} (it would cut the name short); pick a shorter name"
    )]
    TooLong {
        engine: Engine,
        name: String,
        len: usize,
        max: usize,
        unit: &'static str,
    },
    #[error("database name {name:?} ends with a space, which {engine} does not allow")]
    TrailingSpace { engine: Engine, name: String },
    #[error(
        "database name {name:?} contains {ch:?}, outside the characters {engine} allows in a name (U+0001 to U+FFFF)"
    )]
    Character {
        engine: Engine,
        name: String,
        ch: char,
    },
}

/// A database name the engine can hold exactly as written (quotes,
/// backticks, spaces, `;` and unicode included: they are escaped where the
/// name is used, never refused).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DbName {
    engine: Engine,
    name: String,
}

impl DbName {
    pub fn new(engine: Engine, name: &str) -> Result<DbName, NameError> {
        let bad = |f: fn(Engine, String) -> NameError| Err(f(engine, name.to_string()));
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.contains('\0') {
            return bad(|engine, name| NameError::Nul { engine, name });
        }
        // PostgreSQL: NAMEDATALEN 64 bytes with the terminator, and longer
        // names are silently truncated. MariaDB: 64 characters, of the BMP.
        let (len, max, unit) = match engine {
            Engine::Postgresql => (name.len(), 63, "bytes"),
            Engine::Mariadb => (name.chars().count(), 64, "characters"),
        };
        if len > max {
            return Err(NameError::TooLong {
                engine,
                name: name.to_string(),
                len,
                max,
                unit,
            });
        }
        if engine == Engine::Mariadb {
            if name.ends_with(' ') {
                return bad(|engine, name| NameError::TrailingSpace { engine, name });
            }
            if let Some(ch) = name.chars().find(|c| u32::from(*c) > 0xFFFF) {
                return Err(NameError::Character {
                    engine,
                    name: name.to_string(),
                    ch,
                });
            }
        }
        Ok(DbName {
            engine,
            name: name.to_string(),
        })
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The name as an identifier (`CREATE DATABASE …`).
    pub fn ident(&self) -> String {
        ident(self.engine, &self.name)
    }

    /// The name as a string literal (`WHERE datname = …`).
    pub fn literal(&self) -> String {
        literal(self.engine, &self.name)
    }

    /// The name reduced to `[A-Za-z0-9_-]`, for file names built from it.
    pub fn file_safe(&self) -> String {
        self.name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

impl fmt::Display for DbName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use Engine::{Mariadb, Postgresql};

    /// Names a hostile or careless user could give; each must round-trip.
    pub const HOSTILE: &[&str] = &[
        "o'k",
        "a\"b",
        "back`tick",
        "back\\slash",
        "trail\\",
        "\\'; DROP DATABASE x; --",
        "dollar$$quote",
        "$m$tag",
        "new\nline",
        "semi;colon",
        "ünïcødé 名前",
        "-dash",
        "%_wild",
        "sp ace",
        "",
    ];

    #[test]
    fn postgres_literals_double_quotes_only() {
        assert_eq!(literal(Postgresql, "o'k"), "'o''k'");
        assert_eq!(literal(Postgresql, "a\\b"), "'a\\b'");
        assert_eq!(literal(Postgresql, ""), "''");
        assert_eq!(literal(Postgresql, "a\0b"), "(NULL::text)");
        assert_eq!(ident(Postgresql, "a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn mariadb_literals_escape_backslash_quote_and_nul() {
        assert_eq!(literal(Mariadb, "o'k"), "'o\\'k'");
        assert_eq!(literal(Mariadb, "trail\\"), "'trail\\\\'");
        assert_eq!(literal(Mariadb, "a\0b\nc"), "'a\\0b\\nc'");
        assert_eq!(ident(Mariadb, "a`b"), "`a``b`");
        // The mistake this module replaces: doubling quotes only leaves a
        // trailing backslash free to escape the closing quote.
        assert_ne!(
            literal(Mariadb, "x\\"),
            format!("'{}'", "x\\".replace('\'', "''"))
        );
    }

    /// Every hostile name stays inside its quotes: after the opening quote,
    /// the closing one is the first unescaped quote, and it is the last byte.
    #[test]
    fn hostile_names_stay_one_token() {
        for s in HOSTILE {
            for e in [Postgresql, Mariadb] {
                let l = literal(e, s);
                assert_eq!(unquote_literal(e, &l).as_deref(), Some(*s), "{e} {l}");
                let i = ident(e, s);
                assert_eq!(unquote_ident(e, &i).as_deref(), Some(*s), "{e} {i}");
            }
        }
    }

    fn unquote_literal(e: Engine, l: &str) -> Option<String> {
        let body = l.strip_prefix('\'')?;
        let mut out = String::new();
        let mut it = body.chars().peekable();
        while let Some(c) = it.next() {
            match (e, c) {
                (_, '\'') if it.peek() == Some(&'\'') => {
                    it.next();
                    out.push('\'');
                }
                (_, '\'') => return it.next().is_none().then_some(out),
                (Mariadb, '\\') => out.push(match it.next()? {
                    '0' => '\0',
                    'n' => '\n',
                    'r' => '\r',
                    'Z' => '\x1a',
                    c => c,
                }),
                (_, c) => out.push(c),
            }
        }
        None
    }

    fn unquote_ident(e: Engine, i: &str) -> Option<String> {
        let q = if e == Postgresql { '"' } else { '`' };
        let body = i.strip_prefix(q)?.strip_suffix(q)?;
        let doubled = format!("{q}{q}");
        // No lone quote may remain inside.
        if body.replace(&doubled, "").contains(q) {
            return None;
        }
        Some(body.replace(&doubled, &q.to_string()))
    }

    #[test]
    fn dollar_quotes_pick_an_unused_tag() {
        assert_eq!(dollar_quote("x"), "$m$x$m$");
        assert_eq!(dollar_quote("a$m$b"), "$m1$a$m$b$m1$");
        assert_eq!(dollar_quote("$$"), "$m$$$$m$");
    }

    #[test]
    fn names_are_refused_only_when_the_engine_cannot_hold_them() {
        for s in HOSTILE.iter().filter(|s| !s.is_empty()) {
            assert!(DbName::new(Postgresql, s).is_ok(), "{s:?}");
            assert!(DbName::new(Mariadb, s).is_ok(), "{s:?}");
        }
        assert_eq!(DbName::new(Postgresql, ""), Err(NameError::Empty));
        assert!(matches!(
            DbName::new(Mariadb, "a\0b"),
            Err(NameError::Nul { .. })
        ));
        let long = "é".repeat(32); // 64 bytes, 32 characters
        assert!(matches!(
            DbName::new(Postgresql, &long),
            Err(NameError::TooLong { max: 63, .. })
        ));
        assert!(DbName::new(Mariadb, &long).is_ok());
        assert!(matches!(
            DbName::new(Mariadb, &"x".repeat(65)),
            Err(NameError::TooLong { max: 64, .. })
        ));
        assert!(matches!(
            DbName::new(Mariadb, "space "),
            Err(NameError::TrailingSpace { .. })
        ));
        assert!(matches!(
            DbName::new(Mariadb, "emoji😀"),
            Err(NameError::Character { ch: '😀', .. })
        ));
        assert!(DbName::new(Postgresql, "emoji😀").is_ok());
        let e = DbName::new(Mariadb, "space ").unwrap_err().to_string();
        assert!(
            e.contains("\"space \"") && e.contains("ends with a space"),
            "{e}"
        );
    }

    #[test]
    fn file_names_from_hostile_names_are_tame() {
        let n = DbName::new(Postgresql, "../a b;c").unwrap();
        assert_eq!(n.file_safe(), "___a_b_c");
    }
}
