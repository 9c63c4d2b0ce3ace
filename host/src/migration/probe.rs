//! What the servers say before a plan is made: the tools are there, the
//! app's size and its databases' sizes, the destination's free space and
//! whether it already holds the app, the zone's TTLs, and the version the
//! source runs (through the plugin's probes). What cannot work is refused
//! here, before anything changes.

use migrate_remote::sh_quote;

use super::assemble::Probed;
use super::builder::{BuildError, BuildOptions, db_name, refused, remote};
use super::definition::Migration;
use super::layout::{DbEngine, DbShell};
use super::plan::{Facts, human_bytes};
use super::sides::{Sides, json_field};
use crate::plugin::{LoadedPlugin, ProbeKind, Side};
use crate::recipe::{Database, Engine};

/// Probe both servers for the plan.
pub fn servers(
    sides: &Sides,
    mig: &Migration,
    dbs: &[&Database],
    opts: &BuildOptions,
) -> Result<Probed, BuildError> {
    let mut facts = Facts::default();
    super::steps::preflight::check(sides, dbs).map_err(|e| match e {
        super::steps::preflight::PreflightError::Missing(m) => refused("missing-tool", m),
        super::steps::preflight::PreflightError::Remote(e) => remote(e),
    })?;
    let src_root = &mig.source.root;
    let dst_root = &mig.destination.root;

    // Sizes and space.
    let out = sides
        .sh(
            Side::Source,
            "measuring the app",
            &format!(
                "test -d {r} || {{ echo 'no such directory' >&2; exit 3; }}; du -sb {r} | cut -f1; find {r} -type f | wc -l",
                r = sh_quote(src_root)
            ),
        )
        .map_err(|e| {
            refused(
                "source-missing",
                format!("the app's directory {src_root} cannot be read on the source: {e}"),
            )
        })?;
    let mut nums = out
        .split_whitespace()
        .map(|n| n.parse::<u64>().unwrap_or(0));
    facts.source_bytes = nums.next().unwrap_or(0);
    facts.source_files = nums.next().unwrap_or(0);
    for d in dbs {
        facts.database_bytes += database_bytes(
            sides,
            d.engine,
            d.service.as_deref(),
            &db_name(mig, Side::Source, &d.name),
        )?;
    }
    let free = sides
        .sh(
            Side::Destination,
            "free space",
            &format!(
                "p={}; while [ ! -e \"$p\" ]; do p=$(dirname \"$p\"); done; df -PB1 \"$p\" | awk 'NR==2 {{print $4}}'",
                sh_quote(dst_root)
            ),
        )
        .map_err(remote)?;
    facts.destination_free_bytes = free.trim().parse().unwrap_or(0);
    // The tree plus the restored database, with 10% headroom for the
    // database's indexes and WAL while it loads.
    let need = facts.source_bytes
        + facts.database_bytes
        + (facts.source_bytes + facts.database_bytes) / 10;
    if facts.destination_free_bytes < need {
        return Err(refused(
            "no-space",
            format!(
                "the destination has {} free where {dst_root} goes, the app needs about {} ({} of files and {} of database, plus 10%); free space or choose another directory",
                human_bytes(facts.destination_free_bytes),
                human_bytes(need),
                human_bytes(facts.source_bytes),
                human_bytes(facts.database_bytes)
            ),
        ));
    }

    // The destination must not hold the app already.
    let holds = destination_holds_app(sides, mig, dbs)?;
    if let Some(what) = &holds
        && !opts.force
    {
        return Err(refused(
            "destination-not-empty",
            format!(
                "the destination already holds the app ({what}); nothing was changed. Rerun with --force to move it aside (renamed, not deleted) and migrate over it"
            ),
        ));
    }

    // DNS: read the zone now so the plan shows the TTLs it will change.
    if let Some(d) = &mig.dns {
        let dns = super::dns::dns(d).map_err(|e| refused("dns", format!("DNS: {e}")))?;
        let req =
            super::dns::request(&mig.domain, d).map_err(|e| refused("dns", format!("DNS: {e}")))?;
        let p = sides
            .rt
            .block_on(dns.plan(&req, None))
            .map_err(|e| refused("dns", format!("DNS for {}: {e}", mig.domain)))?;
        facts.dns = super::dns::ttl_lines(&p);
    }

    Ok(Probed { facts, holds })
}

