//! SQL statements about databases, with every name escaped by [`crate::sql`].

use crate::engine::Engine;
use crate::sql::{ident, literal};

/// Table that marks a MariaDB database whose load did not finish.
pub const INCOMPLETE_MARKER: &str = "migrate_load_incomplete";

/// `1` when the database exists, nothing otherwise (run in the admin database).
pub fn exists(engine: Engine, db: &str) -> String {
    match engine {
        Engine::Postgresql => format!(
            "select 1 from pg_database where datname={}",
            literal(engine, db)
        ),
        Engine::Mariadb => format!(
            "select 1 from information_schema.schemata where schema_name={}",
            literal(engine, db)
        ),
    }
}

/// The database's size in bytes (run in the admin database).
pub fn size(engine: Engine, db: &str) -> String {
    match engine {
        Engine::Postgresql => format!("select pg_database_size({})", literal(engine, db)),
        Engine::Mariadb => format!(
            "select coalesce(sum(data_length+index_length),0) from information_schema.tables where table_schema={}",
            literal(engine, db)
        ),
    }
}

/// How many tables or other objects a database holds. PostgreSQL: run in
/// the database itself; MariaDB: anywhere.
pub fn objects(engine: Engine, db: &str) -> String {
    match engine {
        Engine::Postgresql => "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r','p','v','m','S','f') and n.nspname not in ('pg_catalog','information_schema') and n.nspname not like 'pg\\_toast%'".to_string(),
        Engine::Mariadb => format!(
            "select count(*) from information_schema.tables where table_schema = {}",
            literal(engine, db)
        ),
    }
}

/// How many user tables a database holds (PostgreSQL: run in it).
pub fn tables(engine: Engine, db: &str) -> String {
    match engine {
        Engine::Postgresql => "select count(*) from information_schema.tables where table_schema not in ('pg_catalog','information_schema')".to_string(),
        Engine::Mariadb => format!(
            "select count(*) from information_schema.tables where table_schema = {}",
            literal(engine, db)
        ),
    }
}

/// `CREATE DATABASE`, with an owner (PostgreSQL) or the character set and
/// collation (MariaDB) when given.
pub fn create(engine: Engine, db: &str, owner: Option<&str>, charset: Option<&Charset>) -> String {
    let mut s = format!("CREATE DATABASE {}", ident(engine, db));
    match engine {
        Engine::Postgresql => {
            if let Some(o) = owner {
                s.push_str(&format!(" OWNER {}", ident(engine, o)));
            }
        }
        Engine::Mariadb => {
            if let Some(c) = charset {
                s.push_str(&format!(
                    " CHARACTER SET {} COLLATE {}",
                    c.charset, c.collation
                ));
            }
        }
    }
    s
}

pub fn drop_if_exists(engine: Engine, db: &str) -> String {
    format!("DROP DATABASE IF EXISTS {}", ident(engine, db))
}

/// Renaming a PostgreSQL database (moving it aside, kept); MariaDB has no
/// such statement. Both names go through `ident`.
pub fn pg_rename(from: &str, to: &str) -> String {
    format!(
        "ALTER DATABASE {} RENAME TO {}",
        ident(Engine::Postgresql, from),
        ident(Engine::Postgresql, to)
    )
}

pub fn drop(engine: Engine, db: &str) -> String {
    format!("DROP DATABASE {}", ident(engine, db))
}

/// Statements emptying a database, for a forced load: PostgreSQL inside the
/// load's transaction (every schema dropped, `public` made again), MariaDB
/// by dropping and creating it (after its backup).
pub fn wipe(engine: Engine, db: &str) -> String {
    match engine {
        Engine::Postgresql => "DO $$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' LOOP EXECUTE format('DROP SCHEMA %I CASCADE', s); END LOOP; END $$;\nCREATE SCHEMA public;\n".to_string(),
        Engine::Mariadb => format!(
            "DROP DATABASE {d}; CREATE DATABASE {d};\n",
            d = ident(engine, db)
        ),
    }
}

/// The statements a MariaDB load starts with: a table that says the load
/// has not finished, dropped by the last statement once all went in.
pub fn incomplete_marker(source: &str) -> (String, String) {
    let e = Engine::Mariadb;
    (
        format!(
            "CREATE TABLE IF NOT EXISTS {m} (started DATETIME, source VARCHAR(255));\nINSERT INTO {m} VALUES (NOW(), {s});\n",
            m = ident(e, INCOMPLETE_MARKER),
            s = literal(e, &source.chars().take(255).collect::<String>())
        ),
        format!("\nDROP TABLE {};\n", ident(e, INCOMPLETE_MARKER)),
    )
}

/// A MariaDB database's character set and collation, as the server names
/// them (only such names are accepted: they go into SQL unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charset {
    pub charset: String,
    pub collation: String,
}

impl Charset {
    pub fn query(db: &str) -> String {
        format!(
            "select default_character_set_name, default_collation_name from information_schema.schemata where schema_name = {}",
            literal(Engine::Mariadb, db)
        )
    }

    pub fn parse(answer: &str) -> Option<Charset> {
        let plain =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let mut it = answer.split_whitespace();
        let (c, k) = (it.next()?, it.next()?);
        (plain(c) && plain(k)).then(|| Charset {
            charset: c.to_string(),
            collation: k.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_in_every_statement() {
        assert_eq!(
            pg_rename("nc\"; DROP DATABASE x; --", "nc\"_before_migrate"),
            "ALTER DATABASE \"nc\"\"; DROP DATABASE x; --\" RENAME TO \"nc\"\"_before_migrate\""
        );
        assert_eq!(
            exists(Engine::Mariadb, "a\\'b"),
            "select 1 from information_schema.schemata where schema_name='a\\\\\\'b'"
        );
        assert_eq!(
            create(Engine::Postgresql, "x\"y", Some("o\"w"), None),
            "CREATE DATABASE \"x\"\"y\" OWNER \"o\"\"w\""
        );
        assert_eq!(
            wipe(Engine::Mariadb, "a`b"),
            "DROP DATABASE `a``b`; CREATE DATABASE `a``b`;\n"
        );
        assert!(incomplete_marker("src 'x'").0.contains("'src \\'x\\''"));
    }

    #[test]
    fn only_plain_charset_names_are_taken() {
        assert_eq!(
            Charset::parse("utf8mb4\tutf8mb4_unicode_ci\n"),
            Some(Charset {
                charset: "utf8mb4".into(),
                collation: "utf8mb4_unicode_ci".into()
            })
        );
        assert_eq!(Charset::parse("utf8; DROP\tx"), None);
        assert_eq!(Charset::parse(""), None);
    }
}
