//! Databases straight into containers: a dump on the source (pg_dump,
//! pg_dumpall, mariadb-dump/mysqldump, on the host or in a container, or a
//! possibly compressed dump file) piped server to server into psql/mariadb
//! inside the destination container with `docker exec -i`. No temporary
//! file on either side. Afterwards the row counts of every table are compared.
//!
//! The engines, the commands, the escaping and the dump → load itself are
//! migrate_db's ([`migrate_db::transfer`], in its guarded mode): a failed
//! dump must not leave a silently half-loaded database:
//! * PostgreSQL, one database: the stream is wrapped in BEGIN … COMMIT and
//!   the COMMIT is only sent when the dump succeeded, so a broken dump rolls
//!   back and the destination is left as it was.
//! * MariaDB: the dump's DDL commits implicitly, so it cannot be rolled back;
//!   the stream first creates the table `migrate_load_incomplete` and only a
//!   successful dump ends with dropping it. The table marks a partial load.
//! * pg_dumpall (all databases) creates databases, which no transaction can
//!   hold: a failure is reported with the list of databases to check.
//!
//! This module checks the containers (through the docker API), names the
//! two ends, and pipes the dump between the servers.

use std::collections::BTreeMap;

use bollard::query_parameters::InspectContainerOptions;
use migrate_db::runner::{Pipe, Piped};
use migrate_db::transfer::{self, Mode, Side, Source, Transfer};
use migrate_db::{Client, DbError, DbName, Place};
use migrate_progress::{Report, Unit};
use migrate_remote::{HostSpec, JobId, OnBytes, PipeError, sh_quote};
use serde::Serialize;
use tracing::instrument;

use crate::conn::DockerHost;
use crate::error::DockerError;

pub use migrate_db::Engine;
pub use migrate_db::statements::INCOMPLETE_MARKER;
#[cfg(test)]
use migrate_db::transfer::decompress as decompress_cmd;

/// Where a database server runs on its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    Host,
    Container(String),
}

