//! The plan from what is known, with no I/O: the migration definition,
//! the recipe, the probed facts and the plugin's answers go in, the ordered
//! steps come out. Step order for every layout is tested here, without
//! servers.

use super::builder::db_name;
use super::definition::Migration;
use super::layout::Layout;
use super::plan::{
    Action, CheckKind, CheckSpec, Cmd, Facts, Phase, Plan, PlanStep, Risk, Where, human_bytes,
};
use crate::plugin::Side;
use crate::recipe::{Check, Database, Engine, Recipe};

/// What the probes found on the servers.
#[derive(Debug, Clone, Default)]
pub struct Probed {
    pub facts: Facts,
    /// What the destination already holds of the app (planned with --force).
    pub holds: Option<String>,
}

/// The plugin's answers, already in the plan's terms.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    /// The upgrade hops' steps, ids prefixed `hopN-`.
    pub hop_steps: Vec<PlanStep>,
    pub pre_copy: Vec<PlanStep>,
    pub post_copy: Vec<PlanStep>,
    pub clears: Vec<PlanStep>,
    pub checks: Vec<CheckSpec>,
    pub follow_ups: Vec<String>,
}

/// The plan. `mig` already carries what its layout implies
/// ([`compose_defaults`](super::builder::compose_defaults)); `dbs` are the
/// databases moved by dump and load; `notes` are the plan's notes so far.
pub fn assemble(
    mig: &Migration,
    recipe: &Recipe,
    dbs: &[&Database],
    probed: Probed,
    answers: Answers,
    mut notes: Vec<String>,
) -> Plan {
    let Probed { facts, holds } = probed;
    let dst_root = &mig.destination.root;
    let mut skipped = Vec::new();
    let mut keep = |steps: Vec<PlanStep>| -> Vec<PlanStep> {
        steps
            .into_iter()
            .filter(|s| {
                if mig.skip_steps.contains(&s.id) {
                    skipped.push((s.id.clone(), s.title.clone()));
                    false
                } else {
                    true
                }
            })
            .collect()
    };
    let (pre_copy, post_copy, clears) = (
        keep(answers.pre_copy),
        keep(answers.post_copy),
        keep(answers.clears),
    );
    let mut hop_steps = answers.hop_steps;
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
    if let Some(o) = &facts.object_storage {
        notes.push(format!(
            "Media stay in object storage at {}; public/system is not copied.",
            o.place
        ));
        if let Some(url) = &o.probe_url {
            steps.push(m(
                "object-storage",
                Phase::Check,
                Where::Destination,
                Risk::ReadOnly,
                format!(
                    "Check the destination reaches the media in object storage at {}: HEAD of one object the source's database names (public-read, no credentials)",
                    o.place
                ),
                Action::ObjectStorage {
                    place: o.place.clone(),
                    url: url.clone(),
                },
            ));
        }
    }
    let (src_layout, dst_layout) = (Layout::of(&mig.source), Layout::of(&mig.destination));
    if let (Some(c), Some(v)) = (dst_layout.project(), &mig.destination.volume) {
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
    if let Layout::Stack(p) = &dst_layout {
        if let Layout::Stack(from) = &src_layout {
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
                "Back up the app's files and database on the source into {} (tar and dump, with SHA-256 sums; about {}, refused before anything is written if the disk there has less free than that plus 10 %)",
                mig.backup_dir(),
                human_bytes(facts.source_bytes + facts.database_bytes)
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
            Action::Copy {
                final_pass: false,
                rehearse: false,
            },
        ),
        m(
            "pre-sync-delta",
            Phase::Sync,
            Where::Both,
            Risk::Reversible,
            "Copy what changed meanwhile, measuring the delta rate to predict the downtime".into(),
            Action::Copy {
                final_pass: false,
                rehearse: true,
            },
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
        "Copy the final delta, deleting on the destination what the source deleted, and hash what it sent on both servers".into(),
        Action::Copy {
            final_pass: true,
            rehearse: false,
        },
    ));
    for d in dbs {
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
                source_name: s.clone(),
                destination_name: t.clone(),
                owner: d.user.clone(),
                service: d.service.clone(),
                rehearsal: false,
            },
        ));
        // A PostgreSQL database on the destination host itself (not in a
        // container the window starts), small
        // enough to load twice, is rehearsed while the app still runs: the
        // downtime prediction then uses the real pipe's time.
        let id = format!("rehearse-database-{}", d.name);
        if d.engine == Engine::Postgresql
            && dst_layout == Layout::Directory
            && facts.database_bytes <= REHEARSAL_MAX_BYTES
            && !mig
                .skip_steps
                .iter()
                .any(|k| *k == id || k == "rehearse-database")
        {
            let scratch = rehearsal_name(&t);
            steps.push(m(
                &id,
                Phase::Sync,
                Where::Both,
                Risk::Reversible,
                format!(
                    "Rehearse the database move: pipe a dump of {s} into a scratch database {scratch} on the destination, compare row counts, time it for the downtime prediction, then drop {scratch}"
                ),
                Action::Database {
                    engine: engine.into(),
                    source_name: s,
                    destination_name: scratch,
                    owner: d.user.clone(),
                    service: d.service.clone(),
                    rehearsal: true,
                },
            ));
        }
    }
    let mut redis_carried = false;
    let served: Vec<String> = recipe
        .directories
        .iter()
        .filter(|d| d.served)
        .map(|d| d.path.clone())
        .collect();
    if !served.is_empty() && dst_layout == Layout::Directory {
        // Naming what the web server cannot read changes nothing, so it
        // waits until the app is back up; fixing it must come before the
        // app serves those files.
        steps.push(m(
            "media-permissions",
            if mig.fix_permissions {
                Phase::Cutover
            } else {
                Phase::Finish
            },
            Where::Destination,
            if mig.fix_permissions {
                Risk::Reversible
            } else {
                Risk::ReadOnly
            },
            if mig.fix_permissions {
                format!("Give the files under {} that the web server's user cannot read the owner and modes the app expects (the app's user; files 0644, directories 0755)", served.join(", "))
            } else {
                format!("Name the files under {} that the web server's user cannot read (fixed only with --fix-permissions)", served.join(", "))
            },
            Action::Permissions {
                dirs: served,
                fix: mig.fix_permissions,
            },
        ));
    }
    for d in recipe
        .databases
        .iter()
        .filter(|d| d.engine == Engine::Redis)
    {
        if mig.skip_steps.iter().any(|k| k == "redis") {
            skipped.push((
                "redis".into(),
                format!("Carry Redis {:?} with its queued jobs", d.name),
            ));
        } else if super::steps::redis_carries(&mig.source)
            && super::steps::redis_carries(&mig.destination)
        {
            redis_carried = true;
            steps.push(m(
                "redis",
                Phase::Cutover,
                Where::Both,
                Risk::Destructive,
                format!("Carry Redis with its queued jobs: wait for the workers' busy jobs, SAVE, stop Redis on both sides, copy its dump (and append-only files) into the destination's Redis directory (its own kept aside with a .before-{} suffix), start it and compare key counts and Sidekiq's queue lengths", mig.id()),
                Action::Redis {
                    name: d.name.clone(),
                },
            ));
        } else {
            notes.push(format!(
                "Redis {:?} is not carried for this layout; it starts empty on the destination (queued jobs are lost).",
                d.name
            ));
        }
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
    steps.push(m(
        "verify-copy",
        Phase::Finish,
        Where::Both,
        Risk::ReadOnly,
        "Compare the whole trees (listing and sha256 on each server) now that the app is back up; the final pass checked only what it sent, so reading both trees stays out of the downtime window. What the destination changed since the copy is counted, not compared".into(),
        Action::VerifyCopy,
    ));
    steps.extend(fin);
    // Mastodon's migration guide rebuilds the home feeds only because Redis,
    // which holds them, did not travel; when it does, they arrive intact.
    let mut clears = clears;
    if redis_carried {
        clears.retain(|s| {
            let feeds = s.id.ends_with("feeds-build");
            if feeds {
                notes.push(format!(
                    "Step {:?} is left out: Redis travels with the feeds it would rebuild.",
                    s.id
                ));
            }
            !feeds
        });
    }
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
    checks.extend(answers.checks);
    let mut follow_ups = recipe.follow_ups.clone();
    for f in answers.follow_ups {
        if !follow_ups.contains(&f) {
            follow_ups.push(f);
        }
    }
    Plan {
        id: mig.id(),
        migration: mig.clone(),
        app_name: recipe.app.name.clone(),
        facts,
        steps,
        skipped,
        notes,
        checks,
        follow_ups,
    }
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

/// The largest database (all of the app's together) rehearsed before the
/// window: a rehearsal loads it once more on the destination, which needs
/// the room and the time.
pub const REHEARSAL_MAX_BYTES: u64 = 4 << 30;

/// The scratch database a rehearsal loads: the destination's name with a
/// suffix, cut so the whole stays within PostgreSQL's 63-byte names.
pub fn rehearsal_name(destination: &str) -> String {
    const SUFFIX: &str = "_migrate_rehearsal";
    let mut cut = destination.len().min(63 - SUFFIX.len());
    while !destination.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{SUFFIX}", &destination[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::builder::compose_defaults;
    use crate::migration::definition::{self, Migration};
    use crate::migration::plan::Cmd;

    fn recipe(id: &str) -> Recipe {
        let path = format!("{}/../recipes/{id}.toml", env!("CARGO_MANIFEST_DIR"));
        crate::recipe::load_file(std::path::Path::new(&path)).expect("recipe")
    }

    fn mig(source: &str, destination: &str, dns: bool) -> Migration {
        let dns = if dns {
            "[dns]\nprovider = \"rfc2136\"\nserver = \"127.0.0.1:53\"\nto = [\"192.0.2.7\"]\n"
        } else {
            ""
        };
        let text = format!(
            "app = \"nextcloud\"\ndomain = \"cloud.example.test\"\n{dns}[source]\nhost = \"src\"\n{source}\n[destination]\nhost = \"dst\"\n{destination}\n"
        );
        definition::parse("m.toml", &text).expect("definition")
    }

    fn plugin_step(id: &str, phase: Phase, on: Where) -> PlanStep {
        PlanStep {
            id: id.into(),
            phase,
            on,
            title: format!("plugin step {id}"),
            risk: Risk::Reversible,
            origin: "plugin nextcloud".into(),
            action: Action::Exec(Cmd {
                service: Some("app".into()),
                argv: vec!["true".into()],
                env: vec![],
                user: None,
                workdir: None,
            }),
        }
    }

    fn carry(id: &str) -> PlanStep {
        PlanStep {
            action: Action::Carry {
                file: "config/config.php".into(),
                key: "instanceid".into(),
                reason: "same instance".into(),
                secret: false,
            },
            ..plugin_step(id, Phase::Cutover, Where::Destination)
        }
    }

    fn answers() -> Answers {
        Answers {
            hop_steps: vec![plugin_step(
                "hop1-upgrade",
                Phase::Cutover,
                Where::Destination,
            )],
            pre_copy: vec![plugin_step("maintenance-on", Phase::Cutover, Where::Source)],
            post_copy: vec![
                plugin_step("files-scan", Phase::Finish, Where::Destination),
                carry("carry-instanceid"),
                plugin_step("maintenance-off", Phase::Cutover, Where::Destination),
            ],
            clears: vec![plugin_step(
                "clear-cache",
                Phase::Finish,
                Where::Destination,
            )],
            checks: vec![],
            follow_ups: vec!["Tell the users".into()],
        }
    }

    fn plan(mut m: Migration, r: &Recipe, answers: Answers) -> Plan {
        compose_defaults(&mut m, r);
        let dbs: Vec<&Database> = r
            .databases
            .iter()
            .filter(|d| matches!(d.engine, Engine::Postgresql | Engine::Mariadb))
            .collect();
        assemble(&m, r, &dbs, Probed::default(), answers, vec![])
    }

    fn ids(p: &Plan) -> Vec<&str> {
        p.steps.iter().map(|s| s.id.as_str()).collect()
    }

    fn before(p: &Plan, a: &str, b: &str) -> bool {
        let pos = |id: &str| p.steps.iter().position(|s| s.id == id);
        matches!((pos(a), pos(b)), (Some(x), Some(y)) if x < y)
    }

    #[test]
    fn a_plain_directory_move_in_order() {
        let r = recipe("nextcloud");
        let p = plan(
            mig(
                "root = \"/srv/nc\"\nstop = \"systemctl stop nc\"",
                "root = \"/srv/nc\"\nstart = \"systemctl start nc\"",
                false,
            ),
            &r,
            answers(),
        );
        assert_eq!(
            ids(&p),
            [
                "preflight",
                "destination-free",
                "backup",
                "baseline",
                "pre-sync",
                "pre-sync-delta",
                "rehearse-database-nextcloud",
                "maintenance-on",
                "stop-source",
                "final-sync",
                "database-nextcloud",
                "carry-instanceid",
                "hop1-upgrade",
                "maintenance-off",
                "start-destination",
                "test-destination",
                "verify-copy",
                "files-scan",
                "clear-cache",
            ]
        );
        // Phases never go backwards.
        assert!(p.steps.windows(2).all(|w| w[0].phase <= w[1].phase));
        assert!(matches!(
            p.step("stop-source").map(|s| &s.action),
            Some(Action::StopApp)
        ));
        // The rehearsal loads a scratch database, never the real one.
        assert!(matches!(
            p.step("rehearse-database-nextcloud").map(|s| &s.action),
            Some(Action::Database { rehearsal: true, destination_name, .. })
                if destination_name == "nextcloud_migrate_rehearsal"
        ));
        assert_eq!(rehearsal_name(&"n".repeat(80)).len(), 63);
        assert_eq!(
            p.follow_ups.last().map(String::as_str),
            Some("Tell the users")
        );
    }

    #[test]
    fn without_stop_and_start_commands_a_person_does_them_and_dns_moves_after_the_checks() {
        let r = recipe("nextcloud");
        let p = plan(
            mig("root = \"/srv/nc\"", "root = \"/srv/nc\"", true),
            &r,
            Answers::default(),
        );
        assert!(matches!(
            p.step("stop-source").map(|s| &s.action),
            Some(Action::Manual { .. })
        ));
        assert!(matches!(
            p.step("start-destination").map(|s| &s.action),
            Some(Action::Manual { .. })
        ));
        // TTLs are lowered in the prepare phase, the name moves only once
        // the destination passed its test plan, and the TTLs come back last.
        assert!(before(&p, "baseline", "dns-lower"));
        assert!(before(&p, "dns-lower", "pre-sync"));
        assert!(before(&p, "test-destination", "dns-cutover"));
        assert!(before(&p, "dns-cutover", "test-after-dns"));
        assert_eq!(ids(&p).last(), Some(&"dns-restore"));
    }

    #[test]
    fn a_compose_destination_gets_its_volume_and_compose_commands() {
        let r = recipe("nextcloud");
        let p = plan(
            mig(
                "root = \"/srv/nc\"\nstop = \"true\"",
                "compose = \"/srv/nextcloud\"\nvolume = \"html\"",
                false,
            ),
            &r,
            Answers::default(),
        );
        assert!(before(&p, "destination-free", "destination-volume"));
        assert!(before(&p, "destination-volume", "pre-sync"));
        assert!(matches!(
            p.step("destination-volume").map(|s| &s.action),
            Some(Action::CreateVolume { volume, stack: false, .. }) if volume == "html"
        ));
        // The layout implies the start command: compose's `up -d`.
        assert!(matches!(
            p.step("start-destination").map(|s| &s.action),
            Some(Action::StartApp)
        ));
        assert!(
            p.migration
                .destination
                .start
                .as_deref()
                .is_some_and(|s| s.contains("up -d")),
            "{:?}",
            p.migration.destination.start
        );
        assert!(p.step("destination-secrets").is_none());
    }

    #[test]
    fn a_stack_to_stack_move_carries_secrets_then_deploys_and_stops_the_fresh_app() {
        let r = recipe("nextcloud");
        let p = plan(
            mig(
                "stack = \"cloud_example_test\"\nvolume = \"nextcloud\"",
                "stack = \"cloud_example_test\"\nvolume = \"nextcloud\"",
                false,
            ),
            &r,
            Answers::default(),
        );
        let order = [
            "destination-free",
            "destination-volume",
            "destination-secrets",
            "deploy-destination",
            "stop-destination",
            "backup",
        ];
        for w in order.windows(2) {
            assert!(
                before(&p, w[0], w[1]),
                "{} before {}: {:?}",
                w[0],
                w[1],
                ids(&p)
            );
        }
        // No deploy command given: a person deploys with abra.
        assert!(matches!(
            p.step("deploy-destination").map(|s| &s.action),
            Some(Action::Manual { .. })
        ));
        assert!(matches!(
            p.step("destination-secrets").map(|s| &s.action),
            Some(Action::StackSecrets { from, to }) if from == "cloud_example_test" && to == "cloud_example_test"
        ));
    }

    #[test]
    fn skipped_steps_are_left_out_and_named() {
        let r = recipe("nextcloud");
        let mut m = mig(
            "root = \"/srv/nc\"\nstop = \"true\"",
            "root = \"/srv/nc\"\nstart = \"true\"",
            false,
        );
        m.skip_steps = vec!["files-scan".into(), "upgrade".into()];
        let p = plan(m, &r, answers());
        assert!(p.step("files-scan").is_none());
        assert!(p.step("hop1-upgrade").is_none());
        let skipped: Vec<&str> = p.skipped.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(skipped, ["files-scan", "hop1-upgrade"]);
    }

    #[test]
    fn redis_travels_and_the_feeds_are_rebuilt_only_when_it_does_not() {
        let r = recipe("mastodon");
        let answers = || Answers {
            clears: vec![plugin_step(
                "tootctl-feeds-build",
                Phase::Finish,
                Where::Destination,
            )],
            ..Answers::default()
        };
        let mut m = mig(
            "root = \"/home/mastodon/live\"\nstop = \"true\"",
            "root = \"/home/mastodon/live\"\nstart = \"true\"",
            false,
        );
        m.app = "mastodon".into();
        let p = plan(m.clone(), &r, answers());
        assert!(matches!(
            p.step("redis").map(|s| &s.action),
            Some(Action::Redis { name }) if name == "0"
        ));
        assert!(before(&p, "stop-source", "redis"));
        assert!(before(&p, "redis", "start-destination"));
        assert!(p.step("tootctl-feeds-build").is_none(), "{:?}", ids(&p));
        // Media permissions are named, not fixed, unless the migration says so.
        assert!(matches!(
            p.step("media-permissions").map(|s| &s.action),
            Some(Action::Permissions { fix: false, .. })
        ));
        m.skip_steps = vec!["redis".into()];
        m.fix_permissions = true;
        let p = plan(m, &r, answers());
        assert!(p.step("redis").is_none());
        assert!(p.step("tootctl-feeds-build").is_some(), "{:?}", ids(&p));
        assert!(p.skipped.iter().any(|(id, _)| id == "redis"));
        assert!(matches!(
            p.step("media-permissions").map(|s| &s.action),
            Some(Action::Permissions { fix: true, .. })
        ));
    }

    #[test]
    fn media_in_object_storage_are_checked_from_the_destination_before_anything_stops() {
        use crate::migration::steps::object_storage::ObjectStorage;
        let r = recipe("mastodon");
        let mut m = mig(
            "root = \"/home/mastodon/live\"\nstop = \"true\"",
            "root = \"/home/mastodon/live\"\nstart = \"true\"",
            true,
        );
        m.app = "mastodon".into();
        compose_defaults(&mut m, &r);
        let facts = Facts {
            object_storage: Some(ObjectStorage {
                place: "http://s3.example.test/media".into(),
                probe_url: Some("http://s3.example.test/media/k.png".into()),
                excluded: vec!["/public/system/".into()],
            }),
            ..Facts::default()
        };
        let p = assemble(
            &m,
            &r,
            &[],
            Probed { facts, holds: None },
            Answers::default(),
            vec![],
        );
        assert!(
            p.notes.iter().any(|n| n
                == "Media stay in object storage at http://s3.example.test/media; public/system is not copied."),
            "{:?}",
            p.notes
        );
        assert!(matches!(
            p.step("object-storage").map(|s| (&s.action, s.on)),
            Some((Action::ObjectStorage { url, .. }, Where::Destination)) if url == "http://s3.example.test/media/k.png"
        ));
        assert!(before(&p, "object-storage", "pre-sync"));
        assert!(before(&p, "object-storage", "stop-source"));
        assert!(before(&p, "object-storage", "dns-cutover"));
        // Media on disk: no check, no note.
        let p = plan(m, &r, Answers::default());
        assert!(p.step("object-storage").is_none());
        assert!(!p.notes.iter().any(|n| n.contains("object storage")));
    }

    #[test]
    fn a_destination_holding_the_app_is_moved_aside_as_a_destructive_step() {
        let r = recipe("nextcloud");
        let mut m = mig("root = \"/srv/nc\"", "root = \"/srv/nc\"", false);
        compose_defaults(&mut m, &r);
        let dbs: Vec<&Database> = r.databases.iter().collect();
        let p = assemble(
            &m,
            &r,
            &dbs,
            Probed {
                facts: Facts::default(),
                holds: Some("/srv/nc is not empty".into()),
            },
            Answers::default(),
            vec![],
        );
        let s = p.step("destination-free").expect("step");
        assert_eq!(s.risk, Risk::Destructive);
        assert!(s.title.contains("renamed with a .before-"), "{}", s.title);
    }

    /// The Discourse plugin's domain-change steps reach the plan when the
    /// migration moves the forum to a new name, and only then (the real
    /// built-in plugin, asked through the bridge with the migration's
    /// context).
    #[test]
    fn discourse_domain_change_steps_appear_in_the_plan_only_when_the_domain_changes() {
        use crate::migration::{bridge, context};
        use crate::plugin::{PluginEngine, Registry};
        let engine = PluginEngine::new(None, Default::default()).expect("engine");
        let registry = Registry::discover(std::sync::Arc::new(engine), &[], &[]).expect("registry");
        let plugin = registry.load("discourse").expect("built-in discourse");
        let r = recipe("discourse");
        let plan_for = |old: Option<&str>| {
            let mut m = mig(
                "root = \"/var/discourse/shared/standalone\"",
                "root = \"/var/discourse/shared/standalone\"",
                false,
            );
            m.app = "discourse".into();
            m.domain = "forum.example.net".into();
            m.old_domain = old.map(str::to_string);
            let ctx = context::of(&m, r.volumes.first().map(|v| v.mount.as_str()));
            let answers = bridge::answers(Some(&plugin), vec![], &ctx).expect("answers");
            plan(m, &r, answers)
        };
        let moved = plan_for(Some("talk.example.org"));
        let remap = moved.step("remap-domain").expect("remap step");
        assert!(
            matches!(&remap.action, Action::Exec(c) if c.argv == ["discourse", "remap", "talk.example.org", "forum.example.net"]),
            "{remap:?}"
        );
        assert!(moved.step("rebake").is_some(), "{:?}", ids(&moved));
        for same in [None, Some("forum.example.net")] {
            let p = plan_for(same);
            assert!(
                p.step("remap-domain").is_none() && p.step("rebake").is_none(),
                "{same:?}: {:?}",
                ids(&p)
            );
        }
    }
}
