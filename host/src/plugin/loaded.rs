//! A compiled, linked plugin, and typed calls into it. Every call runs in a
//! fresh store with the fuel and memory limits; failures name the plugin.

use std::sync::Arc;

use wasmtime::Store;

use super::bindings::{RecipePlugin, RecipePluginPre};
use super::caps::{NoPlanning, Planning};
use super::engine::{PluginEngine, State};
use super::error::PluginError;
use super::{
    AppInfo, DataItem, Example, Probe, Refusal, SmokeCheck, Step, UpgradePlan, UpgradeRequest,
    Version,
};

type PlanningFactory = Box<dyn Fn() -> Box<dyn Planning> + Send + Sync>;

pub struct LoadedPlugin {
    pub id: String,
    /// Where it came from, for messages (`built-in`, or a path).
    pub origin: String,
    engine: Arc<PluginEngine>,
    pre: RecipePluginPre<State>,
    planning: PlanningFactory,
}

impl LoadedPlugin {
    /// Check the bytes, compile (or fetch from the cache) and link.
    pub(super) fn load(
        engine: Arc<PluginEngine>,
        id: &str,
        origin: &str,
        bytes: &[u8],
    ) -> Result<LoadedPlugin, PluginError> {
        let (id, origin) = (id.to_string(), origin.to_string());
        match bytes.get(0..8) {
            Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => {
                return Err(PluginError::CoreModule { id, origin });
            }
            Some([0, b'a', b's', b'm', _, _, _, _]) => {}
            _ => {
                return Err(PluginError::NotWasm {
                    id,
                    origin,
                    detail: "the file does not start with the WebAssembly magic bytes".into(),
                });
            }
        }
        let component = engine.compile(bytes).map_err(|e| PluginError::NotWasm {
            id: id.clone(),
            origin: origin.clone(),
            detail: first_line(&e),
        })?;
        let wrong_world = |e: wasmtime::Error| PluginError::WrongWorld {
            id: id.clone(),
            origin: origin.clone(),
            contract: super::CONTRACT,
            detail: first_line(&e),
        };
        let instance_pre = engine
            .linker
            .instantiate_pre(&component)
            .map_err(wrong_world)?;
        let pre = RecipePluginPre::new(instance_pre).map_err(wrong_world)?;
        Ok(LoadedPlugin {
            id: id.clone(),
            origin: origin.clone(),
            engine,
            pre,
            planning: Box::new(|| Box::new(NoPlanning::default())),
        })
    }

    /// Decide what planning calls can reach for subsequent calls.
    pub fn set_planning(
        &mut self,
        factory: impl Fn() -> Box<dyn Planning> + Send + Sync + 'static,
    ) {
        self.planning = Box::new(factory);
    }

    fn call<T>(
        &self,
        func: &'static str,
        f: impl FnOnce(&RecipePlugin, &mut Store<State>) -> wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        let _span = tracing::debug_span!("plugin.call", plugin = %self.id, func).entered();
        let mut store = self.engine.store(&self.id, (self.planning)());
        store
            .set_fuel(self.engine.limits.fuel)
            .map_err(|e| PluginError::Engine(e.to_string()))?;
        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&instance, &mut store));
        result.map_err(|e| self.classify(func, &store, e))
    }

    fn classify(
        &self,
        func: &'static str,
        store: &Store<State>,
        e: wasmtime::Error,
    ) -> PluginError {
        let id = self.id.clone();
        if let Some(wanted) = store.data().memory.denied {
            return PluginError::OutOfMemory {
                id,
                func,
                wanted: (wanted as u64).div_ceil(1 << 20),
                limit: (self.engine.limits.memory_bytes as u64) >> 20,
            };
        }
        if let Some(wasmtime::Trap::OutOfFuel) = e.downcast_ref::<wasmtime::Trap>() {
            return PluginError::OutOfFuel { id, func };
        }
        PluginError::Trap {
            id,
            func,
            detail: first_line(&e),
        }
    }

    pub fn info(&self) -> Result<AppInfo, PluginError> {
        self.call("info", |p, s| p.migrate_recipe_app().call_info(s))
    }

    pub fn probes(&self) -> Result<Vec<Probe>, PluginError> {
        self.call("probes", |p, s| p.migrate_recipe_versions().call_probes(s))
    }

    pub fn parse_probe(
        &self,
        probe_id: &str,
        raw: &str,
    ) -> Result<Result<String, Refusal>, PluginError> {
        self.call("parse-probe", |p, s| {
            p.migrate_recipe_versions()
                .call_parse_probe(s, probe_id, raw)
        })
    }

    pub fn parse(&self, raw: &str) -> Result<Result<Version, Refusal>, PluginError> {
        self.call("parse", |p, s| {
            p.migrate_recipe_versions().call_parse(s, raw)
        })
    }

    pub fn known(&self) -> Result<Vec<String>, PluginError> {
        self.call("known", |p, s| p.migrate_recipe_versions().call_known(s))
    }

    pub fn upgrade_path(
        &self,
        req: &UpgradeRequest,
    ) -> Result<Result<UpgradePlan, Refusal>, PluginError> {
        self.call("upgrade-path", |p, s| {
            p.migrate_recipe_upgrade().call_upgrade_path(s, req)
        })
    }

    pub fn data_layout(&self) -> Result<Vec<DataItem>, PluginError> {
        self.call("data-layout", |p, s| {
            p.migrate_recipe_layout().call_data_layout(s)
        })
    }

    pub fn pre_copy(&self) -> Result<Vec<Step>, PluginError> {
        self.call("pre-copy", |p, s| p.migrate_recipe_steps().call_pre_copy(s))
    }

    pub fn post_copy(&self) -> Result<Vec<Step>, PluginError> {
        self.call("post-copy", |p, s| {
            p.migrate_recipe_steps().call_post_copy(s)
        })
    }

    pub fn cache_clears(&self) -> Result<Vec<Step>, PluginError> {
        self.call("cache-clears", |p, s| {
            p.migrate_recipe_steps().call_cache_clears(s)
        })
    }

    pub fn smoke_checks(&self) -> Result<Vec<SmokeCheck>, PluginError> {
        self.call("smoke-checks", |p, s| {
            p.migrate_recipe_steps().call_smoke_checks(s)
        })
    }

    pub fn manual_follow_ups(&self) -> Result<Vec<String>, PluginError> {
        self.call("manual-follow-ups", |p, s| {
            p.migrate_recipe_steps().call_manual_follow_ups(s)
        })
    }

    pub fn examples(&self) -> Result<Vec<Example>, PluginError> {
        self.call("examples", |p, s| {
            p.migrate_recipe_examples().call_examples(s)
        })
    }
}

/// wasmtime errors carry a backtrace of wasm frames; the first line is the
/// sentence, the rest is for `-vv`.
fn first_line(e: &wasmtime::Error) -> String {
    tracing::debug!("plugin error detail: {e:?}");
    let text = format!("{e:#}");
    text.lines().next().unwrap_or("unknown error").to_string()
}
