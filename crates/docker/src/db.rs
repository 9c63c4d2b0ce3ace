//! Databases straight into containers: a dump on the source (pg_dump,
//! pg_dumpall, mariadb-dump/mysqldump, on the host or in a container, or a
//! possibly compressed dump file) piped server to server into psql/mariadb
//! inside the destination container with `docker exec -i`. No temporary
//! file on either side. Afterwards the row counts of every table are compared.
//!
//! A failed dump must not leave a silently half-loaded database:
//! * PostgreSQL, one database: the stream is wrapped in BEGIN … COMMIT and
//!   the COMMIT is only sent when the dump succeeded, so a broken dump rolls
//!   back and the destination is left as it was.
//! * MariaDB: the dump's DDL commits implicitly, so it cannot be rolled back;
//!   the stream first creates the table `migrate_load_incomplete` and only a
//!   successful dump ends with dropping it. The table marks a partial load.
//! * pg_dumpall (all databases) creates databases, which no transaction can
//!   hold: a failure is reported with the list of databases to check.

use std::collections::BTreeMap;

use bollard::query_parameters::InspectContainerOptions;
use migrate_remote::{Host, HostSpec, JobId, Pipe, PipeError, sh_quote};
use serde::Serialize;
use tracing::{info, instrument};

use crate::conn::DockerHost;
use crate::error::DockerError;

/// Table that marks a MariaDB database whose load did not finish.
pub const INCOMPLETE_MARKER: &str = "migrate_load_incomplete";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Engine {
    Postgres,
    Mariadb,
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "postgres" | "postgresql" | "pg" => Ok(Engine::Postgres),
            "mariadb" | "mysql" => Ok(Engine::Mariadb),
            _ => Err(format!("`{s}`: expected postgres or mariadb")),
        }
    }
}

/// Where a database server runs on its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    Host,
    Container(String),
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

fn check_db_name(n: &str) -> Result<(), DockerError> {
    let ok = !n.is_empty()
        && n.len() <= 63
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(DockerError::BadInput(format!(
            "`{n}` is not a database name this tool accepts (letters, digits, `_`, `-`, at most 63)"
        )))
    }
}

/// Prefix that runs a client program where the database lives. Passwords,
/// when a container has them, go through the environment (MYSQL_PWD,
/// PGPASSWORD) inside the container, never onto a command line.
fn runner(engine: Engine, at: &At, interactive: bool) -> String {
    match (engine, at) {
        (Engine::Postgres, At::Host) => {
            "if [ \"$(id -u)\" = 0 ]; then runuser -u postgres -- \"$@\"; else \"$@\"; fi"
                .to_string()
        }
        (Engine::Postgres, At::Container(c)) => format!(
            "docker exec {i} -u postgres {c} sh -c 'if [ -n \"$POSTGRES_PASSWORD\" ]; then PGPASSWORD=\"$POSTGRES_PASSWORD\"; export PGPASSWORD; fi; exec \"$@\"' sh \"$@\"",
            i = if interactive { "-i" } else { "" },
            c = sh_quote(c)
        ),
        (Engine::Mariadb, At::Host) => "\"$@\"".to_string(),
        (Engine::Mariadb, At::Container(c)) => format!(
            "docker exec {i} {c} sh -c 'p=\"${{MARIADB_ROOT_PASSWORD:-$MYSQL_ROOT_PASSWORD}}\"; if [ -n \"$p\" ]; then MYSQL_PWD=\"$p\"; export MYSQL_PWD; fi; exec \"$@\"' sh \"$@\"",
            i = if interactive { "-i" } else { "" },
            c = sh_quote(c)
        ),
    }
}

