//! The database step of the downtime window, on migrate_db: the database's
//! users or roles recreated on the destination, a fresh database, the dump
//! streamed into it (dbpipe), and exact row counts compared table by table.

use std::time::Instant;

use migrate_db::runner::{Pipe, Piped};
use migrate_db::transfer::{self, Mode, Side as DbSide, Source, Transfer};
use migrate_db::{DbError, DbName};
use migrate_remote::{Host, HostSpec};
use serde_json::{Value, json};

use super::dbpipe;
use super::layout::{DbEngine, DbShell};
use super::plan::human_bytes;
use super::sides::Sides;

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

/// The app's pipe: server to server with a temporary key registered for
/// `migrate cleanup`, else relayed through this machine.
struct AppPipe<'a> {
    src: &'a Host,
    dst: &'a Host,
    specs: (HostSpec, HostSpec),
    job: String,
}

impl Pipe for AppPipe<'_> {
    async fn pipe(&self, dump: &str, load: &str) -> Result<Piped, DbError> {
        let piped = dbpipe::stream(
            self.src,
            self.dst,
            (&self.specs.0, &self.specs.1),
            &self.job,
            dump,
            load,
        )
        .await;
        Ok(match piped {
            Ok((bytes, route)) => Piped {
                route: route.describe(),
                bytes: Some(bytes),
                outcome: Ok(()),
            },
            Err(e) => Piped {
                route: String::new(),
                bytes: None,
                outcome: Err(e),
            },
        })
    }
}

impl DbMove<'_> {
    pub fn run(&self) -> Result<(String, Value), String> {
        let Some(engine) = DbEngine::parse(self.engine) else {
            return Err(format!(
                "{} databases are not moved by dump and load; move {} by hand, then rerun",
                self.engine, self.src
            ));
        };
        let m = &self.sides.mig;
        let name = |n: &str| DbName::new(engine, n).map_err(|e| e.to_string());
        let t = Transfer {
            source: Source::Database(name(self.src)?),
            target: Some(name(self.dst)?),
            mode: Mode::Fresh {
                owner: self.owner.map(str::to_string),
            },
        };
        let side = |runner, def, label: &str| DbSide {
            runner,
            client: DbShell::for_engine(engine, def, self.service)
                .client()
                .clone(),
            label: label.to_string(),
        };
        let from = side(&self.sides.src, &m.source, "the source");
        let to = side(&self.sides.dst, &m.destination, "the destination");
        let pipe = AppPipe {
            src: &self.sides.src,
            dst: &self.sides.dst,
            specs: (
                HostSpec::parse(&m.source.host).map_err(|e| e.to_string())?,
                HostSpec::parse(&m.destination.host).map_err(|e| e.to_string())?,
            ),
            job: format!(
                "db-{}-{}",
                self.plan_id,
                self.dst.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            ),
        };
        let started = Instant::now();
        let moved = self
            .sides
            .rt
            .block_on(transfer::run(&t, &from, &to, &pipe))
            .map_err(|e| match e {
                DbError::DumpFailed { detail, .. } => format!("piping the dump: {detail}"),
                e => e.to_string(),
            })?;
        let secs = started.elapsed().as_secs_f64();
        let bytes = moved.bytes.unwrap_or(0);
        let (tables, rows) = (moved.tables(), moved.rows());
        Ok((
            format!(
                "{} of dump piped {} in {secs:.1} s; {tables} tables, {rows} rows, equal on both sides",
                human_bytes(bytes),
                moved.route
            ),
            json!({"dump_bytes": bytes, "dump_seconds": secs, "tables": tables, "rows": rows, "route": moved.route}),
        ))
    }
}
