//! Build the plan: probe the servers (probe.rs), ask the plugin (bridge.rs),
//! then assemble the steps with no I/O (assemble.rs). What cannot work is
//! refused before anything changes.

use super::definition::Migration;
use super::layout::Layout;
use super::plan::Plan;
use super::sides::Sides;
use super::{assemble, bridge, probe};
use crate::plugin::{self, LoadedPlugin, Side};
use crate::recipe::{Engine, Recipe};

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

pub fn refused(kind: &'static str, message: impl Into<String>) -> BuildError {
    BuildError::Refused {
        kind,
        message: message.into(),
    }
}

pub fn remote(e: super::sides::SideError) -> BuildError {
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
        if super::launcher::defaults(side, &recipe.app.id) {
            continue;
        }
        let layout = Layout::of(side);
        let Some(c) = layout.project() else {
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
    if let Some(plan) = super::launcher::build(mig, recipe, plugin.as_deref(), sides, opts)? {
        return Ok(plan);
    }
    let mut plugin = plugin;
    let ctx = super::context::of(mig, sides.mount.as_deref());
    sides.declare(recipe.directories.iter().map(|d| d.path.clone()).collect());
    super::planning::install_opt(plugin.as_deref_mut(), sides, ctx.clone());
    let mut notes = Vec::new();
    let databases = bridge::databases(recipe, plugin.as_deref(), &mut notes)?;
    let dbs: Vec<&crate::recipe::Database> = databases
        .iter()
        .filter(|d| matches!(d.engine, Engine::Postgresql | Engine::Mariadb))
        .collect();
    for d in &databases {
        if d.engine == Engine::Sqlite {
            notes.push(format!(
                "Database {:?} is SQLite: it is a file inside the copied tree and moves with it.",
                d.name
            ));
        }
    }
    let mut probed = probe::servers(sides, mig, &dbs, opts)?;
    probed.facts.redis = super::steps::redis_plan_reading(sides, mig, recipe, &mut notes);
    super::steps::permissions_plan_reading(sides, mig, recipe, &mut notes);
    probed.facts.object_storage =
        super::steps::object_storage_plan_reading(sides, mig, recipe, &mut notes);

    // Version and upgrade path, through the plugin.
    let mut hop_steps = Vec::new();
    if let Some(p) = plugin.as_deref_mut() {
        let facts = &mut probed.facts;
        let (detected, by) = probe::detect_version(p, &ctx, sides, &mut notes)?;
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
        hop_steps = bridge::upgrade(p, &v, &target, facts, &mut notes)?;
    }
    let answers = bridge::answers(plugin.as_deref(), hop_steps, &ctx)?;
    let mut plan = assemble::assemble(mig, recipe, &dbs, probed, answers, notes);
    super::around::add(&mut plan, sides).map_err(BuildError::Remote)?;
    super::mailu::extend(&mut plan);
    plan.facts.plugin = plugin.as_deref().map(|p| super::plan::PluginUsed {
        id: p.id.clone(),
        origin: p.origin.clone(),
        sha256: p.sha256.clone(),
    });
    Ok(plan)
}
