//! The source's app files and databases backed up on the source before
//! anything moves: a tar and dumps, with SHA-256 sums. Safe to rerun: a run
//! killed mid-backup leaves its script running on the source, so a rerun
//! waits for that one's lock, and each writes its own partial files before
//! renaming them into place.

use migrate_remote::sh_quote;

use super::super::layout::{DbEngine, DbShell};
use super::super::plan::{Action, Plan};
use super::{Cx, Exec, Outcome, Planned, StepKind, outcome};
use crate::plugin::Side;

pub fn backup_path(plan: &Plan) -> String {
    format!("{}/{}", plan.migration.backup_dir(), plan.id)
}

/// About what the backup takes: the app's files as `du` counts them when
/// it runs, plus its databases as measured when the plan was made.
/// Refused, before anything is written, when the filesystem that will
/// hold the backup has less free than that plus 10 %: a backup that fills
/// the live source's disk stops the app it is meant to protect.
fn space_check(plan: &Plan, b: &str) -> String {
    format!(
        r#"p={b}; while [ ! -e "$p" ]; do p=$(dirname -- "$p"); done
files=$(du -sb -- {r} | cut -f1); need=$(( files + {db} )); want=$(( need + need / 10 ))
free=$(df -PB1 -- "$p" | awk 'NR==2 {{print $4}}')
h() {{ numfmt --to=iec-i --suffix=B "$1" 2>/dev/null || echo "$1 bytes"; }}
if [ -z "$free" ] || [ "$free" -lt "$want" ]; then echo "not enough space for the backup in {bq}: $(h "${{free:-0}}") free on the filesystem of $p, the backup needs about $(h "$need") ($(h "$files") of files, $(h {db}) of database) plus 10 %; nothing was written. Free space there, or set backup_dir in the migration file to a directory with room" >&2; exit 3; fi
"#,
        b = sh_quote(b),
        bq = b.replace(['"', '$', '`', '\\'], "_"),
        r = sh_quote(&plan.migration.source.root),
        db = plan.facts.database_bytes,
    )
}

fn script(plan: &Plan) -> String {
    let b = backup_path(plan);
    let mut s = space_check(plan, &b);
    s += &format!(
        "set -e; umask 077; mkdir -p {b}; exec 9>>{b}/.lock; flock -w 3600 9; tar -C {r} -cf {b}/files.tar.partial.$$ . && mv {b}/files.tar.partial.$$ {b}/files.tar; ",
        b = sh_quote(&b),
        r = sh_quote(&plan.migration.source.root)
    );
    for st in &plan.steps {
        if let Action::Database {
            engine,
            source_name,
            service,
            ..
        } = &st.action
            && let Some(kind) = DbEngine::parse(engine)
        {
            let (dump, suffix) =
                DbShell::for_engine(kind, &plan.migration.source, service.as_deref())
                    .backup(source_name);
            s.push_str(&format!(
                "{dump} > {b}/db-{f}.{suffix}.partial.$$ && mv {b}/db-{f}.{suffix}.partial.$$ {b}/db-{f}.{suffix}; ",
                b = sh_quote(&b),
                f = source_name.replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "_")
            ));
        }
    }
    s.push_str(&format!("cd {} && rm -f -- *.partial.*; if ls db-* >/dev/null 2>&1; then sha256sum files.tar db-*; else sha256sum files.tar; fi > SHA256SUMS; cat SHA256SUMS", sh_quote(&b)));
    s
}

pub struct Backup;

impl StepKind for Backup {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        vec![Planned::on("backup", Side::Source, script(cx.plan))]
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        let out = x.run("backup", "backup")?;
        let dir = backup_path(x.cx.plan);
        Ok(Outcome::new(
            format!("backup in {dir}"),
            &outcome::Backup {
                dir,
                sha256sums: out.trim().to_string(),
            },
        ))
    }
}
