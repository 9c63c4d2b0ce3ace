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
use migrate_remote::{HostSpec, sh_quote, trust};
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
}

impl Pipe for DockerPipe<'_> {
    async fn pipe(&self, dump: &str, load: &str) -> Result<Piped, DbError> {
        let (route, outcome) = pipe(self.s, self.d, self.src, self.dst, dump, load)
            .await
            .map_err(|e| match e {
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
pub async fn move_db(m: &DbMove) -> Result<DbReport, DockerError> {
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

/// Parse the `rc DUMP LOAD` line and the error files into a verdict.
fn verdict(out: &str) -> Result<(), String> {
    let mut rc = (None, None);
    let mut dump_err = String::new();
    let mut load_err = String::new();
    let mut cur = 0;
    for l in out.lines() {
        if let Some(r) = l.strip_prefix("@@rc ") {
            let mut it = r.split_whitespace();
            rc = (
                it.next().and_then(|x| x.parse::<i32>().ok()),
                it.next().and_then(|x| x.parse::<i32>().ok()),
            );
        } else if l == "@@dumperr" {
            cur = 1;
        } else if l == "@@loaderr" {
            cur = 2;
        } else if cur == 1 {
            dump_err.push_str(l);
            dump_err.push('\n');
        } else if cur == 2 {
            load_err.push_str(l);
            load_err.push('\n');
        }
    }
    match rc {
        (Some(0), Some(0)) => Ok(()),
        (Some(a), Some(b)) => Err(format!(
            "dump exit {a}{}; load exit {b}{}",
            if dump_err.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", dump_err.trim())
            },
            if load_err.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", load_err.trim())
            },
        )),
        _ => Err(format!(
            "the pipeline did not report its status: {}",
            out.trim()
        )),
    }
}

/// Run `src_script | load` between the two servers: server to server with
/// a temporary key when both are remote, one script when they are the same
/// host, else through this machine.
async fn pipe(
    s: &DockerHost,
    d: &DockerHost,
    src: &HostSpec,
    dst: &HostSpec,
    src_script: &str,
    load: &str,
) -> Result<(String, Result<(), String>), DockerError> {
    let wrap = |sink: &str, tmp: &str| {
        format!(
            "t={tmp}; mkdir -p \"$t\"\nbash -c {sq} 2>\"$t/dump.err\" | {sink} 2>\"$t/load.err\"\necho \"@@rc ${{PIPESTATUS[0]}} ${{PIPESTATUS[1]}}\"\necho @@dumperr; tail -c 2000 \"$t/dump.err\"; echo @@loaderr; tail -c 2000 \"$t/load.err\"; rm -rf \"$t\"\n",
            sq = sh_quote(src_script)
        )
    };
    let tmp = "\"${TMPDIR:-/tmp}/migrate-db.$$\"";
    if src == dst {
        let script = wrap(&format!("bash -c {}", sh_quote(load)), tmp);
        let out = s
            .host
            .sh_raw(
                "piping the dump",
                &format!("bash -c {}", sh_quote(&script)),
                None,
            )
            .await?;
        return Ok((
            "same-host".into(),
            verdict(&String::from_utf8_lossy(&out.stdout)),
        ));
    }
    if let (HostSpec::Ssh { .. }, HostSpec::Ssh { dest }) = (src, dst) {
        let home = s
            .host
            .sh("finding the home directory", "printf '%s' \"$HOME\"", None)
            .await?;
        let home = String::from_utf8_lossy(&home).to_string();
        let id = format!("db{}", std::process::id());
        let jd = format!("{home}/.cache/migrate/docker-db-{id}");
        let t = trust::setup(&s.host, &d.host, dest, &jd, &id).await?;
        let sink = format!(
            "{} {}",
            t.dst_ssh,
            sh_quote(&format!("bash -c {}", sh_quote(load)))
        );
        let script = wrap(&sink, tmp);
        let res = s
            .host
            .sh_raw(
                "piping the dump server to server",
                &format!("bash -c {}", sh_quote(&script)),
                None,
            )
            .await;
        let td = trust::teardown(&s.host, &d.host, &jd, &id).await;
        let _ = s
            .host
            .sh(
                "removing the job directory",
                &format!("rm -rf {}", sh_quote(&jd)),
                None,
            )
            .await;
        let out = res?;
        td?;
        return Ok((
            "direct".into(),
            verdict(&String::from_utf8_lossy(&out.stdout)),
        ));
    }
    relay(s, d, src_script, load).await
}

/// Through this machine: the dump's stdout is copied into the load's stdin.
async fn relay(
    s: &DockerHost,
    d: &DockerHost,
    src_script: &str,
    load: &str,
) -> Result<(String, Result<(), String>), DockerError> {
    let mut a = s
        .host
        .spawn(
            "dumping",
            &format!("bash -c {}", sh_quote(src_script)),
            false,
            true,
        )
        .await?;
    let mut b = d
        .host
        .spawn(
            "loading",
            &format!("bash -c {}", sh_quote(load)),
            true,
            true,
        )
        .await?;
    let (Some(mut out), Some(mut inp)) = (a.stdout.take(), b.stdin.take()) else {
        return Err(DockerError::Failed("the dump pipes did not open".into()));
    };
    let copied = tokio::io::copy(&mut out, &mut inp).await;
    drop(inp);
    let ao = a.wait_with_output("dumping").await?;
    let bo = b.wait_with_output("loading").await?;
    let rc_a = ao.status.code().unwrap_or(-1);
    let rc_b = bo.status.code().unwrap_or(-1);
    let fake = format!(
        "@@rc {rc_a} {rc_b}\n@@dumperr\n{}{}\n@@loaderr\n{}\n",
        String::from_utf8_lossy(&ao.stderr),
        copied
            .err()
            .map(|e| format!("relay: {e}"))
            .unwrap_or_default(),
        String::from_utf8_lossy(&bo.stderr)
    );
    Ok(("relay".into(), verdict(&fake)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_reads_both_sides() {
        assert!(verdict("@@rc 0 0\n@@dumperr\n@@loaderr\n").is_ok());
        let e =
            verdict("@@rc 1 0\n@@dumperr\ngzip: unexpected end of file\n@@loaderr\n").unwrap_err();
        assert!(e.contains("unexpected end of file"), "{e}");
        assert!(verdict("garbage").is_err());
    }

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
