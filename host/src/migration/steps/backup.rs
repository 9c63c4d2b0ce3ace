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

fn script(plan: &Plan) -> String {
    let b = backup_path(plan);
    let mut s = format!(
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
