//! The client commands for an engine at a place, as shell text: one SQL
//! statement, SQL on stdin, a load that stops at the first error, a
//! consistent dump, the backup form, and a wait until the server answers.
//! The command lines of each engine are built here and nowhere else.

use crate::engine::Engine;
use crate::place::Place;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub engine: Engine,
    pub place: Place,
}

/// What a dump carries besides the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// Owners and privileges as on the source: the roles are recreated on
    /// the destination first (`migrate app`).
    Keep,
    /// Neither: the destination's loading user owns what it creates
    /// (`migrate docker db`, whose destination roles are unknown).
    Drop,
}

/// MariaDB's `mariadb` client picks its character set from the locale (C,
/// latin1, under `docker exec`) while mariadb-dump uses utf8mb4: names
/// outside ASCII would then differ between the two. Every client is told.
const MARIADB_CHARSET: &str = "--default-character-set=utf8mb4";

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

/// psql's `-d` takes a connection string when the value contains `=` (or
/// starts with a URI scheme), so any name but a plain one travels as
/// `dbname='…'` with that syntax's own escaping.
fn pg_dbname(db: &str) -> String {
    if !db.is_empty()
        && db
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return db.to_string();
    }
    format!("dbname='{}'", db.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl Client {
    pub fn new(engine: Engine, place: Place) -> Client {
        Client { engine, place }
    }

    /// A shell command running `argv` (raw words) as the superuser.
    pub fn run(&self, argv: &[String]) -> String {
        self.place.run(self.engine, argv)
    }

    /// One SQL statement given on the command line; answers one row a line
    /// without headers (MariaDB separates columns with tabs, psql with `|`).
    pub fn sql(&self, db: Option<&str>, sql: &str) -> String {
        let mut argv = match self.engine {
            Engine::Postgresql => words(&["psql", "-X", "-Atq", "-v", "ON_ERROR_STOP=1"]),
            Engine::Mariadb => words(&["mariadb", MARIADB_CHARSET, "-N", "-B"]),
        };
        if let Some(d) = db {
            match self.engine {
                Engine::Postgresql => argv.extend(["-d".into(), pg_dbname(d)]),
                Engine::Mariadb => argv.extend(["-D".into(), d.into()]),
            }
        }
        match self.engine {
            Engine::Postgresql => argv.extend(["-c".into(), sql.into()]),
            Engine::Mariadb => argv.extend(["-e".into(), sql.into()]),
        }
        self.run(&argv)
    }

    /// SQL statements on stdin, stopping at the first error; answers as in
    /// [`Client::sql`]. None: the engine's admin database.
    pub fn query(&self, db: Option<&str>) -> String {
        let db = db.unwrap_or(self.engine.admin_db());
        match self.engine {
            Engine::Postgresql => self.run(&words(&[
                "psql",
                "-X",
                "-Atq",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &pg_dbname(db),
            ])),
            Engine::Mariadb => {
                self.run(&words(&["mariadb", MARIADB_CHARSET, "-N", "-B", "-D", db]))
            }
        }
    }

    /// The client reading a dump on stdin into `db`, stopping at the first
    /// error (MariaDB's client stops by itself when not interactive).
    pub fn load(&self, db: &str) -> String {
        match self.engine {
            Engine::Postgresql => self.run(&words(&[
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &pg_dbname(db),
            ])),
            Engine::Mariadb => self.run(&words(&["mariadb", MARIADB_CHARSET, "--batch", "-D", db])),
        }
    }

    /// The client reading a dump of every database (pg_dumpall's output
    /// re-creates roles that may exist already: those errors do not stop it).
    pub fn load_all(&self) -> String {
        match self.engine {
            Engine::Postgresql => self.run(&words(&["psql", "-X", "-q", "-d", "postgres"])),
            Engine::Mariadb => self.run(&words(&["mariadb", MARIADB_CHARSET, "--batch"])),
        }
    }

    /// A consistent dump of `db` as SQL on stdout (MariaDB: one transaction,
    /// so InnoDB tables need no lock; routines, triggers and events in;
    /// binary columns as hex so no byte depends on the connection's charset).
    pub fn dump(&self, db: &str, owners: Ownership) -> String {
        match self.engine {
            Engine::Postgresql => {
                let mut argv = words(&["pg_dump", "--no-password"]);
                if owners == Ownership::Drop {
                    argv.extend(words(&["--no-owner", "--no-privileges"]));
                }
                argv.extend(["-d".into(), pg_dbname(db)]);
                self.run(&argv)
            }
            Engine::Mariadb => self.run(&words(&[
                "mariadb-dump",
                MARIADB_CHARSET,
                "--single-transaction",
                "--routines",
                "--triggers",
                "--events",
                "--hex-blob",
                "--skip-add-locks",
                "--",
                db,
            ])),
        }
    }

    /// Every database of the server.
    pub fn dump_all(&self) -> String {
        match self.engine {
            Engine::Postgresql => self.run(&words(&["pg_dumpall", "--no-password"])),
            Engine::Mariadb => self.run(&words(&[
                "mariadb-dump",
                MARIADB_CHARSET,
                "--single-transaction",
                "--routines",
                "--triggers",
                "--events",
                "--hex-blob",
                "--all-databases",
            ])),
        }
    }

    /// The backup form of the dump and its file suffix (PostgreSQL's custom
    /// format restores selectively with pg_restore).
    pub fn backup(&self, db: &str) -> (String, &'static str) {
        match self.engine {
            Engine::Postgresql => (
                self.run(&words(&[
                    "pg_dump",
                    "--no-password",
                    "-Fc",
                    "-d",
                    &pg_dbname(db),
                ])),
                "dump",
            ),
            Engine::Mariadb => (self.dump(db, Ownership::Keep), "sql"),
        }
    }

    /// Wait until the server accepts connections (a container just started).
    pub fn wait_ready(&self) -> String {
        let probe = match self.engine {
            Engine::Postgresql => self.run(&words(&["pg_isready", "-q"])),
            Engine::Mariadb => self.run(&words(&["mariadb-admin", "ping", "--silent"])),
        };
        format!(
            "for i in $(seq 1 120); do {probe} >/dev/null 2>&1 && exit 0; sleep 0.5; done; echo 'the database did not come up within 60 s' >&2; exit 1"
        )
    }

    /// Start the database's container where it is a compose or stack service.
    pub fn start(&self) -> Option<String> {
        self.place.start()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(e: Engine) -> Client {
        Client::new(e, Place::Host)
    }

    #[test]
    fn statements_run_as_the_superuser() {
        assert_eq!(
            host(Engine::Postgresql).sql(None, "select 1"),
            "(cd / && runuser -u postgres -- psql -X -Atq -v ON_ERROR_STOP=1 -c 'select 1')"
        );
        assert!(
            host(Engine::Mariadb)
                .sql(Some("shop"), "select 1")
                .ends_with(
                    "sh mariadb --default-character-set=utf8mb4 -N -B -D shop -e 'select 1')"
                )
        );
    }

    #[test]
    fn odd_names_reach_psql_as_one_connection_string_word() {
        assert_eq!(pg_dbname("app_db"), "app_db");
        assert_eq!(pg_dbname("a=b"), "dbname='a=b'");
        assert_eq!(pg_dbname("o'k\\"), "dbname='o\\'k\\\\'");
        let c = host(Engine::Postgresql).load("x y");
        assert!(c.ends_with("-d 'dbname='\\''x y'\\''')"), "{c}");
    }

    #[test]
    fn dumps_are_consistent_and_complete() {
        let m = host(Engine::Mariadb).dump("-shop", Ownership::Keep);
        assert!(
            m.contains("mariadb-dump --default-character-set=utf8mb4 --single-transaction --routines --triggers --events --hex-blob --skip-add-locks -- -shop"),
            "{m}"
        );
        let p = host(Engine::Postgresql).dump("app", Ownership::Drop);
        assert!(
            p.ends_with("pg_dump --no-password --no-owner --no-privileges -d app)"),
            "{p}"
        );
        let (b, suffix) = host(Engine::Postgresql).backup("app");
        assert!(b.ends_with("pg_dump --no-password -Fc -d app)") && suffix == "dump");
        assert!(
            host(Engine::Mariadb)
                .wait_ready()
                .contains("mariadb-admin ping --silent")
        );
    }

    /// The rendered commands are valid shell for every place.
    #[test]
    fn every_rendering_parses_as_shell() {
        let places = [
            Place::Host,
            Place::Container("c'1".into()),
            Place::ComposeService {
                dir: "/srv/a b".into(),
                project: "p".into(),
                service: "db".into(),
            },
            Place::StackService {
                stack: "s".into(),
                service: "db".into(),
            },
        ];
        for place in places {
            for e in [Engine::Postgresql, Engine::Mariadb] {
                let c = Client::new(e, place.clone());
                let mut all = vec![
                    c.sql(Some("we'ird\n"), "select '$x' ;"),
                    c.query(None),
                    c.load("d"),
                    c.load_all(),
                    c.dump("d", Ownership::Keep),
                    c.dump_all(),
                    c.backup("d").0,
                    c.wait_ready(),
                ];
                all.extend(c.start());
                for s in all {
                    let ok = std::process::Command::new("sh")
                        .arg("-n")
                        .arg("-c")
                        .arg(&s)
                        .status()
                        .unwrap()
                        .success();
                    assert!(ok, "{s}");
                }
            }
        }
    }
}
