//! Build the plan from the recipe, the plugin and what the servers say:
//! the running version (the plugin's probes), the upgrade hops, data sizes,
//! free space on the destination. What cannot work is refused here, before
//! anything changes.

use migrate_remote::sh_quote;

use super::definition::Migration;
use super::layout::{DbEngine, DbShell, Project};
use super::plan::{
    Action, CheckKind, CheckSpec, Cmd, Facts, Phase, Plan, PlanStep, Risk, Where, human_bytes,
};
use super::sides::{Sides, json_field};
use crate::plugin::{self, LoadedPlugin, ProbeKind, Side, UpgradeRequest};
use crate::recipe::{Check, Engine, Recipe};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Understood and refused; `kind` is stable for scripts.
    #[error("refused ({kind}): {message}")]
    Refused { kind: &'static str, message: String },
    #[error("{0}")]
    Unreachable(String),
    #[error(transparent)]
    Plugin(#[from] plugin::PluginError),
    #[error("{0}")]
    Remote(String),
}

fn refused(kind: &'static str, message: impl Into<String>) -> BuildError {
    BuildError::Refused {
        kind,
        message: message.into(),
    }
}

fn remote(e: super::sides::SideError) -> BuildError {
    if e.is_unreachable() {
        BuildError::Unreachable(e.to_string())
    } else {
        BuildError::Remote(e.to_string())
    }
}

pub struct BuildOptions {
    pub force: bool,
}

/// The database name on a side: the migration file's mapping, else the recipe's.
pub fn db_name(mig: &Migration, side: Side, recipe_name: &str) -> String {
    mig.side(side)
        .databases
        .get(recipe_name)
        .cloned()
        .unwrap_or_else(|| recipe_name.to_string())
}

/// A compose side stops its app services with `compose stop` (leaving the
/// database and cache services up for the dump) and starts with `up -d`,
/// unless the migration names its own commands.
pub fn compose_defaults(mig: &mut Migration, recipe: &Recipe) {
    let data: Vec<&str> = recipe
        .databases
        .iter()
        .filter_map(|d| d.service.as_deref())
        .collect();
    for side in [&mut mig.source, &mut mig.destination] {
        let Some(c) = Project::of(side) else {
            continue;
        };
        let app: Vec<String> = recipe
            .services
            .iter()
            .filter(|s| !data.contains(&s.name.as_str()))
            .map(|s| super::layout::service_name(side, &s.name).to_string())
            .collect();
        if side.stop.is_none() && !app.is_empty() {
            side.stop = Some(c.stop(&app));
        }
        if side.start.is_none() {
            side.start = Some(c.up(&[]));
        }
    }
}

pub fn build(
    mig: &Migration,
    recipe: &Recipe,
    plugin: Option<&mut LoadedPlugin>,
    sides: &std::sync::Arc<Sides>,
    opts: &BuildOptions,
) -> Result<Plan, BuildError> {
    let mut mig = mig.clone();
    compose_defaults(&mut mig, recipe);
    let mig = &mig;
    let mut plugin = plugin;
    let ctx = super::context::of(mig, sides.mount.as_deref());
    super::planning::install_opt(plugin.as_deref_mut(), sides, ctx.clone());
    let mut facts = Facts::default();
    let mut notes = Vec::new();
    let databases = databases(recipe, plugin.as_deref(), &mut notes)?;
    let dbs: Vec<&crate::recipe::Database> = databases
        .iter()
        .filter(|d| matches!(d.engine, Engine::Postgresql | Engine::Mariadb))
        .collect();
    for d in &databases {
        match d.engine {
            Engine::Sqlite => notes.push(format!(
                "Database {:?} is SQLite: it is a file inside the copied tree and moves with it.",
                d.name
            )),
            Engine::Redis => notes.push(format!(
                "Redis {:?} holds caches and locks only; it starts empty on the destination.",
                d.name
            )),
            _ => {}
        }
    }

    preflight_tools(sides, &dbs)?;
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
    for d in &dbs {
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
    let holds = destination_holds_app(sides, mig, &dbs)?;
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

    // Version and upgrade path, through the plugin.
    let mut hop_steps = Vec::new();
    if let Some(p) = plugin.as_deref_mut() {
        let (detected, by) = detect_version(p, &ctx, sides, &mut notes)?;
        let v = match p.parse(&detected)? {
            Ok(v) => v,
            Err(r) => {
                return Err(refused(
                    "unknown-version",
                    format!("the source runs {detected:?} ({by}): {}", r.message),
                ));
            }
        };
        facts.detected_version = Some(v.raw.clone());
        facts.detected_display = Some(v.display.clone());
        facts.detected_by = Some(by);
        let target = mig.target_version.clone().unwrap_or_else(|| v.raw.clone());
        facts.target_version = Some(target.clone());
        let req = UpgradeRequest {
            from: v.raw.clone(),
            to: target.clone(),
            zero_downtime: false,
            facts: vec![
                (
                    "free-disk-bytes".into(),
                    facts.destination_free_bytes.to_string(),
                ),
                ("database-bytes".into(), facts.database_bytes.to_string()),
            ],
        };
        let up = match p.upgrade_path(&req)? {
            Ok(up) => up,
            Err(r) => {
                let mut message = format!(
                    "no upgrade path from {} to {target}: {}",
                    v.display, r.message
                );
                if !r.suggestions.is_empty() {
                    message.push_str(&format!(" (try: {})", r.suggestions.join(", ")));
                }
                return Err(refused(plugin::refusal_kind_name(r.kind), message));
            }
        };
        for pre in &up.preconditions {
            match pre.met {
                Some(false) => {
                    return Err(refused(
                        "precondition-failed",
                        format!("{}: {} ({})", pre.what, pre.requirement, pre.reason),
                    ));
                }
                Some(true) => {}
                None => notes.push(format!(
                    "Check by hand: {} needs {} ({}).",
                    pre.what, pre.requirement, pre.reason
                )),
            }
        }
        notes.extend(up.caveats.iter().cloned());
        for (i, hop) in up.hops.iter().enumerate() {
            facts.hops.push(format!("{} -> {}", hop.from, hop.to));
            notes.extend(
                hop.notes
                    .iter()
                    .map(|n| format!("{} -> {}: {n}", hop.from, hop.to)),
            );
            for s in &hop.steps {
                hop_steps.push(from_plugin_step(
                    s,
                    &format!("upgrade {} -> {}", hop.from, hop.to),
                    Some(i + 1),
                ));
            }
        }
    }

    let plugin: Option<&LoadedPlugin> = plugin.map(|p| &*p);
    let origin_plugin = plugin.map(|p| format!("plugin {}", p.id));
    let mut skipped = Vec::new();
    let mut plugin_steps = |steps: Vec<plugin::Step>| -> Vec<PlanStep> {
        let origin = origin_plugin.clone().unwrap_or_default();
        steps
            .iter()
            .filter_map(|s| {
                if mig.skip_steps.contains(&s.id) {
                    skipped.push((s.id.clone(), s.title.clone()));
                    None
                } else {
                    Some(from_plugin_step(s, &origin, None))
                }
            })
            .collect()
    };
    let (pre_copy, post_copy, clears) = match plugin {
        Some(p) => (
            plugin_steps(p.pre_copy(&ctx)?),
            plugin_steps(p.post_copy(&ctx)?),
            plugin_steps(p.cache_clears(&ctx)?),
        ),
        None => (vec![], vec![], vec![]),
    };
    hop_steps.retain(|s| {
        let base = s.id.split_once('-').map_or(s.id.as_str(), |(_, b)| b);
        if mig.skip_steps.iter().any(|k| k == base || *k == s.id) {
            skipped.push((s.id.clone(), s.title.clone()));
            false
        } else {
            true
        }
    });

    let m = |id: &str, phase, on, risk, title: String, action| PlanStep {
        id: id.to_string(),
        phase,
        on,
        title,
        risk,
        origin: "migrate".into(),
        action,
    };
    let mut steps = vec![
        m(
            "preflight",
            Phase::Check,
            Where::Both,
            Risk::ReadOnly,
            "Check both servers answer and have the tools the move needs".into(),
            Action::Preflight,
        ),
        m(
            "destination-free",
            Phase::Check,
            Where::Destination,
            if holds.is_some() {
                Risk::Destructive
            } else {
                Risk::ReadOnly
            },
            match &holds {
                Some(what) => format!(
                    "Move the destination's existing app aside ({what}): renamed with a .before-{} suffix, not deleted",
                    mig.id()
                ),
                None => format!("Check the destination holds no app at {dst_root} yet"),
            },
            Action::DestinationFree,
        ),
    ];
    if let (Some(c), Some(v)) = (Project::of(&mig.destination), &mig.destination.volume) {
        steps.push(m(
            "destination-volume",
            Phase::Prepare,
            Where::Destination,
            Risk::Reversible,
            format!(
                "Create the volume {} on the destination (labelled for {}) to receive the app's files",
                c.volume_name(v),
                c.describe()
            ),
            Action::CreateVolume {
                compose_dir: c.dir.clone(),
                project: c.project.clone(),
                volume: v.clone(),
                stack: c.stack,
            },
        ));
    }
    if let Some(p) = Project::of(&mig.destination).filter(|p| p.stack) {
        if let Some(from) = Project::of(&mig.source).filter(|p| p.stack) {
            steps.push(m(
                "destination-secrets",
                Phase::Prepare,
                Where::Both,
                Risk::Reversible,
                format!(
                    "Carry the swarm secrets of stack {:?} to the destination swarm under the same names (read inside the source's containers; values never shown), before the stack is deployed there",
                    from.project
                ),
                Action::StackSecrets {
                    from: from.project.clone(),
                    to: p.project.clone(),
                },
            ));
        }
        steps.push(match &mig.destination.deploy {
            Some(cmd) => m(
                "deploy-destination",
                Phase::Prepare,
                Where::Destination,
                Risk::Reversible,
                format!("Deploy stack {:?} on the destination (`{cmd}`)", p.project),
                Action::Deploy,
            ),
            None => m(
                "deploy-destination",
                Phase::Prepare,
                Where::Destination,
                Risk::Reversible,
                format!("Deploy stack {:?} on the destination", p.project),
                Action::Manual {
                    text: format!(
                        "Deploy the app on the destination now that its secrets are there: move its abra .env to the new server's directory (~/.abra/servers/<new server>/{}.env) and run `abra app deploy {}`.",
                        mig.domain, mig.domain
                    ),
                },
            ),
        });
        steps.push(m(
            "stop-destination",
            Phase::Prepare,
            Where::Destination,
            Risk::Reversible,
            "Scale the freshly deployed app's services to zero on the destination while its data comes in (the database keeps running)".into(),
            Action::StopDestination,
        ));
    }
    steps.extend([
        m(
            "backup",
            Phase::Prepare,
            Where::Source,
            Risk::ReadOnly,
            format!(
                "Back up the app's files and database on the source into {} (tar and dump, with SHA-256 sums)",
                mig.backup_dir()
            ),
            Action::Backup,
        ),
        m(
            "baseline",
            Phase::Prepare,
            Where::Source,
            Risk::ReadOnly,
            format!(
                "Run the test plan against the source through {} as the baseline",
                mig.domain
            ),
            Action::Baseline,
        ),
        m(
            "pre-sync",
            Phase::Sync,
            Where::Both,
            Risk::Reversible,
            format!(
                "Copy {} ({} files) to the destination while the app stays up",
                human_bytes(facts.source_bytes),
                facts.source_files
            ),
            Action::Copy { final_pass: false },
        ),
        m(
            "pre-sync-delta",
            Phase::Sync,
            Where::Both,
            Risk::Reversible,
            "Copy what changed meanwhile, measuring the delta rate to predict the downtime".into(),
            Action::Copy { final_pass: false },
        ),
    ]);
    // Phases are sorted below, so this lands right after the baseline.
    if mig.dns.is_some() {
        steps.push(m(
            "dns-lower",
            Phase::Prepare,
            Where::Operator,
            Risk::Reversible,
            format!(
                "Lower the TTLs of {} so the switch spreads quickly; the cutover waits until the old TTL has expired everywhere",
                mig.domain
            ),
            Action::DnsLower,
        ));
    }
    steps.extend(pre_copy);
    steps.push(match &mig.source.stop {
        Some(_) => m(
            "stop-source",
            Phase::Cutover,
            Where::Source,
            Risk::Reversible,
            "Stop the app on the source (the downtime starts; the database stays up for the dump)".into(),
            Action::StopApp,
        ),
        None => m(
            "stop-source",
            Phase::Cutover,
            Where::Source,
            Risk::Reversible,
            "Stop the app on the source (no stop command configured: do it by hand)".into(),
            Action::Manual {
                text: "Stop the app's web server and workers on the source; keep its database running.".into(),
            },
        ),
    });
    steps.push(m(
        "final-sync",
        Phase::Cutover,
        Where::Both,
        Risk::Reversible,
        "Copy the final delta, deleting on the destination what the source deleted, and verify the trees are identical".into(),
        Action::Copy { final_pass: true },
    ));
    for d in &dbs {
        let engine = match d.engine {
            Engine::Postgresql => "postgresql",
            _ => "mariadb",
        };
        let (s, t) = (
            db_name(mig, Side::Source, &d.name),
            db_name(mig, Side::Destination, &d.name),
        );
        steps.push(m(
            &format!("database-{}", d.name),
            Phase::Cutover,
            Where::Both,
            Risk::Destructive,
            format!(
                "Pipe a dump of the {engine} database {s} on the source into a fresh database {t} on the destination, then compare row counts"
            ),
            Action::Database {
                engine: engine.into(),
                source_name: s,
                destination_name: t,
                owner: d.user.clone(),
                service: d.service.clone(),
            },
        ));
    }
    let (cut, fin): (Vec<_>, Vec<_>) = post_copy
        .into_iter()
        .partition(|s| s.phase <= Phase::Cutover);
    // Config first, then the new code, then the app's own commands: the
    // carried keys must be in place before an upgrade hop runs (occ
    // upgrade reads config.php), and commands such as "maintenance mode
    // off" or "precompile assets" belong to the upgraded code.
    let (carries, commands): (Vec<_>, Vec<_>) = cut
        .into_iter()
        .partition(|s| matches!(s.action, Action::Carry { .. }));
    steps.extend(carries);
    steps.extend(hop_steps);
    steps.extend(commands);
    steps.push(match &mig.destination.start {
        Some(_) => m(
            "start-destination",
            Phase::Cutover,
            Where::Destination,
            Risk::Reversible,
            "Start the app on the destination".into(),
            Action::StartApp,
        ),
        None => m(
            "start-destination",
            Phase::Cutover,
            Where::Destination,
            Risk::Reversible,
            "Start the app on the destination (no start command configured: do it by hand)".into(),
            Action::Manual {
                text: "Start the app's web server and workers on the destination.".into(),
            },
        ),
    });
    steps.push(m(
        "test-destination",
        Phase::Cutover,
        Where::Destination,
        Risk::ReadOnly,
        format!(
            "Run the test plan against the destination through {} (connecting to the new address with the real Host header) and diff it with the baseline; the downtime ends here",
            mig.domain
        ),
        Action::TestPlan,
    ));
    if mig.dns.is_some() {
        steps.push(m(
            "dns-cutover",
            Phase::Cutover,
            Where::Operator,
            Risk::Reversible,
            format!(
                "Point {} at the destination (the point of no return: users reach the new server from here)",
                mig.domain
            ),
            Action::DnsCutover,
        ));
        steps.push(m(
            "test-after-dns",
            Phase::Finish,
            Where::Destination,
            Risk::ReadOnly,
            "Run the test plan against the destination again now that DNS points to it".into(),
            Action::TestPlan,
        ));
    }
    steps.extend(fin);
    steps.extend(clears);
    if mig.dns.is_some() {
        steps.push(m(
            "dns-restore",
            Phase::Finish,
            Where::Operator,
            Risk::Reversible,
            "Restore the original TTLs".into(),
            Action::DnsRestore,
        ));
    }
    // Later phases may come from hops or plugins in any order; phases run in
    // order, steps within a phase keep the order above.
    steps.sort_by_key(|s| s.phase);
    dedupe_ids(&mut steps);

    let mut checks = recipe_checks(recipe, mig, &mut notes);
    if let Some(p) = plugin {
        checks.extend(plugin_checks(
            &p.smoke_checks(&ctx)?,
            &format!("plugin {}", p.id),
        ));
    }
    let mut follow_ups = recipe.follow_ups.clone();
    if let Some(p) = plugin {
        for f in p.manual_follow_ups()? {
            if !follow_ups.contains(&f) {
                follow_ups.push(f);
            }
        }
    }
    Ok(Plan {
        id: mig.id(),
        migration: mig.clone(),
        app_name: recipe.app.name.clone(),
        facts,
        steps,
        skipped,
        notes,
        checks,
        follow_ups,
    })
}

/// The recipe's databases, with the engine the plugin read on the source
/// where it could: an app may run on either (Nextcloud: config.php's
/// dbtype), and moving a MariaDB database with PostgreSQL's tools cannot
/// work.
fn databases(
    recipe: &Recipe,
    plugin: Option<&LoadedPlugin>,
    notes: &mut Vec<String>,
) -> Result<Vec<crate::recipe::Database>, BuildError> {
    let mut dbs = recipe.databases.clone();
    let Some(p) = plugin else {
        return Ok(dbs);
    };
    for item in p.data_layout()? {
        if item.kind != plugin::DataKind::Database {
            continue;
        }
        let engine = match item.engine {
            plugin::DbEngine::Postgresql => Engine::Postgresql,
            plugin::DbEngine::Mariadb => Engine::Mariadb,
            plugin::DbEngine::Sqlite => Engine::Sqlite,
            plugin::DbEngine::Redis => Engine::Redis,
            plugin::DbEngine::None => continue,
        };
        if let Some(d) = dbs.iter_mut().find(|d| d.name == item.location)
            && d.engine != engine
        {
            notes.push(format!(
                "Database {:?} runs on {engine:?} at the source (plugin {} read it), not on the recipe's usual {:?}.",
                d.name, p.id, d.engine
            ));
            d.engine = engine;
        }
    }
    Ok(dbs)
}

fn dedupe_ids(steps: &mut [PlanStep]) {
    let mut seen = std::collections::HashSet::new();
    for s in steps.iter_mut() {
        let mut id = s.id.clone();
        let mut n = 2;
        while !seen.insert(id.clone()) {
            id = format!("{}-{n}", s.id);
            n += 1;
        }
        s.id = id;
    }
}

fn cmd_of(c: &plugin::Command) -> Cmd {
    Cmd {
        service: c.service.clone(),
        argv: c.argv.clone(),
        env: c.env.clone(),
        user: c.user.clone(),
        workdir: c.workdir.clone(),
    }
}

fn from_plugin_step(s: &plugin::Step, origin: &str, hop: Option<usize>) -> PlanStep {
    let (on, action) = match &s.action {
        plugin::Action::Exec(c) => (Where::from_side(c.side), Action::Exec(cmd_of(c))),
        plugin::Action::Carry(c) => (
            Where::Destination,
            Action::Carry {
                file: c.file.clone(),
                key: c.key.clone(),
                reason: c.reason.clone(),
                secret: c.secret,
            },
        ),
        plugin::Action::Http(h) => (
            Where::Destination,
            Action::Http {
                path: h.path.clone(),
                expect_status: h.expect_status,
                body_contains: h.body_contains.clone(),
                json_field: h.json_field.clone(),
                headers: h.headers.clone(),
            },
        ),
        plugin::Action::Tcp(t) => (
            Where::Destination,
            Action::Tcp {
                port: t.port,
                banner_prefix: t.banner_prefix.clone(),
            },
        ),
        plugin::Action::Manual(text) => (Where::Operator, Action::Manual { text: text.clone() }),
    };
    PlanStep {
        id: match hop {
            Some(n) => format!("hop{n}-{}", s.id),
            None => s.id.clone(),
        },
        phase: Phase::from_plugin(s.phase),
        on,
        title: s.title.clone(),
        risk: Risk::from_plugin(s.risk),
        origin: origin.to_string(),
        action,
    }
}

fn recipe_checks(recipe: &Recipe, mig: &Migration, notes: &mut Vec<String>) -> Vec<CheckSpec> {
    let origin = format!("recipe {}", recipe.app.id);
    let cmd = |argv: &[String], service: &Option<String>| Cmd {
        service: service.clone(),
        argv: argv.to_vec(),
        env: vec![],
        user: None,
        workdir: None,
    };
    recipe
        .checks
        .iter()
        .filter_map(|c| {
            let (id, title, kind) = match c {
                Check::Http {
                    id,
                    path,
                    status,
                    contains,
                    json,
                } => (
                    id,
                    format!("GET {path} answers {status}{}", match json {
                        Some((f, v)) => format!(" with {f} = {v}"),
                        None => String::new(),
                    }),
                    CheckKind::Http {
                        path: path.clone(),
                        status: *status,
                        contains: contains.clone(),
                        json: json.clone(),
                        headers: vec![],
                    },
                ),
                Check::Tcp { id, port, banner, .. } => (
                    id,
                    format!("port {port} answers"),
                    CheckKind::Tcp {
                        port: *port,
                        banner: banner.clone(),
                    },
                ),
                Check::Command { id, argv, service } => (
                    id,
                    format!("`{}` exits 0", argv.join(" ")),
                    CheckKind::Command(cmd(argv, service)),
                ),
                Check::Count { id, argv, service } => (
                    id,
                    "the same count on both sides".to_string(),
                    CheckKind::Count(cmd(argv, service)),
                ),
                // Asked only of the servers this migration names: without
                // them there is no one to ask but the system's resolver,
                // whose caches say nothing about the move.
                Check::Dns { id, name, rtype } if mig.dns.is_some() => {
                    let fqdn = super::checks::dns_name(name, &mig.domain);
                    (
                        id,
                        format!("{fqdn} {rtype} answers alike on every authoritative server"),
                        CheckKind::Dns {
                            name: fqdn,
                            rtype: rtype.to_uppercase(),
                        },
                    )
                }
                Check::Dns { id, name, .. } => {
                    notes.push(format!(
                        "Recipe check {id:?} ({name}) is a DNS check; it runs when the migration has a [dns] section naming the authoritative servers."
                    ));
                    return None;
                }
            };
            Some(CheckSpec {
                id: id.clone(),
                title,
                origin: origin.clone(),
                kind,
            })
        })
        .collect()
}

fn plugin_checks(checks: &[plugin::SmokeCheck], origin: &str) -> Vec<CheckSpec> {
    checks
        .iter()
        .filter_map(|c| {
            let kind = match &c.action {
                plugin::Action::Http(h) => CheckKind::Http {
                    path: h.path.clone(),
                    status: h.expect_status,
                    contains: h.body_contains.clone(),
                    json: h.json_field.clone(),
                    headers: h.headers.clone(),
                },
                plugin::Action::Tcp(t) => CheckKind::Tcp {
                    port: t.port,
                    banner: t.banner_prefix.clone(),
                },
                plugin::Action::Exec(cmd) => CheckKind::Command(cmd_of(cmd)),
                _ => return None,
            };
            Some(CheckSpec {
                id: c.id.clone(),
                title: c.title.clone(),
                origin: origin.to_string(),
                kind,
            })
        })
        .collect()
}

/// Run the plugin's probes in order; the first that answers wins.
/// The version and how it was read; probes that failed before the one that
/// answered go into `notes` (a broken HTTPS front is worth knowing about
/// even when version.php answered instead).
fn detect_version(
    p: &LoadedPlugin,
    ctx: &plugin::Context,
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
            ProbeKind::FilePattern((file, pattern)) => {
                let path = sides.map_path(probe.side, file);
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
            }
            ProbeKind::ImageTag(service) | ProbeKind::DockerLabel((service, _)) => {
                let def = sides.def(probe.side);
                match Project::of(def) {
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

pub fn preflight_tools(sides: &Sides, dbs: &[&crate::recipe::Database]) -> Result<(), BuildError> {
    let compose = |side| Project::of(sides.def(side)).is_some();
    let mut src = vec![
        ("tar", "tar"),
        ("sha256sum", "coreutils"),
        ("perl", "perl-base"),
        ("flock", "util-linux"),
    ];
    let mut dst = vec![("tar", "tar")];
    for (side, tools) in [(Side::Source, &mut src), (Side::Destination, &mut dst)] {
        if compose(side) {
            // The database clients are the containers' own.
            tools.push(("docker", "docker.io"));
            continue;
        }
        for d in dbs {
            match (d.engine, side) {
                (Engine::Postgresql, Side::Source) => tools.push(("pg_dump", "postgresql-client")),
                (Engine::Postgresql, Side::Destination) => {
                    tools.push(("psql", "postgresql-client"))
                }
                (_, Side::Source) => tools.push(("mysqldump", "mariadb-client")),
                (_, Side::Destination) => tools.push(("mysql", "mariadb-client")),
            }
        }
    }
    for (side, tools) in [(Side::Source, src), (Side::Destination, dst)] {
        let mut script: String = tools
            .iter()
            .map(|(t, _)| format!("command -v {t} >/dev/null 2>&1 || echo {t}; "))
            .collect();
        match Project::of(sides.def(side)) {
            Some(p) if p.stack => script.push_str(
                "[ \"$(docker info -f '{{.Swarm.LocalNodeState}}' 2>/dev/null)\" = active ] || echo swarm; ",
            ),
            Some(_) => script.push_str(
                "docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || echo docker-compose; ",
            ),
            None => {}
        }
        let out = sides
            .sh(side, "looking for tools", &script)
            .map_err(remote)?;
        if out.split_whitespace().next() == Some("swarm") {
            return Err(refused(
                "missing-tool",
                format!(
                    "the {} ({}) is not a docker swarm manager, which a stack needs; run `docker swarm init` there (abra's `server add` does) and plan again",
                    super::sides::side_word(side),
                    sides.host(side).name()
                ),
            ));
        }
        if let Some(missing) = out.split_whitespace().next() {
            let pkg = tools
                .iter()
                .find(|(t, _)| *t == missing)
                .map_or("docker-compose", |(_, p)| *p);
            return Err(refused(
                "missing-tool",
                format!(
                    "the {} ({}) has no `{missing}`; install it (apt-get install {pkg}) and plan again",
                    super::sides::side_word(side),
                    sides.host(side).name()
                ),
            ));
        }
    }
    Ok(())
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
    let sql = match engine {
        Engine::Postgresql => format!("select pg_database_size('{}')", name.replace('\'', "''")),
        _ => format!(
            "select coalesce(sum(data_length+index_length),0) from information_schema.tables where table_schema='{}'",
            name.replace('\'', "''")
        ),
    };
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

pub fn database_exists(
    sides: &Sides,
    side: Side,
    engine: &str,
    service: Option<&str>,
    name: &str,
) -> Result<bool, BuildError> {
    let engine = if engine == "postgresql" {
        Engine::Postgresql
    } else {
        Engine::Mariadb
    };
    let sql = match engine {
        Engine::Postgresql => format!(
            "select 1 from pg_database where datname='{}'",
            name.replace('\'', "''")
        ),
        _ => format!(
            "select 1 from information_schema.schemata where schema_name='{}'",
            name.replace('\'', "''")
        ),
    };
    let out = sides
        .sh(
            side,
            "looking for a database",
            &psql_script(sides, side, engine, service, &sql),
        )
        .map_err(remote)?;
    Ok(out.trim() == "1")
}

/// A compose project's containers on a side (any state), if it has any.
pub fn compose_containers(sides: &Sides, side: Side) -> Result<Option<String>, BuildError> {
    let Some(c) = Project::of(sides.def(side)) else {
        return Ok(None);
    };
    let out = sides
        .sh(
            side,
            "looking for the app's containers",
            &format!("docker ps -aq {} | wc -l", c.filter()),
        )
        .map_err(remote)?;
    let n: u64 = out.trim().parse().unwrap_or(0);
    Ok((n > 0).then(|| format!("{} has {n} container(s)", c.describe())))
}

/// A stack destination is deployed fresh (by abra) before the data comes
/// in, so its files are the image's and its database is empty: it holds
/// the app once that database has tables.
pub fn stack_destination_holds(
    sides: &Sides,
    mig: &Migration,
    dbs: &[&crate::recipe::Database],
) -> Result<Option<String>, BuildError> {
    if compose_containers(sides, Side::Destination)?.is_none() {
        return Ok(None);
    }
    for d in dbs {
        let Some(engine) = DbEngine::parse(match d.engine {
            Engine::Postgresql => "postgresql",
            _ => "mariadb",
        }) else {
            continue;
        };
        let name = db_name(mig, Side::Destination, &d.name);
        let sh = DbShell::for_engine(engine, &mig.destination, d.service.as_deref());
        let sql = match engine {
            DbEngine::Postgresql => format!(
                "select case when exists (select 1 from pg_database where datname = '{n}') then 1 else 0 end",
                n = name.replace('\'', "''")
            ),
            DbEngine::Mariadb => format!(
                "select count(*) from information_schema.tables where table_schema = '{n}'",
                n = name.replace('\'', "''")
            ),
        };
        let out = sides
            .sh(
                Side::Destination,
                "looking at the destination's database",
                &sh.sql(None, &sql),
            )
            .map_err(remote)?;
        let mut tables: u64 = out.trim().parse().unwrap_or(0);
        if engine == DbEngine::Postgresql && tables > 0 {
            let out = sides
                .sh(
                    Side::Destination,
                    "looking at the destination's database",
                    &sh.sql(
                        Some(&name),
                        "select count(*) from information_schema.tables where table_schema not in ('pg_catalog','information_schema')",
                    ),
                )
                .map_err(remote)?;
            tables = out.trim().parse().unwrap_or(0);
        }
        if tables > 0 {
            return Ok(Some(format!(
                "database {name} in the destination's stack has {tables} tables"
            )));
        }
    }
    Ok(None)
}

fn destination_holds_app(
    sides: &Sides,
    mig: &Migration,
    dbs: &[&crate::recipe::Database],
) -> Result<Option<String>, BuildError> {
    if Project::of(&mig.destination).is_some_and(|p| p.stack) {
        return stack_destination_holds(sides, mig, dbs);
    }
    let root = &mig.destination.root;
    let out = sides
        .sh(
            Side::Destination,
            "looking at the destination",
            &format!(
                "if [ -d {r} ]; then ls -A {r} | head -n 1; fi",
                r = sh_quote(root)
            ),
        )
        .map_err(remote)?;
    if !out.trim().is_empty() {
        return Ok(Some(format!("{root} is not empty")));
    }
    if Project::of(&mig.destination).is_some() {
        // Its databases live in its containers: none, no databases.
        return compose_containers(sides, Side::Destination);
    }
    for d in dbs {
        let name = db_name(mig, Side::Destination, &d.name);
        let engine = if d.engine == Engine::Postgresql {
            "postgresql"
        } else {
            "mariadb"
        };
        if database_exists(
            sides,
            Side::Destination,
            engine,
            d.service.as_deref(),
            &name,
        )? {
            return Ok(Some(format!("database {name} exists")));
        }
    }
    Ok(None)
}
