//! The dump → load of one database (or all of a server's), the same for
//! `migrate app` and `migrate docker db`:
//!
//! * [`Mode::Fresh`] (`migrate app`): the destination database is the
//!   move's to replace (the plan checked it was free). The source's roles or
//!   accounts and grants are recreated, the database dropped and created
//!   fresh, the dump loaded with its owners.
//! * [`Mode::Guarded`] (`migrate docker db`): a non-empty destination is
//!   refused unless forced (then backed up and emptied), and a failed dump
//!   must not leave a silently half-loaded database: PostgreSQL's stream is
//!   wrapped in BEGIN … COMMIT, the COMMIT only sent after a successful dump;
//!   MariaDB's DDL commits implicitly, so its stream first creates
//!   `migrate_load_incomplete` and only a successful dump drops it again.
//!
//! Afterwards the exact row counts of every table are compared.

use tracing::{info, instrument};

use migrate_remote::sh_quote;

use crate::client::{Client, Ownership};
use crate::counts::{self, Compared, Counts};
use crate::engine::Engine;
use crate::error::DbError;
use crate::roles;
use crate::runner::{Pipe, Runner, sh};
use crate::sql::DbName;
use crate::statements::{self as st, Charset, INCOMPLETE_MARKER};

/// One end of a move: where its server runs and how to reach it.
pub struct Side<'a, R> {
    pub runner: &'a R,
    pub client: Client,
    /// How this end is named in messages (`dst container db1`).
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Database(DbName),
    /// Every database of the server (pg_dumpall / --all-databases).
    All,
    /// A dump file on the source server (plain or compressed SQL).
    DumpFile(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The destination database is replaced, its roles/accounts first.
    /// `owner`: the recipe's usual owner, when the source names none.
    Fresh { owner: Option<String> },
    /// Refuse a non-empty destination unless `force` (backup, then empty it).
    Guarded { force: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub source: Source,
    /// None only with [`Source::All`].
    pub target: Option<DbName>,
    pub mode: Mode,
}

/// What a move did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Moved {
    pub route: String,
    pub bytes: Option<u64>,
    /// The destination's former contents (Guarded, forced), on the destination.
    pub backup: Option<String>,
    pub row_counts: Compared,
    pub compared: bool,
    pub notes: Vec<String>,
}

impl Moved {
    pub fn tables(&self) -> usize {
        self.row_counts.len()
    }

    pub fn rows(&self) -> u64 {
        self.row_counts.values().filter_map(|(a, _)| *a).sum()
    }
}

