//! A Discourse launcher install (discourse_docker): the install directory
//! (`/var/discourse` by default, any directory here) holds `launcher`,
//! `containers/app.yml` and `shared/standalone`, which the one container
//! `app` mounts at /shared; PostgreSQL, Redis, Unicorn and Sidekiq all run
//! inside it ("The Docker container is stateless; all data is stored in
//! /shared", samples/standalone.yml). Commands run with `docker exec app`,
//! the forum stops and starts with `./launcher stop|start app`, and a
//! changed app.yml needs `./launcher rebuild app`.
//!
//! The plan for such a move is built here, not by assemble.rs: a launcher
//! side has no database on the server for the generic dump-and-load, and
//! Discourse has its own two ways to move, chosen by the plan:
//!
//! - file level, when both sides run the same PostgreSQL major: copy
//!   shared/standalone while the forum runs, read-only mode, stop, the
//!   final delta, start on the destination;
//! - logical, when the majors differ (or `logical = true`): Discourse's own
//!   "Move your Discourse instance to a different server" sequence
//!   (meta.discourse.org/t/move-your-discourse-instance-to-a-different-server/15721):
//!   `discourse backup`, the file server to server, `discourse
//!   enable_restore`, `restore`, `disable_restore`; then e-mail back on
//!   (the restorer turns it off for non-staff users), and for a new name
//!   `discourse remap OLD NEW` and `rake posts:rebake`
//!   (meta.discourse.org/t/change-the-domain-name-or-rename-my-discourse/16098).
//!
//! The step kinds live in steps/discourse.rs.

use migrate_remote::sh_quote;
use serde::{Deserialize, Serialize};

use super::builder::{BuildError, BuildOptions, refused, remote};
use super::definition::{Migration, Side as SideDef};
use super::plan::{Action, CheckKind, CheckSpec, Cmd, Facts, Phase, Plan, PlanStep, Risk, Where};
use super::sides::Sides;
use crate::plugin::{LoadedPlugin, Side};
use crate::recipe::Recipe;

/// The container `./launcher … app` runs (named after containers/app.yml).
pub const CONTAINER: &str = "app";
/// The forum's database inside the container.
pub const DATABASE: &str = "discourse";

/// One side's launcher install.
#[derive(Debug, Clone, PartialEq)]
pub struct Launcher {
    pub dir: String,
}

impl Launcher {
    pub fn of(side: &SideDef) -> Option<Launcher> {
        side.launcher.as_ref().map(|d| Launcher {
            dir: d.trim_end_matches('/').to_string(),
        })
    }

    /// The container's /shared on the server.
    pub fn shared(&self) -> String {
        format!("{}/shared/standalone", self.dir)
    }

    pub fn app_yml(&self) -> String {
        format!("{}/containers/{CONTAINER}.yml", self.dir)
    }

    /// `./launcher SUB app`, run from the install directory as its docs do.
    pub fn cli(&self, sub: &str) -> String {
        format!("cd {} && ./launcher {sub} {CONTAINER}", sh_quote(&self.dir))
    }

    /// `argv` (shell words) inside the running container.
    pub fn exec(&self, argv: &str) -> String {
        format!("docker exec -i {CONTAINER} {argv}")
    }

    /// A query of the forum's database, one value a line, with psql inside
    /// the container as the postgres superuser.
    pub fn psql(&self, sql: &str) -> String {
        format!(
            "docker exec -i -u postgres {CONTAINER} psql -X -Atq -v ON_ERROR_STOP=1 -d {DATABASE} -c {}",
            sh_quote(sql)
        )
    }
}

/// A launcher side's root is its shared/standalone unless the migration
/// names one.
pub fn resolve(side: &mut SideDef) {
    if side.root.is_empty()
        && let Some(l) = Launcher::of(side)
    {
        side.root = l.shared();
    }
}