/// A shell function `db` that runs its arguments as a client program where
/// the database lives, choosing mariadb-* or mysql* names by what exists.
fn db_fn(engine: Engine, at: &At, interactive: bool) -> String {
    let pick = match engine {
        Engine::Postgres => String::new(),
        Engine::Mariadb => {
            // mariadb-dump/mariadb on MariaDB >= 10.5, mysqldump/mysql elsewhere.
            let check = match at {
                At::Host => "command -v mariadb >/dev/null 2>&1".to_string(),
                At::Container(c) => format!(
                    "docker exec {} sh -c 'command -v mariadb' >/dev/null 2>&1",
                    sh_quote(c)
                ),
            };
            format!(
                "if ! {check}; then case \"$1\" in mariadb) shift; set -- mysql \"$@\";; mariadb-dump) shift; set -- mysqldump \"$@\";; esac; fi; "
            )
        }
    };
    format!("db() {{ {pick}{}; }}", runner(engine, at, interactive))
}

fn decompress_cmd(path: &str) -> String {
    let q = sh_quote(path);
    let ext = path.rsplit('.').next().unwrap_or("");
    match ext {
        "gz" | "tgz" => format!("gzip -dc -- {q}"),
        "zst" | "zstd" => format!("zstd -dcq -- {q}"),
        "xz" => format!("xz -dc -- {q}"),
        "bz2" => format!("bzip2 -dc -- {q}"),
        "lz4" => format!("lz4 -dc -- {q}"),
        _ => format!("cat -- {q}"),
    }
}

/// The source side: emits the SQL stream on stdout, exits non-zero if the
/// dump failed. Only a successful dump is followed by `epilogue`.
fn source_script(m: &DbMove, prologue: &str, epilogue: &str) -> String {
    let produce = match (&m.dump_file, m.engine, &m.src_db) {
        (Some(f), _, _) => decompress_cmd(f),
        (None, Engine::Postgres, Some(d)) => {
            format!("db pg_dump --no-owner --no-privileges -d {}", sh_quote(d))
        }
        (None, Engine::Postgres, None) => "db pg_dumpall".to_string(),
        (None, Engine::Mariadb, Some(d)) => format!(
            "db mariadb-dump --single-transaction --routines --triggers --events --skip-add-locks -- {}",
            sh_quote(d)
        ),
        (None, Engine::Mariadb, None) => {
            "db mariadb-dump --single-transaction --routines --triggers --events --all-databases"
                .to_string()
        }
    };
    format!(
        "{dbf}\nprintf '%s' {pro}\n{produce} || exit $?\nprintf '%s' {epi}\n",
        dbf = db_fn(m.engine, &m.src_at, false),
        pro = sh_quote(prologue),
        epi = sh_quote(epilogue),
    )
}

/// The destination side: reads SQL on stdin into the database.
fn load_script(engine: Engine, at: &At, db: Option<&str>) -> String {
    let client = match (engine, db) {
        (Engine::Postgres, Some(d)) => format!(
            "db psql -X -q -v ON_ERROR_STOP=1 -d {} >/dev/null",
            sh_quote(d)
        ),
        (Engine::Postgres, None) => "db psql -X -q -d postgres >/dev/null".to_string(),
        (Engine::Mariadb, Some(d)) => format!("db mariadb --batch -- {}", sh_quote(d)),
        (Engine::Mariadb, None) => "db mariadb --batch".to_string(),
    };
    format!("{}\n{client}\n", db_fn(engine, at, true))
}

/// Run one SQL text in a database and return stdout (tab/pipe separated, no headers).
async fn query(
    host: &Host,
    engine: Engine,
    at: &At,
    db: &str,
    sql: &str,
) -> Result<String, DockerError> {
    let client = match engine {
        Engine::Postgres => format!("db psql -X -q -At -v ON_ERROR_STOP=1 -d {}", sh_quote(db)),
        Engine::Mariadb => format!("db mariadb --batch --skip-column-names -- {}", sh_quote(db)),
    };
    let script = format!("{}\n{client}\n", db_fn(engine, at, true));
    let out = host
        .sh("querying the database", &script, Some(sql.as_bytes()))
        .await?;
    Ok(String::from_utf8_lossy(&out).to_string())
}

