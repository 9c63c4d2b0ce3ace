//! The database step of the downtime window: the database's roles or
//! accounts recreated on the destination, a fresh database, the source's
//! dump streamed into it server to server, and exact row counts compared
//! table by table. Every script is fixed when the plan is shown: what the
//! source names (roles, accounts and their grants) reaches the
//! destination's client on stdin.

use std::time::Instant;

use migrate_db::roles;
use migrate_db::sql::ident;
use migrate_db::statements::{self, Charset};
use migrate_remote::sh_quote;

use super::super::layout::{DbEngine, DbShell};
use super::super::plan::human_bytes;
use super::{Cx, Exec, Outcome, Planned, StepKind, outcome, tail};
use crate::plugin::Side;

pub struct Database<'a> {
    pub engine: &'a str,
    pub source_name: &'a str,
    pub destination_name: &'a str,
    /// The recipe's usual owner, when the source does not say.
    pub owner: Option<&'a str>,
    pub service: Option<&'a str>,
    /// Load into a scratch database, then drop it (`Action::Database`).
    pub rehearsal: bool,
}

impl Database<'_> {
    fn shells(&self, cx: &Cx, engine: DbEngine) -> (DbShell, DbShell) {
        let m = &cx.plan.migration;
        (
            DbShell::for_engine(engine, &m.source, self.service),
            DbShell::for_engine(engine, &m.destination, self.service),
        )
    }

    fn job(&self, cx: &Cx) -> String {
        format!(
            "db-{}-{}",
            cx.plan.id,
            self.destination_name
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        )
    }
}

impl StepKind for Database<'_> {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        let Some(engine) = DbEngine::parse(self.engine) else {
            return vec![Planned::by_hand(format!(
                "move the {} database {}",
                self.engine, self.source_name
            ))];
        };
        let (from, to) = self.shells(cx, engine);
        let (src, dst) = (self.source_name, self.destination_name);
        let mut v = Vec::new();
        if let Some(up) = to.start() {
            v.push(Planned::on("start", Side::Destination, up));
            v.push(Planned::on(
                "wait",
                Side::Destination,
                format!("sh -c {}", sh_quote(&to.wait_ready())),
            ));
        }
        // What the destination's database already holds, looked at before
        // anything is dropped, in every layout (a compose project's reused
        // volume can hold an old database that no look before the window
        // could reach: its container was not running).
        v.push(Planned::on(
            "existing",
            Side::Destination,
            to.sql(None, &statements::exists(engine, dst)),
        ));
        v.push(
            Planned::on(
                "existing-tables",
                Side::Destination,
                to.sql(
                    (engine == DbEngine::Postgresql).then_some(dst),
                    &statements::tables(engine, dst),
                ),
            )
            .when_needed(),
        );
        match engine {
            DbEngine::Postgresql => {
                v.push(Planned::on(
                    "owner",
                    Side::Source,
                    from.sql(None, &roles::pg_owner_sql(src)),
                ));
                v.push(Planned::on(
                    "object-owners",
                    Side::Source,
                    from.sql(Some(src), roles::PG_OBJECT_OWNERS_SQL),
                ));
                v.push(
                    Planned::on(
                        "prepare",
                        Side::Destination,
                        to.run("psql -X -q -v ON_ERROR_STOP=1"),
                    )
                    .reading(format!(
                        "CREATE ROLE … LOGIN for each of those roles the destination lacks (no passwords); DROP DATABASE IF EXISTS {q}; CREATE DATABASE {q} OWNER <the source's owner>",
                        q = ident(engine, dst)
                    )),
                );
            }
            DbEngine::Mariadb => {
                v.push(Planned::on(
                    "charset",
                    Side::Source,
                    from.sql(None, &Charset::query(src)),
                ));
                v.push(Planned::on(
                    "grantees",
                    Side::Source,
                    from.sql(None, &roles::maria_grantees_sql(src)),
                ));
                v.push(
                    Planned::on("accounts", Side::Source, from.run("mysql -N -B"))
                        .reading("SHOW CREATE USER and SHOW GRANTS FOR each of those accounts"),
                );
                v.push(
                    Planned::on("prepare", Side::Destination, to.run("mysql")).reading(format!(
                        "DROP DATABASE IF EXISTS {q}; CREATE DATABASE {q} with the source's character set; the accounts (CREATE USER IF NOT EXISTS with their password hashes) and their grants",
                        q = ident(engine, dst)
                    )),
                );
            }
        }
        v.push(Planned::on("dump", Side::Source, from.dump(src)));
        v.push(
            Planned::on("load", Side::Destination, format!("{} >/dev/null", to.load(dst)))
                .reading("the dump, streamed from the source (server to server with a temporary key, or relayed through this machine)"),
        );
        v.push(Planned::on(
            "count-source",
            Side::Source,
            from.row_counts(src),
        ));
        v.push(Planned::on(
            "count-destination",
            Side::Destination,
            to.row_counts(dst),
        ));
        if self.rehearsal {
            v.push(Planned::on(
                "drop-rehearsal",
                Side::Destination,
                to.sql(None, &statements::drop_if_exists(engine, dst)),
            ));
        }
        v
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        let started = Instant::now();
        let Some(engine) = DbEngine::parse(self.engine) else {
            return Err(format!(
                "{} databases are not moved by dump and load; move {} by hand, then rerun",
                self.engine, self.source_name
            ));
        };
        if x.planned("start").is_ok() {
            x.run("start", "starting the database container")?;
            x.run("wait", "waiting for the database")?;
        }
        // The destination database is ours to replace only when it holds
        // nothing, or only what an earlier attempt of this step loaded.
        self.refuse_existing_data(x)?;
        let statements = match engine {
            DbEngine::Postgresql => self.postgres_statements(x)?,
            DbEngine::Mariadb => self.mariadb_statements(x)?,
        };
        x.run_with(
            "prepare",
            "creating the database and its owners",
            Some(statements.as_bytes()),
        )?;
        let t = Instant::now();
        let (dump, load) = (
            x.planned("dump")?.script.clone(),
            x.planned("load")?.script.clone(),
        );
        let sides = x.cx.sides;
        sides.record(Side::Source, "dump", &dump);
        sides.record(Side::Destination, "load", &load);
        let job = migrate_remote::JobId::sanitized(&self.job(&x.cx));
        // The dump is not sized before it is made: bytes without a total.
        let task = "database dump → load";
        let show = |n: u64| {
            use migrate_progress::Report;
            sides
                .progress()
                .update(task, migrate_progress::Unit::Bytes, n, None)
        };
        show(0);
        let mut pipe = migrate_remote::Pipe::new(&sides.src, &sides.dst, job, &dump, &load);
        pipe.on_bytes = Some(migrate_remote::OnBytes(&show));
        let moved = sides.rt.block_on(migrate_remote::pipe::run(&pipe));
        migrate_progress::Report::finish(sides.progress(), task);
        let moved = moved.map_err(|e| format!("piping the dump: {e}"))?;
        let (bytes, route) = (moved.bytes, moved.route);
        let secs = t.elapsed().as_secs_f64();
        let a = x.run("count-source", "counting rows")?;
        let b = x.run("count-destination", "counting rows")?;
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
        // Timed up to here: the drop is the rehearsal's own cost, not the
        // window's.
        let step_seconds = started.elapsed().as_secs_f64();
        if self.rehearsal {
            x.run("drop-rehearsal", "dropping the rehearsal database")?;
        }
        Ok(Outcome::new(
            format!(
                "{} of dump piped {} in {secs:.1} s; {tables} tables, {rows} rows, equal on both sides{}",
                human_bytes(bytes),
                route.describe(),
                if self.rehearsal {
                    format!(
                        "; the rehearsal took {step_seconds:.1} s and its database {} is dropped",
                        self.destination_name
                    )
                } else {
                    String::new()
                }
            ),
            &outcome::Database {
                dump_bytes: bytes,
                dump_seconds: secs,
                step_seconds,
                tables,
                rows,
                route: route.describe(),
            },
        ))
    }
}

