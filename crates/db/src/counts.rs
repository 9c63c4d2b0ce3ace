//! Exact row counts of every user table, and their comparison.
//!
//! Two rounds: the table names are listed hex-encoded (so a name with a
//! newline, tab or `|` cannot break the answer's lines), then one
//! `count(*)` a table is asked, each table named through [`crate::sql::ident`].

use std::collections::BTreeMap;

use crate::engine::Engine;
use crate::sql::{ident, literal};
use crate::statements::INCOMPLETE_MARKER;

/// Rows per table: PostgreSQL keys `schema.table`, MariaDB `table`.
pub type Counts = BTreeMap<String, u64>;

/// A table as listed: its schema (PostgreSQL) and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub schema: Option<String>,
    pub name: String,
}

impl Table {
    pub fn key(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// The statement listing the user tables of `db`, hex-encoded (run in `db`).
pub fn list_sql(engine: Engine, db: &str) -> String {
    match engine {
        Engine::Postgresql => "select encode(convert_to(n.nspname, 'UTF8'), 'hex') || ' ' || encode(convert_to(c.relname, 'UTF8'), 'hex') from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'p') and n.nspname not like 'pg\\_%' and n.nspname <> 'information_schema' order by n.nspname, c.relname".to_string(),
        Engine::Mariadb => format!(
            "select hex(table_name) from information_schema.tables where table_schema = {} and table_type = 'BASE TABLE' and table_name <> {} order by table_name",
            literal(engine, db),
            literal(engine, INCOMPLETE_MARKER)
        ),
    }
}

fn unhex(h: &str) -> Option<String> {
    if !h.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// The tables in the answer to [`list_sql`].
pub fn parse_list(engine: Engine, answer: &str) -> Result<Vec<Table>, String> {
    answer
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let bad = || format!("unexpected line in the table list: {l:?}");
            match engine {
                Engine::Postgresql => {
                    let (s, t) = l.split_once(' ').ok_or_else(bad)?;
                    Ok(Table {
                        schema: Some(unhex(s).ok_or_else(bad)?),
                        name: unhex(t).ok_or_else(bad)?,
                    })
                }
                Engine::Mariadb => Ok(Table {
                    schema: None,
                    name: unhex(l).ok_or_else(bad)?,
                }),
            }
        })
        .collect()
}

/// One `count(*)` a table, one answer line each, in the order of `tables`
/// (run in the database, SQL on stdin).
pub fn count_sql(engine: Engine, tables: &[Table]) -> String {
    tables
        .iter()
        .map(|t| {
            let from = match &t.schema {
                Some(s) => format!("{}.{}", ident(engine, s), ident(engine, &t.name)),
                None => ident(engine, &t.name),
            };
            format!("select count(*) from {from};\n")
        })
        .collect()
}

/// The counts from the answer to [`count_sql`].
pub fn parse_counts(tables: &[Table], answer: &str) -> Result<Counts, String> {
    let nums: Vec<&str> = answer.lines().filter(|l| !l.trim().is_empty()).collect();
    if nums.len() != tables.len() {
        return Err(format!(
            "asked {} tables for their rows and got {} answers",
            tables.len(),
            nums.len()
        ));
    }
    tables
        .iter()
        .zip(nums)
        .map(|(t, n)| {
            let n = n
                .trim()
                .parse()
                .map_err(|_| format!("table {}: not a row count: {n:?}", t.key()))?;
            Ok((t.key(), n))
        })
        .collect()
}

/// Table → (source rows, destination rows), over the tables of both.
pub type Compared = BTreeMap<String, (Option<u64>, Option<u64>)>;

/// Both sides' counts side by side, and the lines where they differ.
pub fn compare(src: &Counts, dst: &Counts) -> (Compared, Vec<String>) {
    let mut all = Compared::new();
    for (t, n) in src {
        all.insert(t.clone(), (Some(*n), dst.get(t).copied()));
    }
    for (t, n) in dst {
        all.entry(t.clone()).or_insert((None, Some(*n)));
    }
    let diffs = all
        .iter()
        .filter(|(_, (a, b))| a != b)
        .map(|(t, (a, b))| format!("  {t}: source {a:?}, destination {b:?}"))
        .collect();
    (all, diffs)
}

/// Rows per table in a plain pg_dump stream (its COPY blocks), counted on
/// the server holding the file: the reference when the source is a dump.
/// Each line is `SEARCH_PATH|TABLE|ROWS`: a dump from pg_dump before 10, or
/// one written by hand, names tables without their schema and sets
/// `search_path` instead, so the schema a bare name lands in is the first
/// one that statement names (PostgreSQL's default is `public`).
pub fn pg_dump_file_script(decompress: &str) -> String {
    format!(
        "{decompress} | awk 'BEGIN {{sp=\"public\"}} /^SET search_path = / {{sp=$4; sub(/[,;]$/, \"\", sp); next}} /^COPY .* FROM stdin;$/ {{t=$2; n=0; inb=1; next}} inb && $0==\"\\\\.\" {{print sp \"|\" t \"|\" n; inb=0; next}} inb {{n++}}'"
    )
}

/// The parts of a dotted SQL name as a dump writes it (`public.t`,
/// `"My Schema"."a.b"`), quotes taken off and doubled quotes undone.
fn name_parts(name: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                if let Some(p) = parts.last_mut() {
                    p.push('"');
                }
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(String::new()),
            c => {
                if let Some(p) = parts.last_mut() {
                    p.push(c);
                }
            }
        }
    }
    parts
}