async fn db_exists(host: &Host, engine: Engine, at: &At, db: &str) -> Result<bool, DockerError> {
    let (admin, sql) = match engine {
        Engine::Postgres => (
            "postgres",
            format!("SELECT 1 FROM pg_database WHERE datname = '{db}';"),
        ),
        Engine::Mariadb => (
            "information_schema",
            format!("SELECT 1 FROM SCHEMATA WHERE SCHEMA_NAME = '{db}';"),
        ),
    };
    Ok(query(host, engine, at, admin, &sql).await?.trim() == "1")
}

const PG_COUNTS: &str = r#"SELECT format('SELECT %L || ''|'' || count(*) FROM %I.%I', n.nspname || '.' || c.relname, n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 1 \gexec
"#;

/// Exact row counts of every user table.
pub async fn row_counts(
    host: &Host,
    engine: Engine,
    at: &At,
    db: &str,
) -> Result<BTreeMap<String, u64>, DockerError> {
    let out = match engine {
        Engine::Postgres => query(host, engine, at, db, PG_COUNTS).await?,
        Engine::Mariadb => {
            let tables = query(
                host,
                engine,
                at,
                db,
                &format!("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME <> '{INCOMPLETE_MARKER}' ORDER BY 1;"),
            )
            .await?;
            let sql: String = tables
                .lines()
                .filter(|t| !t.is_empty())
                .map(|t| {
                    format!(
                        "SELECT CONCAT('{t}', '|', COUNT(*)) FROM `{}`;\n",
                        t.replace('`', "``")
                    )
                })
                .collect();
            if sql.is_empty() {
                String::new()
            } else {
                query(host, engine, at, db, &sql).await?
            }
        }
    };
    Ok(out
        .lines()
        .filter_map(|l| {
            let (t, n) = l.rsplit_once('|')?;
            Some((t.to_string(), n.trim().parse().ok()?))
        })
        .collect())
}

