//! Discourse's own steps of a launcher move (launcher.rs plans them): its
//! `discourse` command inside the `app` container, app.yml carried, the
//! backup file copied server to server. Every step is safe to run again: a
//! rerun after a kill repeats it and reaches the same state.

use migrate_remote::{Location, sh_quote};
use serde::{Deserialize, Serialize};

use super::super::launcher::{Launcher, Op, rewrite_app_yml};
use super::super::plan::Where;
use super::{Cx, Exec, Outcome, Planned, StepKind, tail};
use crate::plugin::Side;

pub struct Discourse<'a> {
    pub op: &'a Op,
}

/// What a backup step leaves in the journal: the file, by name, in the
/// side's shared/standalone/backups/default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BackupFile {
    pub file: String,
}

/// What e-mail was before the step turned it back on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Email {
    pub before: String,
}

fn side(cx: &Cx) -> Side {
    match cx.step.on {
        Where::Source => Side::Source,
        _ => Side::Destination,
    }
}

fn launcher(cx: &Cx, side: Side) -> Launcher {
    Launcher::of(cx.plan.migration.side(side)).unwrap_or(Launcher {
        dir: cx.plan.migration.side(side).root.clone(),
    })
}

fn discourse(l: &Launcher, args: &str) -> String {
    l.exec(&format!("discourse {args} </dev/null"))
}

/// Wait (up to ten minutes) for a backup or restore already running in the
/// container to end: a run killed mid-step leaves it running there, and
/// Discourse refuses a second operation beside it
/// (BackupRestore::OperationRunningError).
fn idle(l: &Launcher) -> String {
    format!(
        "for i in $(seq 1 600); do {} >/dev/null 2>&1 || break; sleep 1; done; ",
        l.exec("pgrep -f 'discourse (backup|restore)'")
    )
}

/// The destination's app.yml as it was before this migration wrote it.
fn before(cx: &Cx) -> String {
    format!(
        "{}.before-{}",
        launcher(cx, Side::Destination).app_yml(),
        cx.plan.id
    )
}