impl At {
    fn place(&self) -> Place {
        match self {
            At::Host => Place::Host,
            At::Container(c) => Place::Container(c.clone()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DbMove {
    pub engine: Engine,
    pub src: HostSpec,
    pub src_at: At,
    /// None: every database (pg_dumpall / --all-databases).
    pub src_db: Option<String>,
    /// Read this dump file on the source instead of dumping (.gz, .zst, .xz,
    /// .bz2, .lz4 or plain SQL).
    pub dump_file: Option<String>,
    pub dst: HostSpec,
    pub dst_at: At,
    /// Defaults to the source database's name.
    pub dst_db: Option<String>,
    /// Load into a non-empty database (after a backup of it on the destination).
    pub force: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DbReport {
    pub source: String,
    pub target: String,
    pub database: Option<String>,
    pub mode: String,
    pub backup: Option<String>,
    /// table -> (source rows, destination rows)
    pub row_counts: BTreeMap<String, (Option<u64>, Option<u64>)>,
    pub compared: bool,
    pub notes: Vec<String>,
}

/// A database name the engine can hold (any other is refused, naming why).
fn check_db_name(engine: Engine, n: &str) -> Result<DbName, DockerError> {
    DbName::new(engine, n).map_err(|e| DockerError::BadInput(e.to_string()))
}

async fn check_container(dh: &DockerHost, at: &At) -> Result<(), DockerError> {
    let At::Container(c) = at else { return Ok(()) };
    let ins = dh
        .docker
        .inspect_container(c, None::<InspectContainerOptions>)
        .await
        .map_err(|e| match e {
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            } => DockerError::NoSuchContainer {
                host: dh.name(),
                name: c.clone(),
            },
            e => dh.api_err(format!("inspecting {c}"), e),
        })?;
    let st = ins.state.unwrap_or_default();
    if st.running != Some(true) {
        return Err(DockerError::NotRunningContainer {
            host: dh.name(),
            name: c.clone(),
            state: st
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "unknown".into()),
        });
    }
    Ok(())
}

fn describe(h: &HostSpec, at: &At) -> String {
    match at {
        At::Host => format!("{h} (host)"),
        At::Container(c) => format!("{h} container {c}"),
    }
}

/// The docker db pipe: same host, server to server, or relayed (below).
struct DockerPipe<'a> {
    s: &'a DockerHost,
    d: &'a DockerHost,
    src: &'a HostSpec,
    dst: &'a HostSpec,
    progress: &'a dyn Report,
}

impl Pipe for DockerPipe<'_> {
    async fn pipe(&self, dump: &str, load: &str) -> Result<Piped, DbError> {
        // The database's dump is not sized before it is made, so the bytes
        // through the pipe show without a total.
        let task = format!("database {} → {}", self.src, self.dst);
        let show = |n: u64| self.progress.update(&task, Unit::Bytes, n, None);
        show(0);
        let res = pipe(
            self.s,
            self.d,
            self.src,
            self.dst,
            dump,
            load,
            Some(OnBytes(&show)),
        )
        .await;
        self.progress.finish(&task);
        let (route, outcome) = res.map_err(|e| match e {
            DockerError::Remote(r) => DbError::Remote(r),
            e => DbError::Failed(e.to_string()),
        })?;
        Ok(Piped {
            route,
            bytes: None,
            outcome,
        })
    }
}

fn docker_err(e: DbError) -> DockerError {
    match e {
        DbError::Remote(r) => DockerError::Remote(r),
        DbError::NotEmpty { target, db, what } => {
            DockerError::DatabaseNotEmpty { target, db, what }
        }
        DbError::DumpFailed { detail, state } => DockerError::DumpFailed { detail, state },
        DbError::RowCounts(d) => DockerError::RowCounts(d),
        DbError::Failed(f) | DbError::Answer { what: f, .. } => DockerError::Failed(f),
        e @ (DbError::Name(_)
        | DbError::NoSuchDatabase { .. }
        | DbError::NoDumpFile { .. }
        | DbError::BadInput(_)) => DockerError::BadInput(e.to_string()),
    }
}

#[instrument(skip_all, fields(src = %m.src, dst = %m.dst))]
pub async fn move_db(m: &DbMove, progress: &dyn Report) -> Result<DbReport, DockerError> {
    let src_db = m
        .src_db
        .as_deref()
        .map(|d| check_db_name(m.engine, d))
        .transpose()?;
    let dst_db = match &m.dst_db {
        Some(d) => Some(check_db_name(m.engine, d)?),
        None => src_db.clone(),
    };
    if m.dump_file.is_some() && dst_db.is_none() && m.engine == Engine::Mariadb {
        return Err(DockerError::BadInput(
            "loading a MariaDB dump file needs --to-db NAME".into(),
        ));
    }
    let (s, d) = tokio::try_join!(DockerHost::connect(&m.src), DockerHost::connect(&m.dst))?;
    if m.dump_file.is_none() {
        check_container(&s, &m.src_at).await?;
    }
    check_container(&d, &m.dst_at).await?;
    let t = Transfer {
        source: match (&m.dump_file, &src_db) {
            (Some(f), _) => Source::DumpFile(f.clone()),
            (None, Some(db)) => Source::Database(db.clone()),
            (None, None) => Source::All,
        },
        target: dst_db.clone(),
        mode: Mode::Guarded { force: m.force },
    };
    let from = Side {
        runner: &s.host,
        client: Client::new(m.engine, m.src_at.place()),
        label: describe(&m.src, &m.src_at),
    };
    let to = Side {
        runner: &d.host,
        client: Client::new(m.engine, m.dst_at.place()),
        label: describe(&m.dst, &m.dst_at),
    };
    let pipe = DockerPipe {
        s: &s,
        d: &d,
        src: &m.src,
        dst: &m.dst,
        progress,
    };
    let moved = transfer::run(&t, &from, &to, &pipe)
        .await
        .map_err(docker_err)?;
    let rep = DbReport {
        source: match &m.dump_file {
            Some(f) => format!("{}:{f}", m.src),
            None => describe(&m.src, &m.src_at),
        },
        target: describe(&m.dst, &m.dst_at),
        database: dst_db.map(|d| d.to_string()),
        mode: moved.route,
        backup: moved.backup,
        row_counts: moved.row_counts,
        compared: moved.compared,
        notes: moved.notes,
    };
    s.close().await;
    d.close().await;
    Ok(rep)
}

/// Run `src_script | load` between the two servers through the one
/// server-to-server pipe (`migrate_remote::pipe`): a temporary key,
/// registered for `migrate cleanup`, when both are remote; one pipeline
/// when they are the same host; else through this machine. Returns the
/// route's name and the stream's verdict.
async fn pipe(
    s: &DockerHost,
    d: &DockerHost,
    src: &HostSpec,
    dst: &HostSpec,
    src_script: &str,
    load: &str,
    on_bytes: Option<OnBytes<'_>>,
) -> Result<(String, Result<(), String>), DockerError> {
    debug_assert!(s.host.spec() == src && d.host.spec() == dst);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_secs())
        .unwrap_or(0);
    let job = JobId::new(&format!("docker-db-{}-{stamp}", std::process::id()))?;
    let dump = format!("bash -c {}", sh_quote(src_script));
    let load = format!("bash -c {}", sh_quote(load));
    let mut p = migrate_remote::Pipe::new(&s.host, &d.host, job, &dump, &load);
    p.on_bytes = on_bytes;
    match migrate_remote::pipe::run(&p).await {
        Ok(t) => Ok((t.route.name().into(), Ok(()))),
        Err(PipeError::Remote(e)) => Err(e.into()),
        Err(e @ PipeError::Failed { .. }) => Ok(("stream".into(), Err(e.to_string()))),
        Err(e) => Err(DockerError::Failed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_decompressor_by_extension() {
        assert!(decompress_cmd("/x/d.sql.gz").starts_with("gzip -dc"));
        assert!(decompress_cmd("/x/d.sql.zst").starts_with("zstd -dcq"));
        assert!(decompress_cmd("/x/d.sql").starts_with("cat"));
    }

    #[test]
    fn refuses_names_no_database_can_have() {
        assert!(check_db_name(Engine::Postgresql, "app_db").is_ok());
        // Odd but possible names are escaped where used, not refused.
        assert!(check_db_name(Engine::Mariadb, "a;drop").is_ok());
        assert!(check_db_name(Engine::Postgresql, "").is_err());
        assert!(check_db_name(Engine::Mariadb, "a\0b").is_err());
        assert!(check_db_name(Engine::Postgresql, &"x".repeat(64)).is_err());
    }

    #[test]
    fn the_replica_label_is_the_lifecycle_one() {
        assert_eq!(
            migrate_db::place::REPLICAS_LABEL,
            crate::lifecycle::REPLICAS_LABEL
        );
    }
}
