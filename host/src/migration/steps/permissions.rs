//! Files the web server serves itself (Mastodon's media under
//! public/system: nginx reads them directly) must be readable by the web
//! server's user, which is not the app's: uploads written with a umask of
//! 0077 or 0007 arrive with mode 0600 or 0660 and break nginx
//! (mastodon/mastodon#7967). The plan names them (read on the source); on
//! the destination this step names them again and, only when the migration
//! says so (`--fix-permissions`), gives them what the app expects: owned by
//! the app's user (the owner of its root), files 0644, directories 0755.

use migrate_remote::sh_quote;

use super::{Cx, Exec, Outcome, Planned, StepKind, outcome};
use crate::plugin::Side;

pub struct Permissions<'a> {
    pub dirs: &'a [String],
    pub fix: bool,
}

/// How many offending paths a listing shows.
const SHOWN: usize = 20;

/// Defines `scan`: one line per path the web server cannot read or the
/// app's user does not own (`TYPE MODE OWNER PATH`), under the root's
/// served directories.
fn prelude(root: &str, dirs: &[String]) -> String {
    let dirs: Vec<String> = dirs.iter().map(|d| sh_quote(d)).collect();
    format!(
        "cd {} || exit 1\no=$(stat -c %U .); g=$(stat -c %G .)\nscan() {{ for d in {}; do [ -d \"$d\" ] && find \"$d\" \\( \\( -type f ! -perm -o=r \\) -o \\( -type d ! -perm -o=rx \\) -o ! -user \"$o\" \\) -printf '%y %m %u %p\\n'; done; }}\n",
        sh_quote(root),
        dirs.join(" ")
    )
}

fn listing(prelude: &str) -> String {
    format!("{prelude}scan | awk 'NR <= {SHOWN} {{ print }} END {{ print \"count \" NR }}'")
}

/// What a listing says: how many, and the first of them.
fn read(out: &str) -> outcome::Permissions {
    let mut p = outcome::Permissions::default();
    for l in out.lines() {
        match l.strip_prefix("count ") {
            Some(n) => p.count = n.trim().parse().unwrap_or(0),
            None if !l.trim().is_empty() => p.shown.push(l.to_string()),
            None => {}
        }
    }
    p
}

fn summary(p: &outcome::Permissions) -> String {
    format!(
        "{} path(s) the web server's user cannot read or the app's user does not own (type mode owner path): {}{}",
        p.count,
        p.shown.join("; "),
        if p.count > p.shown.len() as u64 {
            "; …"
        } else {
            ""
        }
    )
}

/// The source's offending files, for the plan's notes (read-only).
pub fn plan_reading(
    sides: &super::super::sides::Sides,
    mig: &super::super::definition::Migration,
    recipe: &crate::recipe::Recipe,
    notes: &mut Vec<String>,
) {
    use super::super::layout::Layout;
    let dirs: Vec<String> = recipe
        .directories
        .iter()
        .filter(|d| d.served)
        .map(|d| d.path.clone())
        .collect();
    if dirs.is_empty()
        || Layout::of(&mig.source) != Layout::Directory
        || Layout::of(&mig.destination) != Layout::Directory
    {
        return;
    }
    let script = listing(&prelude(&mig.source.root, &dirs));
    match sides.sh(Side::Source, "scanning served files' permissions", &script) {
        Ok(out) => {
            let p = read(&out);
            if p.count > 0 {
                notes.push(format!(
                    "Permissions: on the source, {}. {}",
                    summary(&p),
                    if mig.fix_permissions {
                        "They are fixed on the destination (--fix-permissions): the app's user owns them, files 0644, directories 0755."
                    } else {
                        "They are copied as they are; plan and run with --fix-permissions to fix them on the destination."
                    }
                ));
            }
        }
        Err(e) => notes.push(format!(
            "Permissions of the served files could not be read on the source: {e}"
        )),
    }
}

impl StepKind for Permissions<'_> {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        let pre = prelude(&cx.plan.migration.destination.root, self.dirs);
        let mut v = vec![Planned::on("scan", Side::Destination, listing(&pre))];
        if self.fix {
            v.push(
                Planned::on(
                    "fix",
                    Side::Destination,
                    format!(
                        "{pre}for d in {}; do [ -d \"$d\" ] || continue; find \"$d\" ! -user \"$o\" -exec chown \"$o:$g\" {{}} + && find \"$d\" -type f ! -perm -o=r -exec chmod 0644 {{}} + && find \"$d\" -type d ! -perm -o=rx -exec chmod 0755 {{}} + || exit 1; done\nscan | awk 'NR <= {SHOWN} {{ print }} END {{ print \"count \" NR }}'",
                        self.dirs
                            .iter()
                            .map(|d| sh_quote(d))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                )
                .when_needed(),
            );
        }
        v
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        let mut p = read(&x.run("scan", "scanning served files' permissions")?);
        if p.count == 0 {
            return Ok(Outcome::new(
                "every served file is readable by the web server and owned by the app's user",
                &p,
            ));
        }
        if !self.fix {
            let detail = format!(
                "left as they came: {} (rerun with --fix-permissions to fix them)",
                summary(&p)
            );
            return Ok(Outcome::new(detail, &p));
        }
        let after = read(&x.run("fix", "fixing served files' permissions")?);
        if after.count > 0 {
            return Err(format!("after chown/chmod, still {}", summary(&after)));
        }
        p.fixed = true;
        Ok(Outcome::new(
            format!(
                "fixed (owner the app's user, files 0644, directories 0755): {}",
                summary(&p)
            ),
            &p,
        ))
    }
}