/// The command writing a dump file's SQL to stdout, by its extension.
pub fn decompress(path: &str) -> String {
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

/// One statement (or several) on stdin in `db` (None: the admin database).
pub async fn query<R: Runner>(
    side: &Side<'_, R>,
    what: &str,
    db: Option<&str>,
    sql: &str,
) -> Result<String, DbError> {
    sh(
        side.runner,
        what,
        &side.client.query(db),
        Some(format!("{sql}\n").as_bytes()),
    )
    .await
}

pub async fn exists<R: Runner>(side: &Side<'_, R>, db: &DbName) -> Result<bool, DbError> {
    let e = side.client.engine;
    let out = query(
        side,
        "looking for the database",
        None,
        &st::exists(e, db.as_str()),
    )
    .await?;
    Ok(out.trim() == "1")
}

/// Exact rows of every user table of `db`.
pub async fn row_counts<R: Runner>(side: &Side<'_, R>, db: &DbName) -> Result<Counts, DbError> {
    let e = side.client.engine;
    let what = "counting rows";
    let list = query(
        side,
        what,
        Some(db.as_str()),
        &counts::list_sql(e, db.as_str()),
    )
    .await?;
    let tables = counts::parse_list(e, &list).map_err(|detail| DbError::Answer {
        what: format!("listing the tables of {db} in {}", side.label),
        detail,
    })?;
    if tables.is_empty() {
        return Ok(Counts::new());
    }
    let out = query(
        side,
        what,
        Some(db.as_str()),
        &counts::count_sql(e, &tables),
    )
    .await?;
    counts::parse_counts(&tables, &out).map_err(|detail| DbError::Answer {
        what: format!("counting the rows of {db} in {}", side.label),
        detail,
    })
}

#[instrument(skip_all, fields(engine = %src.client.engine, src = %src.label, dst = %dst.label))]
pub async fn run<R1: Runner, R2: Runner, P: Pipe>(
    t: &Transfer,
    src: &Side<'_, R1>,
    dst: &Side<'_, R2>,
    pipe: &P,
) -> Result<Moved, DbError> {
    if src.client.engine != dst.client.engine {
        return Err(DbError::BadInput(format!(
            "the source is {} and the destination {}: a dump of one does not load into the other",
            src.client.engine, dst.client.engine
        )));
    }
    match &t.mode {
        Mode::Fresh { owner } => fresh(t, owner.as_deref(), src, dst, pipe).await,
        Mode::Guarded { force } => guarded(t, *force, src, dst, pipe).await,
    }
}

async fn fresh<R1: Runner, R2: Runner, P: Pipe>(
    t: &Transfer,
    owner: Option<&str>,
    src: &Side<'_, R1>,
    dst: &Side<'_, R2>,
    pipe: &P,
) -> Result<Moved, DbError> {
    let (Source::Database(from), Some(to)) = (&t.source, &t.target) else {
        return Err(DbError::BadInput(
            "a fresh database is made from one source database".into(),
        ));
    };
    if let Some(up) = dst.client.start() {
        sh(dst.runner, "starting the database container", &up, None).await?;
        sh(
            dst.runner,
            "waiting for the database",
            &format!("sh -c {}", sh_quote(&dst.client.wait_ready())),
            None,
        )
        .await?;
    }
    match src.client.engine {
        Engine::Postgresql => pg_prepare(from, to, owner, src, dst).await?,
        Engine::Mariadb => maria_prepare(from, to, src, dst).await?,
    }
    let piped = pipe
        .pipe(
            &src.client.dump(from.as_str(), Ownership::Keep),
            &format!("{} >/dev/null", dst.client.load(to.as_str())),
        )
        .await?;
    if let Err(detail) = piped.outcome {
        return Err(DbError::DumpFailed {
            detail,
            state: format!(
                "database {to} in {} holds a partial load; the next run replaces it",
                dst.label
            ),
        });
    }
    info!(route = %piped.route, "dump loaded");
    let (a, b) = (row_counts(src, from).await?, row_counts(dst, to).await?);
    let (all, diffs) = counts::compare(&a, &b);
    if !diffs.is_empty() {
        return Err(DbError::RowCounts(diffs.join("\n")));
    }
    Ok(Moved {
        route: piped.route,
        bytes: piped.bytes,
        backup: None,
        row_counts: all,
        compared: true,
        notes: Vec::new(),
    })
}

/// The roles the dump names (the database's owner and its objects'
/// owners), read from the source: the recipe's user is only the usual name.
/// They are created without passwords (those stay in the app's config).
async fn pg_prepare<R1: Runner, R2: Runner>(
    from: &DbName,
    to: &DbName,
    owner: Option<&str>,
    src: &Side<'_, R1>,
    dst: &Side<'_, R2>,
) -> Result<(), DbError> {
    let mut list = Vec::new();
    roles::names(
        &query(
            src,
            "reading the database owner",
            None,
            &roles::pg_owner_sql(from.as_str()),
        )
        .await?,
        &mut list,
    );
    let db_owner = list.first().cloned().or_else(|| owner.map(str::to_string));
    roles::names(
        &query(
            src,
            "reading the object owners",
            Some(from.as_str()),
            roles::PG_OBJECT_OWNERS_SQL,
        )
        .await?,
        &mut list,
    );
    let e = Engine::Postgresql;
    for r in &list {
        query(dst, "creating a role", None, &roles::pg_create_role(r)).await?;
    }
    query(
        dst,
        "dropping a half-loaded database",
        None,
        &st::drop_if_exists(e, to.as_str()),
    )
    .await?;
    query(
        dst,
        "creating the database",
        None,
        &st::create(e, to.as_str(), db_owner.as_deref(), None),
    )
    .await?;
    Ok(())
}

/// A fresh database with the source's character set and collation, and the
/// accounts that hold privileges on it, recreated with the same password
/// hashes and grants. The hashes travel on stdin from one server's client
/// to the other's.
async fn maria_prepare<R1: Runner, R2: Runner>(
    from: &DbName,
    to: &DbName,
    src: &Side<'_, R1>,
    dst: &Side<'_, R2>,
) -> Result<(), DbError> {
    let e = Engine::Mariadb;
    let charset = Charset::parse(
        &query(
            src,
            "reading the database's character set",
            None,
            &Charset::query(from.as_str()),
        )
        .await?,
    );
    let grantees = query(
        src,
        "reading who may use the database",
        None,
        &roles::maria_grantees_sql(from.as_str()),
    )
    .await?;
    let mut statements = format!(
        "{};\n{};\n",
        st::drop_if_exists(e, to.as_str()),
        st::create(e, to.as_str(), None, charset.as_ref())
    );
    for g in grantees.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let create = query(
            src,
            "reading an account",
            None,
            &roles::maria_show_create(g),
        )
        .await?;
        let grants = query(
            src,
            "reading an account's grants",
            None,
            &roles::maria_show_grants(g),
        )
        .await?;
        statements.push_str(&roles::maria_recreate(
            &create,
            &grants,
            from.as_str(),
            to.as_str(),
        ));
    }
    query(
        dst,
        "creating the database and its accounts",
        None,
        &statements,
    )
    .await?;
    Ok(())
}

