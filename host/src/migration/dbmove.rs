//! The database step of the downtime window: the database's users or roles
//! recreated on the destination, a fresh database, the dump streamed into
//! it (dbpipe), and exact row counts compared table by table.

use std::time::Instant;

use migrate_remote::{HostSpec, sh_quote};
use serde_json::{Value, json};

use super::dbpipe;
use super::layout::{DbEngine, DbShell};
use super::plan::human_bytes;
use super::sides::Sides;
use crate::plugin::Side;

pub struct DbMove<'a> {
    pub sides: &'a Sides,
    pub plan_id: &'a str,
    pub engine: &'a str,
    pub src: &'a str,
    pub dst: &'a str,
    /// The recipe's usual owner, when the source does not say.
    pub owner: Option<&'a str>,
    pub service: Option<&'a str>,
}

fn q_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn q_backtick(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

fn lit(s: &str) -> String {
    s.replace('\'', "''")
}

impl DbMove<'_> {
    fn on(&self, side: Side, what: &str, script: &str) -> Result<String, String> {
        self.sides.sh(side, what, script).map_err(|e| e.to_string())
    }

    pub fn run(&self) -> Result<(String, Value), String> {
        let Some(engine) = DbEngine::parse(self.engine) else {
            return Err(format!(
                "{} databases are not moved by dump and load; move {} by hand, then rerun",
                self.engine, self.src
            ));
        };
        let m = &self.sides.mig;
        let from = DbShell::for_engine(engine, &m.source, self.service);
        let to = DbShell::for_engine(engine, &m.destination, self.service);
        if let Some(up) = to.start() {
            self.on(Side::Destination, "starting the database container", &up)?;
            self.on(
                Side::Destination,
                "waiting for the database",
                &format!("sh -c {}", sh_quote(&to.wait_ready())),
            )?;
        }
        // The destination database is ours to replace: destination-free
        // found none (or moved it aside) before the first copy.
        match engine {
            DbEngine::Postgresql => self.postgres_prepare(&from, &to)?,
            DbEngine::Mariadb => self.mariadb_prepare(&from, &to)?,
        }
        let t = Instant::now();
        let specs = (
            HostSpec::parse(&m.source.host).map_err(|e| e.to_string())?,
            HostSpec::parse(&m.destination.host).map_err(|e| e.to_string())?,
        );
        let job = format!(
            "db-{}-{}",
            self.plan_id,
            self.dst.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        let (bytes, route) = self
            .sides
            .rt
            .block_on(dbpipe::stream(
                &self.sides.src,
                &self.sides.dst,
                (&specs.0, &specs.1),
                &job,
                &from.dump(self.src),
                &format!("{} >/dev/null", to.load(self.dst)),
            ))
            .map_err(|e| format!("piping the dump: {e}"))?;
        let secs = t.elapsed().as_secs_f64();
        let a = self.on(Side::Source, "counting rows", &from.row_counts(self.src))?;
        let b = self.on(Side::Destination, "counting rows", &to.row_counts(self.dst))?;
        if a != b {
            return Err(format!(
                "row counts differ after the load (source: {}; destination: {})",
                a.trim().replace('\n', ", "),
                b.trim().replace('\n', ", ")
            ));
        }
        let tables = a.lines().count();
        let rows: u64 = a
            .lines()
            .filter_map(|l| l.rsplit('|').next()?.trim().parse::<u64>().ok())
            .sum();
        Ok((
            format!(
                "{} of dump piped {} in {secs:.1} s; {tables} tables, {rows} rows, equal on both sides",
                human_bytes(bytes),
                route.describe()
            ),
            json!({"dump_bytes": bytes, "dump_seconds": secs, "tables": tables, "rows": rows, "route": route.describe()}),
        ))
    }

    /// The roles the dump names (the database's owner and its objects'
    /// owners), read from the source: the recipe's user is only the usual
    /// name. They are created without passwords (those stay in the app's
    /// config; set them by hand if the app logs in with one).
    fn postgres_prepare(&self, from: &DbShell, to: &DbShell) -> Result<(), String> {
        let owners_sql = format!(
            "select pg_get_userbyid(datdba) from pg_database where datname = '{}'",
            lit(self.src)
        );
        let mut roles: Vec<String> = self
            .on(
                Side::Source,
                "reading the database owner",
                &from.sql(None, &owners_sql),
            )?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        let db_owner = roles
            .first()
            .cloned()
            .or_else(|| self.owner.map(str::to_string));
        let objects = self.on(
            Side::Source,
            "reading the object owners",
            &from.sql(
                Some(self.src),
                "select distinct pg_get_userbyid(relowner) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname not in ('pg_catalog','information_schema','pg_toast')",
            ),
        )?;
        for r in objects.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if !roles.iter().any(|x| x == r) {
                roles.push(r.to_string());
            }
        }
        for r in &roles {
            let role = format!(
                "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{}') THEN CREATE ROLE {} LOGIN; END IF; END$$;",
                lit(r),
                q_ident(r)
            );
            self.on(Side::Destination, "creating a role", &to.sql(None, &role))?;
        }
        self.on(
            Side::Destination,
            "dropping a half-loaded database",
            &to.sql(
                None,
                &format!("DROP DATABASE IF EXISTS {}", q_ident(self.dst)),
            ),
        )?;
        self.on(
            Side::Destination,
            "creating the database",
            &to.sql(
                None,
                &format!(
                    "CREATE DATABASE {}{}",
                    q_ident(self.dst),
                    db_owner
                        .map(|o| format!(" OWNER {}", q_ident(&o)))
                        .unwrap_or_default()
                ),
            ),
        )?;
        Ok(())
    }

    /// A fresh database with the source's character set and collation, and
    /// the accounts that hold privileges on it, recreated with the same
    /// password hashes and grants (MariaDB keeps both outside the database,
    /// so a dump of it alone would leave the app unable to log in). The
    /// hashes travel on stdin from one server's client to the other's.
    fn mariadb_prepare(&self, from: &DbShell, to: &DbShell) -> Result<(), String> {
        let charset = self.on(
            Side::Source,
            "reading the database's character set",
            &from.sql(
                None,
                &format!(
                    "select default_character_set_name, default_collation_name from information_schema.schemata where schema_name = '{}'",
                    lit(self.src)
                ),
            ),
        )?;
        let mut cs = charset.split_whitespace();
        let create_opts = match (cs.next(), cs.next()) {
            (Some(c), Some(k)) => format!(" CHARACTER SET {c} COLLATE {k}"),
            _ => String::new(),
        };
        let grantees = self.on(
            Side::Source,
            "reading who may use the database",
            &from.sql(
                None,
                &format!(
                    "select distinct grantee from information_schema.schema_privileges where table_schema = '{}'",
                    lit(self.src)
                ),
            ),
        )?;
        let mut statements = format!(
            "DROP DATABASE IF EXISTS {d};\nCREATE DATABASE {d}{create_opts};\n",
            d = q_backtick(self.dst)
        );
        for g in grantees.lines().map(str::trim).filter(|l| !l.is_empty()) {
            // grantee is 'user'@'host', already quoted by the server.
            let create = self.on(
                Side::Source,
                "reading an account",
                &from.sql(None, &format!("SHOW CREATE USER {g}")),
            )?;
            let grants = self.on(
                Side::Source,
                "reading an account's grants",
                &from.sql(None, &format!("SHOW GRANTS FOR {g}")),
            )?;
            if let Some(c) = create.lines().next() {
                statements.push_str(&c.replacen("CREATE USER ", "CREATE USER IF NOT EXISTS ", 1));
                statements.push_str(";\n");
            }
            for line in grants.lines().filter(|l| l.starts_with("GRANT ")) {
                let line = if self.src == self.dst {
                    line.to_string()
                } else {
                    line.replace(
                        &format!("{}.", q_backtick(self.src)),
                        &format!("{}.", q_backtick(self.dst)),
                    )
                };
                statements.push_str(&line);
                statements.push_str(";\n");
            }
        }
        self.sides
            .rt
            .block_on(self.sides.dst.sh(
                "creating the database and its accounts",
                &to.run("mysql"),
                Some(statements.as_bytes()),
            ))
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_for_each_engine() {
        assert_eq!(q_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(q_backtick("a`b"), "`a``b`");
        assert_eq!(lit("o'k"), "o''k");
    }
}
