//! Both servers answer and have the tools the move needs. The plan makes
//! the same check before it is built, and the run again at its start (a
//! resumed run may come days later): both use the scripts made here.

use super::super::sides::{SideError, Sides, side_word};
use super::{Cx, Exec, Outcome, Planned, StepKind};
use crate::plugin::Side;
use crate::recipe::{Database, Engine};

/// The tools one side needs: (command, Debian package), and the script
/// that prints the first missing one (or `swarm` when a stack's server is
/// no swarm manager).
pub struct Needs {
    pub side: Side,
    pub tools: Vec<(&'static str, &'static str)>,
    pub script: String,
}

pub fn needs(sides: &Sides, dbs: &[&Database]) -> Vec<Needs> {
    let mut src = vec![
        ("tar", "tar"),
        ("sha256sum", "coreutils"),
        ("perl", "perl-base"),
        ("flock", "util-linux"),
    ];
    let mut dst = vec![("tar", "tar")];
    for (side, tools) in [(Side::Source, &mut src), (Side::Destination, &mut dst)] {
        if sides.layout(side).project().is_some() {
            // The database clients are the containers' own.
            tools.push(("docker", "docker.io"));
            continue;
        }
        for d in dbs {
            match (d.engine, side) {
                (Engine::Postgresql, Side::Source) => tools.push(("pg_dump", "postgresql-client")),
                (Engine::Postgresql, Side::Destination) => {
                    tools.push(("psql", "postgresql-client"))
                }
                (_, Side::Source) => tools.push(("mysqldump", "mariadb-client")),
                (_, Side::Destination) => tools.push(("mysql", "mariadb-client")),
            }
        }
    }
    [(Side::Source, src), (Side::Destination, dst)]
        .into_iter()
        .map(|(side, tools)| {
            let mut script: String = tools
                .iter()
                .map(|(t, _)| format!("command -v {t} >/dev/null 2>&1 || echo {t}; "))
                .collect();
            script.push_str(sides.layout(side).tool_check());
            Needs {
                side,
                tools,
                script,
            }
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// A tool is missing: the message says which and how to install it.
    #[error("{0}")]
    Missing(String),
    #[error(transparent)]
    Remote(#[from] SideError),
}

/// Judge one side's answer to its script.
pub fn judge(sides: &Sides, n: &Needs, out: &str) -> Result<(), PreflightError> {
    let Some(missing) = out.split_whitespace().next() else {
        return Ok(());
    };
    let side = side_word(n.side);
    let host = sides.host(n.side).name();
    if missing == "swarm" {
        return Err(PreflightError::Missing(format!(
            "the {side} ({host}) is not a docker swarm manager, which a stack needs; run `docker swarm init` there (abra's `server add` does) and plan again"
        )));
    }
    let pkg = n
        .tools
        .iter()
        .find(|(t, _)| *t == missing)
        .map_or("docker-compose", |(_, p)| *p);
    Err(PreflightError::Missing(format!(
        "the {side} ({host}) has no `{missing}`; install it (apt-get install {pkg}) and plan again"
    )))
}

/// The check the plan makes before it is built.
pub fn check(sides: &Sides, dbs: &[&Database]) -> Result<(), PreflightError> {
    for n in needs(sides, dbs) {
        let out = sides.sh(n.side, "looking for tools", &n.script)?;
        judge(sides, &n, &out)?;
    }
    Ok(())
}

pub struct Preflight;

fn key(side: Side) -> &'static str {
    match side {
        Side::Source => "source-tools",
        Side::Destination => "destination-tools",
    }
}

impl StepKind for Preflight {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        let dbs = cx.plan.databases(Side::Source);
        let refs: Vec<&Database> = dbs.iter().collect();
        needs(cx.sides, &refs)
            .into_iter()
            .map(|n| Planned::on(key(n.side), n.side, n.script))
            .collect()
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        let dbs = x.cx.plan.databases(Side::Source);
        let refs: Vec<&Database> = dbs.iter().collect();
        for n in needs(x.cx.sides, &refs) {
            let out = x.run(key(n.side), "looking for tools")?;
            judge(x.cx.sides, &n, &out).map_err(|e| e.to_string())?;
        }
        Ok(Outcome::plain("both servers answer and have the tools"))
    }
}