impl StepKind for Discourse<'_> {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        let on = side(cx);
        let l = launcher(cx, on);
        match self.op {
            Op::AppYml { rename, .. } => {
                let (src, dst) = (launcher(cx, Side::Source), launcher(cx, Side::Destination));
                let f = sh_quote(&dst.app_yml());
                let kept = sh_quote(&before(cx));
                vec![
                    Planned::on("read", Side::Source, format!("cat -- {}", sh_quote(&src.app_yml()))),
                    Planned::on(
                        "read-destination",
                        Side::Destination,
                        format!("cat -- {kept} 2>/dev/null || cat -- {f} 2>/dev/null || true"),
                    ),
                    Planned::on(
                        "write",
                        Side::Destination,
                        format!(
                            "set -e; mkdir -p -- \"$(dirname -- {f})\"; t=$(mktemp \"$(dirname -- {f})/.app.yml.XXXXXX\"); chmod 600 \"$t\"; cat > \"$t\"; if [ -f {f} ] && [ ! -e {kept} ] && ! cmp -s \"$t\" {f}; then cp -p -- {f} {kept}; fi; mv -f -- \"$t\" {f}"
                        ),
                    )
                    .reading(match rename {
                        Some((old, new)) => format!(
                            "the source's app.yml with DISCOURSE_HOSTNAME and the LETSENCRYPT_ settings moved from {old} to {new} (its SMTP password and other secrets are never shown)"
                        ),
                        None => "the source's app.yml (its SMTP password and other secrets are never shown)".into(),
                    }),
                ]
            }
            Op::Readonly { on: true } => {
                vec![Planned::on("command", on, discourse(&l, "enable_readonly"))]
            }
            Op::Readonly { on: false } => {
                vec![Planned::on("command", on, discourse(&l, "disable_readonly"))]
            }
            Op::Backup => vec![Planned::on(
                "command",
                on,
                format!("{}{}", idle(&l), discourse(&l, "backup")),
            )],
            Op::CopyBackup => {
                let m = &cx.plan.migration;
                let (src, dst) = (launcher(cx, Side::Source), launcher(cx, Side::Destination));
                let sum = |l: &Launcher| {
                    format!(
                        "read -r f; cd -- {} && sha256sum -- \"$f\"",
                        sh_quote(&backups(l))
                    )
                };
                vec![
                    Planned::operator(
                        "copy",
                        format!(
                            "migrate copy {}:{} {}:{}",
                            m.source.host,
                            backups(&src),
                            m.destination.host,
                            backups(&dst)
                        ),
                    ),
                    Planned::on("sum-source", Side::Source, sum(&src))
                        .reading("the backup's file name"),
                    Planned::on("sum-destination", Side::Destination, sum(&dst))
                        .reading("the backup's file name"),
                ]
            }
            Op::EnableRestore => vec![Planned::on("command", on, discourse(&l, "enable_restore"))],
            Op::DisableRestore => {
                vec![Planned::on("command", on, discourse(&l, "disable_restore"))]
            }
            Op::Restore => vec![
                Planned::on(
                    "command",
                    on,
                    format!(
                        "read -r f; case \"$f\" in ''|*/*) echo 'no backup file name' >&2; exit 2;; esac; {}{}",
                        idle(&l),
                        l.exec("discourse restore \"$f\" </dev/null")
                    ),
                )
                .reading("the name of the backup the source's backup step made"),
            ],
            Op::EnableEmail => vec![
                Planned::on(
                    "read",
                    on,
                    l.psql("select value from site_settings where name = 'disable_emails'"),
                ),
                Planned::on(
                    "set",
                    on,
                    l.psql("update site_settings set value = 'no' where name = 'disable_emails'"),
                ),
            ],
            Op::Remap { old, new } => vec![Planned::on(
                "command",
                on,
                format!(
                    "printf 'YES\\n' | {}",
                    l.exec(&format!("discourse remap {} {}", sh_quote(old), sh_quote(new)))
                ),
            )],
            Op::Rebake { .. } => vec![Planned::on(
                "command",
                on,
                l.exec("rake posts:rebake </dev/null")
                    .replace("docker exec -i", "docker exec -i -w /var/www/discourse"),
            )],
            Op::ClearCaches => vec![Planned::on("command", on, l.cli("restart"))],
        }
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        let on = side(&x.cx);
        let fail = |what: &str, e: String| format!("{what} on the {}: {e}", x.cx.step.on.name());
        match self.op {
            Op::AppYml {
                rename,
                keep_version,
            } => {
                let text = x.run("read", "reading the source's app.yml")?;
                let keep = if *keep_version {
                    Some(x.run("read-destination", "reading the destination's app.yml")?)
                } else {
                    None
                };
                let keep = keep.filter(|k| !k.trim().is_empty());
                let out = rewrite_app_yml(&text, rename.as_ref(), keep.as_deref());
                x.run_with("write", "writing app.yml", Some(out.as_bytes()))?;
                let host = out
                    .lines()
                    .find_map(|l| l.trim_start().strip_prefix("DISCOURSE_HOSTNAME:"))
                    .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
                    .unwrap_or_default();
                Ok(Outcome::plain(format!(
                    "app.yml carried; DISCOURSE_HOSTNAME is {host}"
                )))
            }
            Op::Backup => {
                let out = x
                    .run("command", "discourse backup")
                    .map_err(|e| fail("discourse backup", e))?;
                let file = out
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("Output file is in:"))
                    .and_then(|p| p.trim().rsplit('/').next())
                    .filter(|f| f.ends_with(".tar.gz"))
                    .ok_or_else(|| {
                        format!(
                            "discourse backup did not name its file (\"Output file is in: …\"): {}",
                            tail(&out)
                        )
                    })?
                    .to_string();
                Ok(Outcome::new(format!("backup {file}"), &BackupFile { file }))
            }
            Op::CopyBackup => copy_backup(x),
            Op::Restore => {
                let file = backup_file(x)?;
                x.run_with(
                    "command",
                    "discourse restore",
                    Some(format!("{file}\n").as_bytes()),
                )
                .map_err(|e| fail("discourse restore", e))?;
                Ok(Outcome::plain(format!("restored {file}")))
            }
            Op::EnableEmail => {
                let before = x.run("read", "reading disable_emails")?.trim().to_string();
                x.run("set", "setting disable_emails to no")?;
                let was = if before.is_empty() {
                    "unset (Discourse's default, no)".to_string()
                } else {
                    format!("'{before}'")
                };
                eprintln!("        e-mail re-enabled: disable_emails was {was}, now 'no'");
                Ok(Outcome::new(
                    format!("e-mail re-enabled: disable_emails was {was}, now 'no'"),
                    &Email { before },
                ))
            }
            Op::Rebake { posts } => {
                let out = x
                    .run("command", "rake posts:rebake")
                    .map_err(|e| fail("rake posts:rebake", e))?;
                Ok(Outcome::plain(format!(
                    "{} ({posts} named the old domain)",
                    out.trim().lines().last().unwrap_or("rebaked")
                )))
            }
            Op::Readonly { .. }
            | Op::EnableRestore
            | Op::DisableRestore
            | Op::Remap { .. }
            | Op::ClearCaches => {
                let out = x
                    .run("command", &x.cx.step.id.clone())
                    .map_err(|e| fail(&x.cx.step.id, e))?;
                let _ = on;
                Ok(Outcome::plain(
                    out.trim().lines().last().unwrap_or("done").to_string(),
                ))
            }
        }
    }
}