/// A launcher side stops and starts through `./launcher`; the destination
/// is rebuilt (app.yml changed under it). A Discourse side whose root is an
/// install's shared/standalone (what discovery finds, or the recipe's own
/// /var/discourse/shared/standalone) is one. True when the side is one.
pub fn defaults(side: &mut SideDef, app: &str) -> bool {
    if app == "discourse"
        && side.launcher.is_none()
        && side.compose.is_none()
        && side.stack.is_none()
        && let Some(dir) = side
            .root
            .trim_end_matches('/')
            .strip_suffix("/shared/standalone")
        && !dir.is_empty()
    {
        side.launcher = Some(dir.to_string());
    }
    let Some(l) = Launcher::of(side) else {
        return false;
    };
    if side.stop.is_none() {
        side.stop = Some(l.cli("stop"));
    }
    if side.start.is_none() {
        side.start = Some(l.cli("rebuild"));
    }
    true
}

/// The steps of a Discourse move that are Discourse's own, run by
/// steps/discourse.rs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// containers/app.yml from the source to the destination: the new
    /// hostname (and the Let's Encrypt settings) when the domain changes,
    /// the destination's own `params: version:` kept when it has one.
    AppYml {
        rename: Option<(String, String)>,
        keep_version: bool,
    },
    /// `discourse enable_readonly` / `disable_readonly` on the step's side.
    Readonly { on: bool },
    /// `discourse backup` on the step's side (the file name is recorded).
    Backup,
    /// The source's backup file into the destination's backups/default,
    /// server to server, then compared by SHA-256.
    CopyBackup,
    /// `discourse enable_restore`.
    EnableRestore,
    /// `discourse restore FILE` of the copied backup.
    Restore,
    /// `discourse disable_restore`.
    DisableRestore,
    /// disable_emails back to `no` (reported with what it was).
    EnableEmail,
    /// `discourse remap OLD NEW` (it asks for YES on stdin).
    Remap { old: String, new: String },
    /// `rake posts:rebake`; `posts` is how many named the old domain.
    Rebake { posts: u64 },
    /// `./launcher restart app`: Rails' and the site settings' caches.
    ClearCaches,
}

/// What the plan read of one side.
#[derive(Debug, Clone, Default)]
struct Reading {
    missing: Vec<String>,
    running: bool,
    /// PostgreSQL major of the data on the server (PG_VERSION).
    pg_data: Option<u32>,
    /// The major a rebuild there runs (the postgres template).
    pg_template: Option<u32>,
    db_bytes: u64,
    shared_bytes: u64,
    shared_files: u64,
    free_bytes: u64,
    version: Option<String>,
    /// The database's newest migration (schema_migrations).
    schema: Option<String>,
    /// Posts naming the old domain (source, on a domain change).
    posts_naming_old: u64,
    /// The newest topic's path (`/t/SLUG/ID`).
    newest_topic: Option<String>,
}