async fn guarded<R1: Runner, R2: Runner, P: Pipe>(
    t: &Transfer,
    force: bool,
    src: &Side<'_, R1>,
    dst: &Side<'_, R2>,
    pipe: &P,
) -> Result<Moved, DbError> {
    let e = src.client.engine;
    match &t.source {
        Source::DumpFile(f) => {
            let out = src
                .runner
                .sh_raw(
                    "checking the dump file",
                    &format!("test -r {}", sh_quote(f)),
                    None,
                )
                .await?;
            if !out.status.success() {
                return Err(DbError::NoDumpFile {
                    path: f.clone(),
                    host: src.runner.label(),
                });
            }
            if t.target.is_none() && e == Engine::Mariadb {
                return Err(DbError::BadInput(
                    "loading a MariaDB dump file needs --to-db NAME".into(),
                ));
            }
        }
        Source::Database(db) => {
            if !exists(src, db).await? {
                return Err(DbError::NoSuchDatabase {
                    db: db.to_string(),
                    place: src.label.clone(),
                });
            }
        }
        Source::All => {}
    }
    let mut moved = Moved::default();
    let mut created = false;
    let (mut prologue, mut epilogue) = (String::new(), String::new());
    if let Some(db) = &t.target {
        if exists(dst, db).await? {
            let n: u64 = query(
                dst,
                "looking into the destination database",
                Some(db.as_str()),
                &st::objects(e, db.as_str()),
            )
            .await?
            .trim()
            .parse()
            .unwrap_or(0);
            if n > 0 {
                if !force {
                    return Err(DbError::NotEmpty {
                        target: dst.label.clone(),
                        db: db.to_string(),
                        what: format!("{n} tables or other objects"),
                    });
                }
                let f = backup(dst, db).await?;
                moved.notes.push(format!(
                    "the destination database was saved to {f} on {} first",
                    dst.runner.label()
                ));
                moved.backup = Some(f);
                match e {
                    Engine::Postgresql => prologue.push_str(&st::wipe(e, db.as_str())),
                    Engine::Mariadb => {
                        query(
                            dst,
                            "emptying the destination database",
                            None,
                            &st::wipe(e, db.as_str()),
                        )
                        .await?;
                    }
                }
            }
        } else {
            query(
                dst,
                "creating the database",
                None,
                &format!("{};", st::create(e, db.as_str(), None, None)),
            )
            .await?;
            created = true;
            moved.notes.push(format!("created database {db}"));
        }
        match e {
            Engine::Postgresql => {
                prologue.insert_str(0, "BEGIN;\n");
                epilogue.push_str("\nCOMMIT;\n");
            }
            Engine::Mariadb => (prologue, epilogue) = st::incomplete_marker(&src_name(t, src)),
        }
    } else {
        moved.notes.push(
            "all databases: not transactional; on failure the databases it created stay behind"
                .into(),
        );
    }
    let produce = match &t.source {
        Source::DumpFile(f) => decompress(f),
        Source::Database(d) => src.client.dump(d.as_str(), Ownership::Drop),
        Source::All => src.client.dump_all(),
    };
    let dump = format!(
        "printf '%s' {pro}\n{produce} || exit $?\nprintf '%s' {epi}\n",
        pro = sh_quote(&prologue),
        epi = sh_quote(&epilogue),
    );
    let load = match (&t.target, e) {
        (Some(d), Engine::Postgresql) => format!("{} >/dev/null", dst.client.load(d.as_str())),
        (Some(d), Engine::Mariadb) => dst.client.load(d.as_str()),
        (None, Engine::Postgresql) => format!("{} >/dev/null", dst.client.load_all()),
        (None, Engine::Mariadb) => dst.client.load_all(),
    };
    let piped = pipe.pipe(&dump, &load).await?;
    info!(route = %piped.route, "dump streamed");
    moved.route = piped.route;
    moved.bytes = piped.bytes;
    if let Err(detail) = piped.outcome {
        // An empty database made for this load goes again, so the
        // destination really is as it was.
        if created
            && e == Engine::Postgresql
            && let Some(db) = &t.target
        {
            let _ = query(
                dst,
                "dropping the database made for the load",
                None,
                &st::drop(e, db.as_str()),
            )
            .await;
        }
        let state = match (e, &t.target) {
            (Engine::Postgresql, Some(db)) => format!(
                "the load ran in one transaction that was not committed: database {db} in {} is as it was before",
                dst.label
            ),
            (Engine::Mariadb, Some(db)) => format!(
                "database {db} in {} holds a PARTIAL load, marked by the table `{INCOMPLETE_MARKER}`; drop the database (or restore the backup) before retrying",
                dst.label
            ),
            _ => "databases created by the partial load may remain on the destination; check them before retrying".into(),
        };
        return Err(DbError::DumpFailed { detail, state });
    }
    if let Some(db) = &t.target {
        let dst_counts = row_counts(dst, db).await?;
        let src_counts = match &t.source {
            Source::Database(sdb) => Some(row_counts(src, sdb).await?),
            Source::DumpFile(f) if e == Engine::Postgresql => Some(counts::parse_pg_dump_file(
                &sh(
                    src.runner,
                    "counting rows in the dump file",
                    &counts::pg_dump_file_script(&decompress(f)),
                    None,
                )
                .await?,
            )),
            _ => {
                moved
                    .notes
                    .push("row counts not compared: the source is a MariaDB dump file".into());
                None
            }
        };
        if let Some(sc) = src_counts {
            let (all, diffs) = counts::compare(&sc, &dst_counts);
            if !diffs.is_empty() {
                return Err(DbError::RowCounts(diffs.join("\n")));
            }
            moved.row_counts = all;
            moved.compared = true;
        }
    }
    Ok(moved)
}