/// Run the plugin's probes in order; the first that answers wins.
/// The version and how it was read; probes that failed before the one that
/// answered go into `notes` (a broken HTTPS front is worth knowing about
/// even when version.php answered instead).
pub fn detect_version(
    p: &LoadedPlugin,
    ctx: &crate::plugin::Context,
    sides: &Sides,
    notes: &mut Vec<String>,
) -> Result<(String, String), BuildError> {
    let mut tried = Vec::new();
    for probe in p.probes(ctx)? {
        let raw = match &probe.kind {
            ProbeKind::HttpJson((path, field)) => sides
                .http_get(probe.side, path, &[])
                .map_err(|e| e.to_string())
                .and_then(|(status, body)| {
                    if status != 200 {
                        return Err(format!("GET {path} answered {status}"));
                    }
                    json_field(&body, field).ok_or_else(|| format!("no {field:?} in {path}"))
                }),
            // The plugin names the file: it is confined as its read-file
            // calls are (planning.rs), or a probe could print any file's
            // first match into the plan.
            ProbeKind::FilePattern((file, pattern)) => {
                super::planning::confine(sides, probe.side, file, "the version probe of").and_then(
                    |path| {
                        // perl is Essential in Debian and speaks the same regex
                        // dialect as the plugins' patterns.
                        sides
                    .sh(
                        probe.side,
                        "reading a version file",
                        &format!(
                            "P={} perl -ne 'if (/$ENV{{P}}/) {{ print \"$1\\n\"; exit }}' -- {}",
                            sh_quote(pattern),
                            sh_quote(&path)
                        ),
                    )
                    .map_err(|e| e.to_string())
                    .and_then(|out| {
                        let v = out.trim().to_string();
                        if v.is_empty() {
                            Err(format!("{path} has no match for the version pattern"))
                        } else {
                            Ok(v)
                        }
                    })
                    },
                )
            }
            ProbeKind::ImageTag(service) | ProbeKind::DockerLabel((service, _)) => {
                let def = sides.def(probe.side);
                match sides.layout(probe.side).project() {
                    None => Err(format!(
                        "service {service:?} is not a container in a plain-directory install"
                    )),
                    Some(c) => {
                        let format = match &probe.kind {
                            ProbeKind::DockerLabel((_, label)) => {
                                format!("{{{{index .Config.Labels {label:?}}}}}")
                            }
                            _ => "{{.Config.Image}}".to_string(),
                        };
                        let name = super::layout::service_name(def, service);
                        let command = match &probe.kind {
                            // abra writes its version label into the
                            // stack's deploy labels, which swarm keeps on
                            // the service, not on its containers.
                            ProbeKind::DockerLabel((_, label)) if c.stack => format!(
                                "docker service inspect -f {} {}",
                                sh_quote(&format!("{{{{index .Spec.Labels {label:?}}}}}")),
                                sh_quote(&c.swarm_service(name))
                            ),
                            _ => c.inspect_service(name, &format),
                        };
                        sides
                            .sh(probe.side, "reading a container's image", &command)
                            .map_err(|e| e.to_string())
                            .and_then(|out| {
                                let v = out.trim().to_string();
                                if v.is_empty() || v == "<no value>" {
                                    Err(format!("service {service:?} has no running container"))
                                } else {
                                    Ok(v)
                                }
                            })
                    }
                }
            }
        };
        match raw {
            Ok(raw) => match p.parse_probe(&probe.id, &raw)? {
                Ok(v) => {
                    notes.extend(
                        tried
                            .iter()
                            .map(|t| format!("Version probe {t} (another probe answered).")),
                    );
                    return Ok((v, format!("probe {} read {raw:?}", probe.id)));
                }
                Err(r) => tried.push(format!("{}: {}", probe.id, r.message)),
            },
            Err(e) => tried.push(format!("{}: {e}", probe.id)),
        }
    }
    Err(refused(
        "version-unknown",
        format!(
            "could not detect the version the source runs ({}); check the source's http address and root",
            tried.join("; ")
        ),
    ))
}

fn psql_script(
    sides: &Sides,
    side: Side,
    engine: Engine,
    service: Option<&str>,
    sql: &str,
) -> String {
    match engine {
        Engine::Postgresql => DbShell::new(sides.def(side), service).sql(None, sql),
        _ => DbShell::for_engine(DbEngine::Mariadb, sides.def(side), service).sql(None, sql),
    }
}

fn database_bytes(
    sides: &Sides,
    engine: Engine,
    service: Option<&str>,
    name: &str,
) -> Result<u64, BuildError> {
    let sql = migrate_db::statements::size(
        match engine {
            Engine::Postgresql => DbEngine::Postgresql,
            _ => DbEngine::Mariadb,
        },
        name,
    );
    let out = sides
        .sh(
            Side::Source,
            "database size",
            &psql_script(sides, Side::Source, engine, service, &sql),
        )
        .map_err(|e| {
            refused(
                "database-missing",
                format!("the source database {name:?} cannot be read: {e}"),
            )
        })?;
    Ok(out.trim().parse().unwrap_or(0))
}

/// What the destination already holds of the app, looked at over ssh with
/// the destination-free step's own scripts.
fn destination_holds_app(
    sides: &Sides,
    mig: &Migration,
    dbs: &[&crate::recipe::Database],
) -> Result<Option<String>, BuildError> {
    let mut unreachable = None;
    let held = super::steps::destination_free::holds(mig, dbs, &mut |p| {
        sides
            .sh(Side::Destination, "looking at the destination", &p.script)
            .map_err(|e| {
                if e.is_unreachable() {
                    unreachable = Some(e.to_string());
                }
                e.to_string()
            })
    });
    match (held, unreachable) {
        (_, Some(u)) => Err(BuildError::Unreachable(u)),
        (Ok(h), None) => Ok(h),
        (Err(e), None) => Err(BuildError::Remote(e)),
    }
}