fn read(
    sides: &Sides,
    side: Side,
    l: &Launcher,
    old_domain: Option<&str>,
) -> Result<Reading, BuildError> {
    let s = sh_quote(&l.shared());
    let yml = sh_quote(&l.app_yml());
    let posts = match old_domain {
        Some(old) => l.psql(&format!(
            "select count(*) from posts where strpos(raw, {o}) > 0 or strpos(cooked, {o}) > 0",
            o = migrate_db::sql::literal(migrate_db::Engine::Postgresql, old)
        )),
        None => "echo 0".into(),
    };
    // The major a rebuild would run: a pinned template in app.yml
    // (templates/postgres.NN.template.yml), else the one
    // templates/postgres.template.yml upgrades to ("NN" = "$PG_MAJOR_OLD"
    // in discourse_docker, `pg_major: NN` in the lab's stand-in).
    let script = format!(
        r#"cd {d} 2>/dev/null || {{ echo missing=directory; exit 0; }}
[ -x ./launcher ] || echo missing=launcher
[ -f {yml} ] || echo missing=app.yml
echo running=$(docker inspect -f '{{{{.State.Running}}}}' {CONTAINER} 2>/dev/null || echo false)
echo pg_data=$(cat {s}/postgres_data/PG_VERSION 2>/dev/null)
t=$(grep -ho 'postgres\.[0-9][0-9]*\.template\.yml' {yml} 2>/dev/null | head -n 1 | tr -dc 0-9)
[ -n "$t" ] || t=$(grep -hoE 'pg_major: *[0-9]+|"[0-9]+" = "\$PG_MAJOR_OLD"' templates/postgres.template.yml 2>/dev/null | head -n 1 | tr -dc 0-9)
echo pg_template=$t
echo db_bytes=$(du -sb {s}/postgres_data 2>/dev/null | cut -f1)
echo shared_bytes=$(du -sb {s} 2>/dev/null | cut -f1)
echo shared_files=$(find {s} -type f 2>/dev/null | wc -l)
echo free=$(df -PB1 . | awk 'NR==2 {{print $4}}')
echo version=$(awk '/^params:/ {{p=1; next}} /^[^ #]/ {{p=0}} p && /^ +version:/ {{print $2}}' {yml} 2>/dev/null | tr -d "\"'")
if [ "$(docker inspect -f '{{{{.State.Running}}}}' {CONTAINER} 2>/dev/null)" = true ]; then
  echo schema=$({schema} 2>/dev/null)
  echo posts=$({posts} 2>/dev/null)
  echo newest=$({newest} 2>/dev/null)
fi
"#,
        d = sh_quote(&l.dir),
        schema = l.psql("select max(version) from schema_migrations"),
        newest = l.psql("select '/t/' || slug || '/' || id from topics order by created_at desc, id desc limit 1"),
    );
    let out = sides
        .sh(side, "reading the Discourse install", &script)
        .map_err(remote)?;
    let mut r = Reading::default();
    for line in out.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let num = || v.parse::<u64>().unwrap_or(0);
        match k {
            "missing" => r.missing.push(v.to_string()),
            "running" => r.running = v == "true",
            "pg_data" => r.pg_data = v.parse().ok(),
            "pg_template" => r.pg_template = v.parse().ok(),
            "db_bytes" => r.db_bytes = num(),
            "shared_bytes" => r.shared_bytes = num(),
            "shared_files" => r.shared_files = num(),
            "free" => r.free_bytes = num(),
            "version" if !v.is_empty() => r.version = Some(v.to_string()),
            "schema" if !v.is_empty() => r.schema = Some(v.to_string()),
            "posts" => r.posts_naming_old = num(),
            "newest" if v.starts_with("/t/") => r.newest_topic = Some(v.to_string()),
            _ => {}
        }
    }
    Ok(r)
}