/// How a refusal for existing data begins, so a rerun knows that attempt
/// never touched the database.
const EXISTING_DATA: &str = "the destination's database";

/// Whether an earlier attempt of `step` in this migration got past the
/// look at existing data (it then dropped and loaded the database itself):
/// an attempt counts unless it ended refused for existing data. The
/// current attempt, the last start, does not count.
fn loaded_before(entries: &[super::super::journal::Entry], step: &str) -> bool {
    use super::super::journal::Event;
    let mut attempts: Vec<bool> = Vec::new();
    for e in entries.iter().filter(|e| e.step == step) {
        match e.event {
            Event::Start => attempts.push(true),
            Event::Failed if e.detail.starts_with(EXISTING_DATA) => {
                if let Some(a) = attempts.last_mut() {
                    *a = false;
                }
            }
            _ => {}
        }
    }
    attempts.pop();
    attempts.into_iter().any(|a| a)
}

fn lines(out: &str) -> impl Iterator<Item = &str> {
    out.lines().map(str::trim).filter(|l| !l.is_empty())
}

impl Database<'_> {
    /// Refuses, before anything is dropped, when the destination's database
    /// holds tables that this migration did not put there: they are the
    /// operator's to keep or remove, never the tool's to drop.
    fn refuse_existing_data(&self, x: &Exec) -> Result<(), String> {
        let name = self.destination_name;
        if x.run("existing", "looking for an existing database")?
            .trim()
            != "1"
        {
            return Ok(());
        }
        let tables: u64 = x
            .run("existing-tables", "counting its tables")?
            .trim()
            .parse()
            .unwrap_or(u64::MAX);
        if tables == 0 {
            return Ok(());
        }
        let step = &x.cx.step.id;
        if let Ok(j) = x.cx.journal()
            && loaded_before(&j.entries, step)
        {
            return Ok(());
        }
        Err(format!(
            "{EXISTING_DATA} {name} already holds {} (data this migration did not put there); nothing was dropped. Keep it by dumping and renaming or removing it by hand (or point the migration at another database name), then rerun",
            if tables == u64::MAX {
                "tables".to_string()
            } else {
                format!("{tables} table(s)")
            }
        ))
    }

    /// The roles the dump names (the database's owner and its objects'
    /// owners), read from the source: the recipe's user is only the usual
    /// name. They are created without passwords (those stay in the app's
    /// config; set them by hand if the app logs in with one).
    fn postgres_statements(&self, x: &Exec) -> Result<String, String> {
        let mut roles = Vec::new();
        roles::names(&x.run("owner", "reading the database owner")?, &mut roles);
        let db_owner = roles
            .first()
            .cloned()
            .or_else(|| self.owner.map(str::to_string));
        roles::names(
            &x.run("object-owners", "reading the object owners")?,
            &mut roles,
        );
        let e = DbEngine::Postgresql;
        let mut s: String = roles
            .iter()
            .map(|r| roles::pg_create_role(r) + "\n")
            .collect();
        s.push_str(&format!(
            "{};\n{};\n",
            statements::drop_if_exists(e, self.destination_name),
            statements::create(e, self.destination_name, db_owner.as_deref(), None)
        ));
        Ok(s)
    }

    /// A fresh database with the source's character set and collation, and
    /// the accounts that hold privileges on it, recreated with the same
    /// password hashes and grants (MariaDB keeps both outside the database,
    /// so a dump of it alone would leave the app unable to log in).
    fn mariadb_statements(&self, x: &Exec) -> Result<String, String> {
        let (src, dst) = (self.source_name, self.destination_name);
        let charset = x.run("charset", "reading the database's character set")?;
        let e = DbEngine::Mariadb;
        let mut statements = format!(
            "{};\n{};\n",
            statements::drop_if_exists(e, dst),
            statements::create(e, dst, None, Charset::parse(&charset).as_ref())
        );
        let grantees: Vec<String> = lines(&x.run("grantees", "reading who may use the database")?)
            .map(str::to_string)
            .collect();
        if grantees.is_empty() {
            return Ok(statements);
        }
        // grantee is 'user'@'host', already quoted by the server.
        let ask: String = grantees
            .iter()
            .map(|g| {
                format!(
                    "{};\n{};\n",
                    roles::maria_show_create(g),
                    roles::maria_show_grants(g)
                )
            })
            .collect();
        let accounts = x
            .run_with("accounts", "reading the accounts", Some(ask.as_bytes()))
            .map_err(|e| format!("reading the accounts that use {src}: {}", tail(&e)))?;
        for line in lines(&accounts) {
            if let Some(rest) = line.strip_prefix("CREATE USER ") {
                statements.push_str(&format!("CREATE USER IF NOT EXISTS {rest};\n"));
            } else if line.starts_with("GRANT ") {
                let line = if src == dst {
                    line.to_string()
                } else {
                    line.replace(
                        &format!("{}.", ident(e, src)),
                        &format!("{}.", ident(e, dst)),
                    )
                };
                statements.push_str(&line);
                statements.push_str(";\n");
            }
        }
        Ok(statements)
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::journal::{Entry, Event};
    use super::{EXISTING_DATA, loaded_before};

    fn e(step: &str, event: Event, detail: &str) -> Entry {
        Entry {
            at_ms: 0,
            migration: "m".into(),
            step: step.into(),
            event,
            detail: detail.into(),
            data: serde_json::Value::Null,
        }
    }

    /// Data in the destination's database is this migration's own only
    /// when an earlier attempt of the step got past the look.
    #[test]
    fn only_an_earlier_attempt_past_the_look_makes_the_data_ours() {
        let s = "database-nc";
        let refused = format!("{EXISTING_DATA} nc already holds 1 table(s)");
        // First attempt: nothing before it.
        assert!(!loaded_before(&[e(s, Event::Start, "")], s));
        // After a refusal: still not ours.
        let j = [
            e(s, Event::Start, ""),
            e(s, Event::Failed, &refused),
            e(s, Event::Start, ""),
        ];
        assert!(!loaded_before(&j, s));
        // After an attempt killed or failed while loading: ours.
        let j = [
            e(s, Event::Start, ""),
            e("other", Event::Start, ""),
            e(s, Event::Start, ""),
        ];
        assert!(loaded_before(&j, s));
        let j = [
            e(s, Event::Start, ""),
            e(s, Event::Failed, "piping the dump: load exit 3"),
            e(s, Event::Start, ""),
        ];
        assert!(loaded_before(&j, s));
        // Another step's attempts do not count.
        let j = [
            e("database-other", Event::Start, ""),
            e(s, Event::Start, ""),
        ];
        assert!(!loaded_before(&j, s));
    }
}