/// The answer of [`pg_dump_file_script`], keyed as the counts of a live
/// database are: `schema.table`, a bare name
/// qualified with the dump's search path.
pub fn parse_pg_dump_file(answer: &str) -> Counts {
    answer
        .lines()
        .filter_map(|l| {
            let (rest, n) = l.rsplit_once('|')?;
            let (sp, t) = rest.split_once('|')?;
            let key = match name_parts(t).as_slice() {
                [table] => format!("{}.{table}", name_parts(sp).concat()),
                parts => parts.join("."),
            };
            Some((key, n.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_lists_survive_any_table_name() {
        let ans = format!("{} {}\n", hex("public"), hex("we|ird\nname"));
        let t = parse_list(Engine::Postgresql, &ans).unwrap();
        assert_eq!(t[0].key(), "public.we|ird\nname");
        assert_eq!(
            count_sql(Engine::Postgresql, &t),
            "select count(*) from \"public\".\"we|ird\nname\";\n"
        );
        let m = parse_list(Engine::Mariadb, &format!("{}\n", hex("a`b"))).unwrap();
        assert_eq!(
            count_sql(Engine::Mariadb, &m),
            "select count(*) from `a``b`;\n"
        );
        assert!(parse_list(Engine::Mariadb, "zz\n").is_err());
    }

    #[test]
    fn counts_pair_with_their_tables_in_order() {
        let t = vec![
            Table {
                schema: None,
                name: "a".into(),
            },
            Table {
                schema: None,
                name: "b".into(),
            },
        ];
        let c = parse_counts(&t, "3\n0\n").unwrap();
        assert_eq!(c["a"], 3);
        assert_eq!(c["b"], 0);
        assert!(parse_counts(&t, "3\n").is_err());
        assert!(parse_counts(&t, "3\nx\n").is_err());
    }

    #[test]
    fn differences_name_the_table() {
        let a: Counts = [("t".to_string(), 2), ("u".to_string(), 1)].into();
        let b: Counts = [("t".to_string(), 2), ("v".to_string(), 1)].into();
        let (all, diffs) = compare(&a, &b);
        assert_eq!(all.len(), 3);
        assert_eq!(
            diffs,
            vec![
                "  u: source Some(1), destination None",
                "  v: source None, destination Some(1)"
            ]
        );
        assert!(compare(&a, &a).1.is_empty());
    }

    #[test]
    fn dump_file_tables_are_keyed_like_a_live_database() {
        let answer =
            "public|public.big|3\npublic|big|2\nshop|\"Order\"|1\npublic|\"my schema\".\"a.b\"|4\n";
        let c = parse_pg_dump_file(answer);
        assert_eq!(c["public.big"], 2, "{c:?}");
        assert_eq!(c["shop.Order"], 1);
        assert_eq!(c["my schema.a.b"], 4);
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn dump_file_script_counts_bare_and_qualified_copies() {
        let dump = "SET search_path = shop, pg_catalog;\nCOPY items (id) FROM stdin;\n1\n2\n\\.\nCOPY public.t (id) FROM stdin;\n1\n\\.\n";
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(pg_dump_file_script("cat"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut ch| {
                use std::io::Write;
                ch.stdin.take().map(|mut i| i.write_all(dump.as_bytes()));
                ch.wait_with_output()
            })
            .expect("sh runs");
        let c = parse_pg_dump_file(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(c["shop.items"], 2, "{c:?}");
        assert_eq!(c["public.t"], 1);
    }

    pub fn hex(s: &str) -> String {
        s.bytes().map(|b| format!("{b:02X}")).collect()
    }
}