fn backups(l: &Launcher) -> String {
    format!("{}/backups/default", l.shared())
}

/// The file the source's backup step made.
fn backup_file(x: &Exec) -> Result<String, String> {
    x.cx.journal()?
        .outcome::<BackupFile>("backup")
        .map(|b| b.file)
        .ok_or_else(|| {
            "the source's backup step has not recorded a file yet; rerun to take it".to_string()
        })
}

/// The source's backups/default into the destination's, by the copy crate
/// (server to server, resumable), then the one file compared by SHA-256.
fn copy_backup(x: &mut Exec) -> Result<Outcome, String> {
    x.planned("copy")?;
    let file = backup_file(x)?;
    let m = &x.cx.plan.migration;
    let loc = |host: &str, path: String| -> Result<Location, String> {
        Ok(Location {
            host: migrate_remote::HostSpec::parse(host).map_err(|e| e.to_string())?,
            path,
        })
    };
    let opts = migrate_copy::CopyOptions {
        src: loc(&m.source.host, backups(&launcher(&x.cx, Side::Source)))?,
        dst: loc(
            &m.destination.host,
            backups(&launcher(&x.cx, Side::Destination)),
        )?,
        final_pass: false,
        verify: false,
        verify_sent: false,
        streams: migrate_copy::link::Streams::Auto,
        compress: false,
        relay: false,
        detach: false,
        bwlimit: None,
        // The destination's backups directory holds its own backups,
        // which this copy adds to and never deletes.
        force: true,
        delete_without_backup: false,
        exclude: vec![],
    };
    super::copy::run_with_retries(&x.cx, &opts, "copy (backup)").map_err(|e| e.to_string())?;
    let stdin = format!("{file}\n");
    let a = x.run_with(
        "sum-source",
        "checksum of the backup",
        Some(stdin.as_bytes()),
    )?;
    let b = x.run_with(
        "sum-destination",
        "checksum of the backup",
        Some(stdin.as_bytes()),
    )?;
    let sum = |s: &str| s.split_whitespace().next().unwrap_or("").to_string();
    if sum(&a).is_empty() || sum(&a) != sum(&b) {
        return Err(format!(
            "the backup {file} differs after the copy (source {}, destination {}); rerun to copy it again",
            sum(&a),
            sum(&b)
        ));
    }
    Ok(Outcome::plain(format!(
        "{file} copied, SHA-256 {} on both sides",
        sum(&a)
    )))
}