/// The plan of a launcher-to-launcher move, or None when the migration is
/// not one (then the generic plan is built).
pub fn build(
    mig: &Migration,
    recipe: &Recipe,
    plugin: Option<&LoadedPlugin>,
    sides: &Sides,
    opts: &BuildOptions,
) -> Result<Option<Plan>, BuildError> {
    let (Some(src), Some(dst)) = (Launcher::of(&mig.source), Launcher::of(&mig.destination)) else {
        if Launcher::of(&mig.source).is_some() || Launcher::of(&mig.destination).is_some() {
            return Err(refused(
                "layout-mismatch",
                "only one side is a Discourse launcher install: name `launcher` (the discourse_docker directory) on both sides",
            ));
        }
        return Ok(None);
    };
    let rename = mig
        .old_domain
        .as_ref()
        .filter(|o| **o != mig.domain)
        .map(|o| (o.clone(), mig.domain.clone()));
    let s = read(
        sides,
        Side::Source,
        &src,
        rename.as_ref().map(|r| r.0.as_str()),
    )?;
    let d = read(sides, Side::Destination, &dst, None)?;
    if s.missing
        .iter()
        .any(|m| m == "directory" || m == "launcher" || m == "app.yml")
    {
        return Err(refused(
            "not-a-launcher-install",
            format!(
                "the source's {} is not a Discourse launcher install (missing: {}): it needs `launcher` and containers/app.yml",
                src.dir,
                s.missing.join(", ")
            ),
        ));
    }
    if d.missing
        .iter()
        .any(|m| m == "directory" || m == "launcher")
    {
        return Err(refused(
            "not-a-launcher-install",
            format!(
                "the destination has no discourse_docker checkout at {} (missing: {}); install it first: git clone https://github.com/discourse/discourse_docker.git {}",
                dst.dir,
                d.missing.join(", "),
                dst.dir
            ),
        ));
    }
    if !s.running {
        return Err(refused(
            "source-not-running",
            format!(
                "the forum's container `{CONTAINER}` does not run on the source; start it (cd {} && ./launcher start app) so the plan can read its database",
                src.dir
            ),
        ));
    }
    let src_pg = s.pg_data.ok_or_else(|| {
        refused(
            "database-missing",
            format!(
                "the source has no {}/postgres_data/PG_VERSION: is this the forum's shared directory?",
                src.shared()
            ),
        )
    })?;
    let dst_pg = d.pg_template.or(d.pg_data).unwrap_or(src_pg);
    let mut notes = Vec::new();
    let logical = mig.logical || src_pg != dst_pg;
    let why = if src_pg != dst_pg {
        format!(
            "Logical move (Discourse's backup and restore): the source's data is PostgreSQL {src_pg} and the destination runs PostgreSQL {dst_pg}, and PostgreSQL's files cannot be read by another major."
        )
    } else if mig.logical {
        format!(
            "Logical move (Discourse's backup and restore), as the migration asks (logical = true), although both sides run PostgreSQL {src_pg}."
        )
    } else {
        format!(
            "File-level move: both sides run PostgreSQL {src_pg}, so shared/standalone is copied as it is (the short window: only the final delta runs while the forum is down)."
        )
    };
    notes.push(why);
    if logical {
        // templates/postgres.template.yml: an upgrade needs twice the
        // data's size free, and refuses otherwise.
        let need = s.db_bytes.saturating_mul(2);
        if src_pg != dst_pg && d.free_bytes < need {
            return Err(refused(
                "disk-space",
                format!(
                    "PostgreSQL {src_pg} on the source and {dst_pg} on the destination: restoring there needs twice the database's size free ({} for {} of postgres_data), and {} has {} free. Free space on the destination first.",
                    super::plan::human_bytes(need),
                    super::plan::human_bytes(s.db_bytes),
                    dst.dir,
                    super::plan::human_bytes(d.free_bytes)
                ),
            ));
        }
        if !d.running {
            return Err(refused(
                "destination-not-bootstrapped",
                format!(
                    "a logical move restores into a running Discourse, and none runs on the destination: bootstrap one there first (cd {} && ./launcher rebuild app), at the source's version or newer",
                    dst.dir
                ),
            ));
        }
        // BackupRestore: "You're trying to restore a more recent version
        // of the schema. You should migrate first!" (restorer.rb).
        if let (Some(a), Some(b)) = (&s.schema, &d.schema)
            && b < a
        {
            return Err(refused(
                "destination-older",
                format!(
                    "the destination runs an older Discourse ({}, schema {b}) than the source's backup would need (schema {a}, {}): Discourse restores a backup only into the same or a newer version. Upgrade the destination first (params.version in its app.yml, then ./launcher rebuild app).",
                    d.version.as_deref().unwrap_or("version unknown"),
                    s.version.as_deref().unwrap_or("version unknown")
                ),
            ));
        }
    }
    // A file-level copy fills the destination's shared/standalone; a forum
    // running there would write into it (and `destination-free` would move
    // it aside under a running PostgreSQL with --force).
    if !logical && d.running {
        return Err(refused(
            "destination-running",
            format!(
                "a Discourse container runs on the destination ({}): a file-level move needs it stopped and its shared/standalone empty. Stop it there (cd {} && ./launcher stop app) and move {} away, or move logically (logical = true) to restore into it",
                CONTAINER,
                dst.dir,
                dst.shared()
            ),
        ));
    }
    // The plugin's Discourse knowledge (its upgrade rules) is not asked:
    // a launcher move keeps the version, or restores into the
    // destination's own (checked above by schema version).
    let _ = (plugin, opts);
    let facts = Facts {
        detected_version: s.version.clone(),
        detected_display: s.version.clone(),
        detected_by: Some(format!(
            "params.version in {}; schema {}",
            src.app_yml(),
            s.schema.as_deref().unwrap_or("unknown")
        )),
        target_version: if logical {
            d.version.clone()
        } else {
            s.version.clone()
        },
        source_bytes: s.shared_bytes,
        source_files: s.shared_files,
        database_bytes: s.db_bytes,
        destination_free_bytes: d.free_bytes,
        ..Facts::default()
    };
    let steps = if logical {
        super::launcher_steps::logical(mig, &src, &dst, &s_summary(&s), rename.as_ref())
    } else {
        super::launcher_steps::file_level(mig, &src, &dst, &s_summary(&s), rename.as_ref())
    };
    if !logical && rename.is_some() {
        notes.push("The domain changes: posts are remapped and rebaked on the destination after it starts.".into());
    }
    Ok(Some(Plan {
        id: mig.id(),
        migration: mig.clone(),
        app_name: recipe.app.name.clone(),
        facts,
        steps,
        skipped: vec![],
        notes,
        checks: checks(recipe, s.newest_topic.as_deref()),
        follow_ups: recipe.follow_ups.clone(),
    }))
}