/// Tables with rows or objects in a database (to refuse loading into it).
async fn non_empty(host: &Host, engine: Engine, at: &At, db: &str) -> Result<u64, DockerError> {
    let sql = match engine {
        Engine::Postgres => "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p','v','m','S','f') AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%';".to_string(),
        Engine::Mariadb => format!("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}';"),
    };
    Ok(query(host, engine, at, db, &sql)
        .await?
        .trim()
        .parse()
        .unwrap_or(0))
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

/// Save the destination database before it is replaced (--force), on the
/// destination, compressed.
async fn backup(host: &Host, engine: Engine, at: &At, db: &str) -> Result<String, DockerError> {
    let dump = match engine {
        Engine::Postgres => format!("db pg_dump -d {}", sh_quote(db)),
        Engine::Mariadb => format!(
            "db mariadb-dump --single-transaction --routines --triggers --events -- {}",
            sh_quote(db)
        ),
    };
    let script = format!(
        "set -e; set -o pipefail 2>/dev/null || true; umask 077; d=/var/backups/migrate; mkdir -p \"$d\"\n{}\nf=\"$d/db-{db}-$(date -u +%Y%m%dT%H%M%SZ).sql.gz\"\n{dump} | gzip -c > \"$f\"\necho \"$f\"\n",
        db_fn(engine, at, false)
    );
    let out = host
        .sh(
            "backing up the destination database",
            &format!("bash -c {}", sh_quote(&script)),
            None,
        )
        .await?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

/// Statement that empties a database inside the load's transaction (pg) or
/// right before it (MariaDB, after the backup).
fn wipe_sql(engine: Engine, db: &str) -> String {
    match engine {
        Engine::Postgres => "DO $$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' LOOP EXECUTE format('DROP SCHEMA %I CASCADE', s); END LOOP; END $$;\nCREATE SCHEMA public;\n".to_string(),
        Engine::Mariadb => format!("DROP DATABASE `{db}`; CREATE DATABASE `{db}`;\n"),
    }
}

/// Rows per table in a plain pg_dump stream (COPY blocks), counted on the
/// source server: the reference when the source is a dump file.
fn pg_file_counts_script(path: &str) -> String {
    format!(
        "{} | awk '/^COPY .* FROM stdin;$/ {{t=$2; n=0; inb=1; next}} inb && $0==\"\\\\.\" {{print t \"|\" n; inb=0; next}} inb {{n++}}'",
        decompress_cmd(path)
    )
}

#[instrument(skip_all, fields(src = %m.src, dst = %m.dst))]
pub async fn move_db(m: &DbMove) -> Result<DbReport, DockerError> {
    if let Some(d) = &m.src_db {
        check_db_name(d)?;
    }
    let dst_db = m.dst_db.clone().or_else(|| m.src_db.clone());
    if let Some(d) = &dst_db {
        check_db_name(d)?;
    }
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
    if let Some(f) = &m.dump_file {
        let out = s
            .host
            .sh_raw(
                "checking the dump file",
                &format!("test -r {}", sh_quote(f)),
                None,
            )
            .await?;
        if !out.status.success() {
            return Err(DockerError::BadInput(format!(
                "the dump file {f} does not exist on {} or is not readable",
                s.name()
            )));
        }
    } else if let Some(db) = &m.src_db
        && !db_exists(&s.host, m.engine, &m.src_at, db).await?
    {
        return Err(DockerError::BadInput(format!(
            "there is no database `{db}` in {}",
            describe(&m.src, &m.src_at)
        )));
    }
    let target = describe(&m.dst, &m.dst_at);
    let mut notes = Vec::new();
    let mut backup_file = None;
    let mut created_db = false;
    let mut prologue = String::new();
    let mut epilogue = String::new();
    if let Some(db) = &dst_db {
        if db_exists(&d.host, m.engine, &m.dst_at, db).await? {
            let n = non_empty(&d.host, m.engine, &m.dst_at, db).await?;
            if n > 0 {
                if !m.force {
                    return Err(DockerError::DatabaseNotEmpty {
                        target,
                        db: db.clone(),
                        what: format!("{n} tables or other objects"),
                    });
                }
                let f = backup(&d.host, m.engine, &m.dst_at, db).await?;
                notes.push(format!(
                    "the destination database was saved to {f} on {} first",
                    d.name()
                ));
                backup_file = Some(f);
                match m.engine {
                    Engine::Postgres => prologue.push_str(&wipe_sql(m.engine, db)),
                    Engine::Mariadb => {
                        query(
                            &d.host,
                            m.engine,
                            &m.dst_at,
                            "information_schema",
                            &wipe_sql(m.engine, db),
                        )
                        .await?;
                    }
                }
            }
        } else {
            let sql = match m.engine {
                Engine::Postgres => format!("CREATE DATABASE \"{db}\";"),
                Engine::Mariadb => format!("CREATE DATABASE `{db}`;"),
            };
            let admin = if m.engine == Engine::Postgres {
                "postgres"
            } else {
                "information_schema"
            };
            query(&d.host, m.engine, &m.dst_at, admin, &sql).await?;
            created_db = true;
            notes.push(format!("created database {db}"));
        }
        match m.engine {
            Engine::Postgres => {
                prologue.insert_str(0, "BEGIN;\n");
                epilogue.push_str("\nCOMMIT;\n");
            }
            Engine::Mariadb => {
                prologue = format!(
                    "CREATE TABLE IF NOT EXISTS `{INCOMPLETE_MARKER}` (started DATETIME, source VARCHAR(255));\nINSERT INTO `{INCOMPLETE_MARKER}` VALUES (NOW(), '{}');\n",
                    describe(&m.src, &m.src_at).replace(['\'', '\\'], "")
                );
                epilogue = format!("\nDROP TABLE `{INCOMPLETE_MARKER}`;\n");
            }
        }
    } else {
        notes.push(
            "all databases: not transactional; on failure the databases it created stay behind"
                .into(),
        );
    }

    let src_script = source_script(m, &prologue, &epilogue);
    let load = load_script(m.engine, &m.dst_at, dst_db.as_deref());
    let (mode, rc) = pipe(&s, &d, &m.src, &m.dst, &src_script, &load).await?;
    info!(%mode, "dump streamed");
    if let Err(detail) = rc {
        // An empty database we created for this load goes again, so the
        // destination really is as it was.
        if created_db
            && m.engine == Engine::Postgres
            && let Some(db) = &dst_db
        {
            let _ = query(
                &d.host,
                m.engine,
                &m.dst_at,
                "postgres",
                &format!("DROP DATABASE \"{db}\";"),
            )
            .await;
        }
        let state = match (m.engine, &dst_db) {
            (Engine::Postgres, Some(db)) => format!(
                "the load ran in one transaction that was not committed: database {db} in {} is as it was before",
                describe(&m.dst, &m.dst_at)
            ),
            (Engine::Mariadb, Some(db)) => format!(
                "database {db} in {} holds a PARTIAL load, marked by the table `{INCOMPLETE_MARKER}`; drop the database (or restore the backup) before retrying",
                describe(&m.dst, &m.dst_at)
            ),
            _ => "databases created by the partial load may remain on the destination; check them before retrying".into(),
        };
        return Err(DockerError::DumpFailed { detail, state });
    }

    let mut counts = BTreeMap::new();
    let mut compared = false;
    if let Some(db) = &dst_db {
        let dst_counts = row_counts(&d.host, m.engine, &m.dst_at, db).await?;
        let src_counts = match (&m.dump_file, &m.src_db) {
            (None, Some(sdb)) => Some(row_counts(&s.host, m.engine, &m.src_at, sdb).await?),
            (Some(f), _) if m.engine == Engine::Postgres => {
                let out = s
                    .host
                    .sh(
                        "counting rows in the dump file",
                        &pg_file_counts_script(f),
                        None,
                    )
                    .await?;
                Some(
                    String::from_utf8_lossy(&out)
                        .lines()
                        .filter_map(|l| {
                            let (t, n) = l.rsplit_once('|')?;
                            Some((t.replace('"', ""), n.parse().ok()?))
                        })
                        .collect::<BTreeMap<String, u64>>(),
                )
            }
            _ => {
                notes.push("row counts not compared: the source is a MariaDB dump file".into());
                None
            }
        };
        if let Some(sc) = src_counts {
            compared = true;
            for (t, n) in &sc {
                counts.insert(t.clone(), (Some(*n), dst_counts.get(t).copied()));
            }
            for (t, n) in &dst_counts {
                counts.entry(t.clone()).or_insert((None, Some(*n)));
            }
            let diffs: Vec<String> = counts
                .iter()
                .filter(|(_, (a, b))| a != b)
                .map(|(t, (a, b))| format!("  {t}: source {a:?}, destination {b:?}"))
                .collect();
            if !diffs.is_empty() {
                return Err(DockerError::RowCounts(diffs.join("\n")));
            }
        }
    }
    let rep = DbReport {
        source: match &m.dump_file {
            Some(f) => format!("{}:{f}", m.src),
            None => describe(&m.src, &m.src_at),
        },
        target: describe(&m.dst, &m.dst_at),
        database: dst_db,
        mode,
        backup: backup_file,
        row_counts: counts,
        compared,
        notes,
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
) -> Result<(String, Result<(), String>), DockerError> {
    debug_assert!(s.host.spec() == src && d.host.spec() == dst);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_secs())
        .unwrap_or(0);
    let job = JobId::new(&format!("docker-db-{}-{stamp}", std::process::id()))?;
    let dump = format!("bash -c {}", sh_quote(src_script));
    let load = format!("bash -c {}", sh_quote(load));
    match migrate_remote::pipe::run(&Pipe::new(&s.host, &d.host, job, &dump, &load)).await {
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
    fn refuses_odd_database_names() {
        assert!(check_db_name("app_db").is_ok());
        assert!(check_db_name("a;drop").is_err());
        assert!(check_db_name("").is_err());
    }
}
