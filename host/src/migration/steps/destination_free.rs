//! The destination must not hold the app already. The plan looks before
//! it is built (and refuses without --force); the step looks again at run
//! time and, with --force, moves a plain install's directory and
//! PostgreSQL database aside (renamed, never deleted). Both look with the
//! scripts made here.

use migrate_db::statements;
use migrate_remote::sh_quote;

use super::super::definition::Migration;
use super::super::layout::{DbEngine, DbShell, Layout};
use super::{Cx, Exec, Outcome, Planned, StepKind, outcome};
use crate::plugin::Side;
use crate::recipe::{Database, Engine};

/// What the destination may hold, in the order it is looked at.
enum Look {
    /// The first entry of the app's directory.
    Files,
    /// How many containers a compose project or stack has.
    Containers,
    /// A stack's database: 1 when it exists (PostgreSQL) or its table count (MariaDB).
    StackDatabase { name: String, engine: DbEngine },
    /// A stack's PostgreSQL database's table count.
    StackTables { name: String },
    /// A plain install's database exists.
    Database { name: String },
}

fn db_engine(e: Engine) -> DbEngine {
    match e {
        Engine::Postgresql => DbEngine::Postgresql,
        _ => DbEngine::Mariadb,
    }
}

fn db_name(mig: &Migration, d: &Database) -> String {
    super::super::builder::db_name(mig, Side::Destination, &d.name)
}

/// The read-only looks, as planned commands with what each one means.
fn looks(mig: &Migration, dbs: &[&Database]) -> Vec<(Planned, Look)> {
    let d = &mig.destination;
    let root = &d.root;
    let mut v = vec![(
        Planned::on(
            "look",
            Side::Destination,
            format!(
                "if [ -d {r} ]; then ls -A {r} | head -n 1; fi",
                r = sh_quote(root)
            ),
        ),
        Look::Files,
    )];
    let layout = Layout::of(d);
    if let Some(c) = layout.project() {
        v.push((
            Planned::on(
                "containers",
                Side::Destination,
                format!("docker ps -aq {} | wc -l", c.filter()),
            ),
            Look::Containers,
        ));
    }
    for db in dbs {
        let name = db_name(mig, db);
        let engine = db_engine(db.engine);
        let sh = DbShell::for_engine(engine, d, db.service.as_deref());
        match &layout {
            Layout::Stack(_) => {
                let sql = match engine {
                    DbEngine::Postgresql => format!(
                        "select case when exists ({}) then 1 else 0 end",
                        statements::exists(engine, &name)
                    ),
                    DbEngine::Mariadb => statements::tables(engine, &name),
                };
                v.push((
                    Planned::on(
                        format!("database-{name}"),
                        Side::Destination,
                        sh.sql(None, &sql),
                    )
                    .when_needed(),
                    Look::StackDatabase {
                        name: name.clone(),
                        engine,
                    },
                ));
                if engine == DbEngine::Postgresql {
                    v.push((
                        Planned::on(
                            format!("tables-{name}"),
                            Side::Destination,
                            sh.sql(Some(&name), &statements::tables(engine, &name)),
                        )
                        .when_needed(),
                        Look::StackTables { name },
                    ));
                }
            }
            Layout::Compose(_) => {}
            Layout::Directory => {
                let sql = statements::exists(engine, &name);
                v.push((
                    Planned::on(
                        format!("database-{name}"),
                        Side::Destination,
                        sh.sql(None, &sql),
                    ),
                    Look::Database { name },
                ));
            }
        }
    }
    v
}

/// What the destination already holds of the app, in words; `run` runs a
/// look (the planner over ssh, the step through its described commands).
pub fn holds(
    mig: &Migration,
    dbs: &[&Database],
    run: &mut dyn FnMut(&Planned) -> Result<String, String>,
) -> Result<Option<String>, String> {
    let layout = Layout::of(&mig.destination);
    let stack = layout.is_stack();
    let mut pg_exists = false;
    for (p, look) in looks(mig, dbs) {
        match look {
            // A stack is deployed fresh (by abra) before the data comes in,
            // so its files are the image's: it holds the app once its
            // database has tables.
            Look::Files if stack => {}
            Look::Files => {
                if !run(&p)?.trim().is_empty() {
                    return Ok(Some(format!("{} is not empty", mig.destination.root)));
                }
            }
            Look::Containers => {
                let containers: u64 = run(&p)?.trim().parse().unwrap_or(0);
                if !stack {
                    // A compose project's databases live in its containers.
                    return Ok((containers > 0).then(|| {
                        format!(
                            "{} has {containers} container(s)",
                            layout.project().map(|c| c.describe()).unwrap_or_default()
                        )
                    }));
                }
                if containers == 0 {
                    return Ok(None);
                }
            }
            Look::StackDatabase { name, engine } => {
                let n: u64 = run(&p)?.trim().parse().unwrap_or(0);
                pg_exists = engine == DbEngine::Postgresql && n > 0;
                if engine == DbEngine::Mariadb && n > 0 {
                    return Ok(Some(format!(
                        "database {name} in the destination's stack has {n} tables"
                    )));
                }
            }
            Look::StackTables { name } => {
                if !pg_exists {
                    continue;
                }
                let n: u64 = run(&p)?.trim().parse().unwrap_or(0);
                if n > 0 {
                    return Ok(Some(format!(
                        "database {name} in the destination's stack has {n} tables"
                    )));
                }
            }
            Look::Database { name } => {
                if run(&p)?.trim() == "1" {
                    return Ok(Some(format!("database {name} exists")));
                }
            }
        }
    }
    Ok(None)
}