/// What the step sentences need of the source.
pub struct Summary {
    pub shared_bytes: u64,
    pub shared_files: u64,
    pub db_bytes: u64,
    pub posts_naming_old: u64,
}

fn s_summary(r: &Reading) -> Summary {
    Summary {
        shared_bytes: r.shared_bytes,
        shared_files: r.shared_files,
        db_bytes: r.db_bytes,
        posts_naming_old: r.posts_naming_old,
    }
}

/// The test plan: the recipe's HTTP checks (/srv/status, /about.json) and
/// the forum's users, topics and posts, counted in the container on both
/// sides.
fn checks(recipe: &Recipe, newest_topic: Option<&str>) -> Vec<CheckSpec> {
    let mut out: Vec<CheckSpec> = recipe
        .checks
        .iter()
        .filter_map(|c| match c {
            crate::recipe::Check::Http {
                id,
                path,
                status,
                contains,
                json,
            } => Some(CheckSpec {
                id: id.clone(),
                title: format!("GET {path} answers {status}"),
                origin: format!("recipe {}", recipe.app.id),
                kind: CheckKind::Http {
                    path: path.clone(),
                    status: *status,
                    contains: contains.clone(),
                    json: json.clone(),
                    headers: vec![],
                },
            }),
            _ => None,
        })
        .collect();
    // The newest topic answers through the production name (and SNI, with
    // `https`) on the new server before DNS moves.
    if let Some(path) = newest_topic {
        out.push(CheckSpec {
            id: "newest-topic".into(),
            title: format!("the newest topic, GET {path}, answers 200"),
            origin: "migrate".into(),
            kind: CheckKind::Http {
                path: path.to_string(),
                status: 200,
                contains: None,
                json: None,
                headers: vec![],
            },
        });
    }
    let l = Launcher { dir: String::new() };
    for table in ["users", "topics", "posts", "uploads"] {
        out.push(CheckSpec {
            id: format!("count-{table}"),
            title: format!("the same number of {table} on both sides"),
            origin: "migrate".into(),
            kind: CheckKind::Count(Cmd {
                service: None,
                argv: vec![
                    "sh".into(),
                    "-c".into(),
                    l.psql(&format!("select count(*) from {table}")),
                ],
                env: vec![],
                user: None,
                workdir: None,
            }),
        });
    }
    out
}

/// A step of the plan.
pub fn step(
    id: &str,
    phase: Phase,
    on: Where,
    risk: Risk,
    title: String,
    action: Action,
) -> PlanStep {
    PlanStep {
        id: id.to_string(),
        phase,
        on,
        title,
        risk,
        origin: "migrate (discourse launcher)".into(),
        action,
    }
}

