//! The plugin's answers for a migration, turned into the plan's terms:
//! the databases it reads on the source, the upgrade path's hops and their
//! steps (or a refusal), the steps around the copy, the smoke checks and
//! the follow-ups.

use super::assemble::Answers;
use super::builder::{BuildError, refused};
use super::plan::{Action, CheckKind, CheckSpec, Cmd, Facts, Phase, PlanStep, Risk, Where};
use crate::plugin::{self, LoadedPlugin, UpgradeRequest};
use crate::recipe::{Engine, Recipe};

/// The recipe's databases, with the engine the plugin read on the source
/// where it could: an app may run on either (Nextcloud: config.php's
/// dbtype), and moving a MariaDB database with PostgreSQL's tools cannot
/// work.
pub fn databases(
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

/// The upgrade from the detected version to the target: the hops' steps,
/// with notes and caveats, or the plugin's refusal.
pub fn upgrade(
    p: &mut LoadedPlugin,
    from: &plugin::Version,
    target: &str,
    facts: &mut Facts,
    notes: &mut Vec<String>,
) -> Result<Vec<PlanStep>, BuildError> {
    let v = from;
    let mut hop_steps = Vec::new();
    let req = UpgradeRequest {
        from: v.raw.clone(),
        to: target.to_string(),
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
    Ok(hop_steps)
}

/// Everything else the plugin says about the migration.
pub fn answers(
    p: Option<&LoadedPlugin>,
    hop_steps: Vec<PlanStep>,
    ctx: &plugin::Context,
) -> Result<Answers, BuildError> {
    let Some(p) = p else {
        return Ok(Answers {
            hop_steps,
            ..Answers::default()
        });
    };
    let origin = format!("plugin {}", p.id);
    let conv = |steps: Vec<plugin::Step>| -> Vec<PlanStep> {
        steps
            .iter()
            .map(|s| from_plugin_step(s, &origin, None))
            .collect()
    };
    Ok(Answers {
        hop_steps,
        pre_copy: conv(p.pre_copy(ctx)?),
        post_copy: conv(p.post_copy(ctx)?),
        clears: conv(p.cache_clears(ctx)?),
        checks: plugin_checks(&p.smoke_checks(ctx)?, &origin),
        follow_ups: p.manual_follow_ups()?,
    })
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