fn src_name<R>(t: &Transfer, src: &Side<'_, R>) -> String {
    match &t.source {
        Source::DumpFile(f) => format!("{}:{f}", src.label),
        _ => src.label.clone(),
    }
}

/// The destination database saved before it is replaced (--force), on the
/// destination, compressed; returns the file's path.
async fn backup<R: Runner>(side: &Side<'_, R>, db: &DbName) -> Result<String, DbError> {
    let dump = side.client.dump(db.as_str(), Ownership::Keep);
    let script = format!(
        "set -e; set -o pipefail 2>/dev/null || true; umask 077; d=/var/backups/migrate; mkdir -p \"$d\"\nf=\"$d/db-{}-$(date -u +%Y%m%dT%H%M%SZ).sql.gz\"\n{dump} | gzip -c > \"$f\"\necho \"$f\"\n",
        db.file_safe()
    );
    Ok(sh(
        side.runner,
        "backing up the destination database",
        &format!("bash -c {}", sh_quote(&script)),
        None,
    )
    .await?
    .trim()
    .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_decompressor_by_extension() {
        assert!(decompress("/x/d.sql.gz").starts_with("gzip -dc"));
        assert!(decompress("/x/d.sql.zst").starts_with("zstd -dcq"));
        assert_eq!(decompress("/x/it's.sql"), "cat -- '/x/it'\\''s.sql'");
    }
}