/// app.yml with the hostname and Let's Encrypt settings moved to the new
/// name, and `params: version:` taken from `keep` (the destination's own
/// file) when given. Line by line, so comments and layout stay.
pub fn rewrite_app_yml(
    text: &str,
    rename: Option<&(String, String)>,
    keep: Option<&str>,
) -> String {
    let kept_version = keep.and_then(params_version_line);
    let mut out = String::new();
    let mut in_params = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if !line.starts_with([' ', '\t', '#']) && !line.trim().is_empty() {
            in_params = line.starts_with("params:");
        }
        let key = t.split(':').next().unwrap_or("");
        if let Some((old, new)) = rename
            && (key == "DISCOURSE_HOSTNAME" || key.starts_with("LETSENCRYPT_"))
        {
            out.push_str(&line.replace(old.as_str(), new));
            continue;
        }
        if in_params
            && key == "version"
            && let Some(v) = &kept_version
        {
            out.push_str(v);
            continue;
        }
        out.push_str(line);
    }
    out
}

fn params_version_line(text: &str) -> Option<String> {
    let mut in_params = false;
    for line in text.split_inclusive('\n') {
        if !line.starts_with([' ', '\t', '#']) && !line.trim().is_empty() {
            in_params = line.starts_with("params:");
        }
        if in_params && line.trim_start().starts_with("version:") {
            let mut l = line.to_string();
            if !l.ends_with('\n') {
                l.push('\n');
            }
            return Some(l);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const YML: &str = "templates:\n  - \"templates/postgres.template.yml\"\nparams:\n  ## which version\n  version: v3.3.2\nenv:\n  DISCOURSE_HOSTNAME: 'talk.example.org'\n  DISCOURSE_SMTP_PASSWORD: \"s3cret talk.example.org\"\n  LETSENCRYPT_ACCOUNT_EMAIL: admin@talk.example.org\n";

    #[test]
    fn a_new_name_moves_hostname_and_letsencrypt_but_not_secrets() {
        let r = (
            "talk.example.org".to_string(),
            "forum.example.net".to_string(),
        );
        let out = rewrite_app_yml(YML, Some(&r), None);
        assert!(
            out.contains("DISCOURSE_HOSTNAME: 'forum.example.net'"),
            "{out}"
        );
        assert!(
            out.contains("LETSENCRYPT_ACCOUNT_EMAIL: admin@forum.example.net"),
            "{out}"
        );
        assert!(out.contains("\"s3cret talk.example.org\""), "{out}");
        assert!(
            out.contains("## which version\n  version: v3.3.2\n"),
            "{out}"
        );
        assert_eq!(rewrite_app_yml(YML, None, None), YML);
    }

    #[test]
    fn the_destinations_version_is_kept_when_asked() {
        let dst = "params:\n  version: v3.4.1\nenv:\n  DISCOURSE_HOSTNAME: x\n";
        let out = rewrite_app_yml(YML, None, Some(dst));
        assert!(out.contains("  version: v3.4.1\n"), "{out}");
        assert!(!out.contains("v3.3.2"), "{out}");
    }

    #[test]
    fn launcher_sides_get_their_root_and_commands() {
        let mut side = SideDef {
            host: "dst".into(),
            launcher: Some("/var/discourse/".into()),
            ..Default::default()
        };
        resolve(&mut side);
        assert_eq!(side.root, "/var/discourse/shared/standalone");
        assert!(defaults(&mut side, "discourse"));
        let mut found = SideDef {
            host: "src".into(),
            root: "/srv/forum/shared/standalone".into(),
            ..Default::default()
        };
        assert!(!defaults(&mut found.clone(), "nextcloud"));
        assert!(defaults(&mut found, "discourse"));
        assert_eq!(found.launcher.as_deref(), Some("/srv/forum"));
        assert_eq!(
            side.stop.as_deref(),
            Some("cd /var/discourse && ./launcher stop app")
        );
        assert_eq!(
            side.start.as_deref(),
            Some("cd /var/discourse && ./launcher rebuild app")
        );
        let l = Launcher::of(&side).unwrap();
        assert_eq!(
            l.psql("select 1"),
            "docker exec -i -u postgres app psql -X -Atq -v ON_ERROR_STOP=1 -d discourse -c 'select 1'"
        );
    }
}