pub struct DestinationFree;

fn aside_suffix(cx: &Cx) -> String {
    format!(".before-{}", cx.plan.id)
}

fn db_aside(name: &str) -> String {
    format!("{name}_before_migrate")
}

impl StepKind for DestinationFree {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        let m = &cx.plan.migration;
        let dbs = cx.plan.databases(Side::Destination);
        let refs: Vec<&Database> = dbs.iter().collect();
        let mut v: Vec<Planned> = looks(m, &refs).into_iter().map(|(p, _)| p).collect();
        if Layout::of(&m.destination) == Layout::Directory {
            let root = &m.destination.root;
            let aside = format!("{root}{}", aside_suffix(cx));
            v.push(
                Planned::on(
                    "move-aside",
                    Side::Destination,
                    format!(
                        "test ! -e {a} && mv -- {r} {a}",
                        r = sh_quote(root),
                        a = sh_quote(&aside)
                    ),
                )
                .when_needed(),
            );
            for d in &dbs {
                if d.engine != Engine::Postgresql {
                    continue;
                }
                let name = db_name(m, d);
                v.push(
                    Planned::on(
                        format!("rename-{name}"),
                        Side::Destination,
                        DbShell::new(&m.destination, d.service.as_deref())
                            .sql(None, &statements::pg_rename(&name, &db_aside(&name))),
                    )
                    .when_needed(),
                );
            }
        }
        v
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        let m = &x.cx.plan.migration;
        let dbs = x.cx.plan.databases(Side::Destination);
        let refs: Vec<&Database> = dbs.iter().collect();
        let layout = x.cx.sides.layout(crate::plugin::Side::Destination);
        let root = &m.destination.root;
        if layout.project().is_some() {
            let held = holds(m, &refs, &mut |p| {
                x.run(&p.key, "looking at the destination")
            })?;
            return match held {
                Some(what) if layout.is_stack() => Err(format!(
                    "the destination already holds the app ({what}); nothing was changed. Remove that data by hand or deploy a fresh app there"
                )),
                Some(what) if what.ends_with("is not empty") => Err(format!(
                    "the destination's app volume {root} is not empty; nothing was changed. A docker volume is not moved aside: empty or remove it by hand"
                )),
                Some(what) => Err(format!(
                    "the destination already holds the app ({what}); nothing was changed. Remove the project by hand (`docker-compose down`, then its volumes) or choose another project name"
                )),
                None => Ok(Outcome::plain("the destination holds no app data")),
            };
        }
        // A plain install: each thing found is moved aside with --force.
        let mut moved = Vec::new();
        let files = x.run("look", "looking at the destination")?;
        if !files.trim().is_empty() {
            if !x.cx.force {
                return Err(format!(
                    "the destination now holds files in {root}; nothing was changed. Rerun with --force to move them aside"
                ));
            }
            let aside = format!("{root}{}", aside_suffix(&x.cx));
            x.run("move-aside", "moving the old app aside")
                .map_err(|e| format!("could not move {root} aside to {aside}: {e}"))?;
            moved.push(aside);
        }
        for d in &dbs {
            let name = db_name(m, d);
            if x.run(&format!("database-{name}"), "looking for a database")?
                .trim()
                != "1"
            {
                continue;
            }
            if !x.cx.force {
                return Err(format!(
                    "the destination already has a database {name}; rerun with --force to rename it aside"
                ));
            }
            if d.engine != Engine::Postgresql {
                return Err(format!(
                    "the destination already has a {} database {name}, which cannot be renamed in place; dump and drop it by hand, then rerun",
                    engine_word(d.engine)
                ));
            }
            x.run(&format!("rename-{name}"), "renaming the old database")?;
            moved.push(db_aside(&name));
        }
        if moved.is_empty() {
            Ok(Outcome::plain("the destination holds no app"))
        } else {
            Ok(Outcome::new(
                format!("moved aside (kept): {}", moved.join(", ")),
                &outcome::MovedAside { moved_aside: moved },
            ))
        }
    }
}

fn engine_word(e: Engine) -> &'static str {
    match e {
        Engine::Postgresql => "postgresql",
        _ => "mariadb",
    }
}
