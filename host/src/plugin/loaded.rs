//! A compiled, linked plugin, and typed calls into it. Every call runs in a
//! fresh store with the fuel and memory limits; failures name the plugin.

use std::sync::Arc;

use wasmtime::Store;

use super::caps::{NoPlanning, Planning};
use super::engine::{PluginEngine, State};
use super::error::PluginError;
use super::wit::{Contract, Instance, Pre};
use super::{
    AppInfo, Context, DataItem, Example, Probe, Refusal, SmokeCheck, Step, UpgradePlan,
    UpgradeRequest, Version,
};

type PlanningFactory = Box<dyn Fn() -> Box<dyn Planning> + Send + Sync>;

pub struct LoadedPlugin {
    pub id: String,
    /// Where it came from, for messages (`built-in`, or a path).
    pub origin: String,
    /// The sha256 of a user plugin's file (None for a built-in), for the
    /// plan to show which code was trusted.
    pub sha256: Option<String>,
    engine: Arc<PluginEngine>,
    pre: Pre,
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
        // The contract is read from the interfaces the component exports; a
        // component of neither is linked against the newest, whose error
        // names what is missing.
        let detected = Contract::detect(&component, engine.engine());
        let contract = detected.unwrap_or(Contract::NEWEST);
        let wrong_world = |e: wasmtime::Error| PluginError::WrongWorld {
            id: id.clone(),
            origin: origin.clone(),
            contract: match detected {
                Some(c) => c.name().to_string(),
                None => Contract::ALL
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(" or "),
            },
            newest: Contract::NEWEST.name(),
            detail: first_line(&e),
        };
        let instance_pre = engine
            .linker
            .instantiate_pre(&component)
            .map_err(wrong_world)?;
        let pre = Pre::new(contract, instance_pre).map_err(wrong_world)?;
        if contract != Contract::NEWEST {
            tracing::debug!(plugin = %id, contract = contract.name(), "adapting an older contract");
        }
        Ok(LoadedPlugin {
            id: id.clone(),
            origin: origin.clone(),
            sha256: None,
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

    /// The contract the component implements (`migrate:recipe@0.1.0`, ...).
    pub fn contract(&self) -> &'static str {
        self.pre.contract().name()
    }

    /// `ctx`: the context of a call that takes one; the others see the
    /// planning backend's (both only matter to a 0.1 plugin's settings).
    fn call<T>(
        &self,
        func: &'static str,
        ctx: Option<&Context>,
        f: impl FnOnce(&Instance, &mut Store<State>) -> wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        let _span = tracing::debug_span!("plugin.call", plugin = %self.id, func).entered();
        let planning = (self.planning)();
        let context = ctx.or(planning.context()).cloned();
        let mut store = self.engine.store(&self.id, planning, context);
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
        // The store's count limits (engine.rs) refuse at instantiation
        // with this sentence; wasmtime has no typed error for it.
        let text = format!("{e:#}");
        if let Some(at) = text.find("resource limit exceeded") {
            let detail = text[at..].lines().next().unwrap_or("").to_string();
            return PluginError::OverLimits {
                id,
                func,
                detail,
                memories: super::engine::MEMORIES,
                tables: super::engine::TABLES,
                instances: super::engine::INSTANCES,
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
        self.call("info", None, |p, s| p.info(s))
    }

    pub fn probes(&self, ctx: &Context) -> Result<Vec<Probe>, PluginError> {
        self.call("probes", Some(ctx), |p, s| p.probes(s, ctx))
    }

    pub fn parse_probe(
        &self,
        probe_id: &str,
        raw: &str,
    ) -> Result<Result<String, Refusal>, PluginError> {
        self.call("parse-probe", None, |p, s| p.parse_probe(s, probe_id, raw))
    }

    pub fn parse(&self, raw: &str) -> Result<Result<Version, Refusal>, PluginError> {
        self.call("parse", None, |p, s| p.parse(s, raw))
    }

    pub fn known(&self) -> Result<Vec<String>, PluginError> {
        self.call("known", None, |p, s| p.known(s))
    }

    pub fn upgrade_path(
        &self,
        req: &UpgradeRequest,
    ) -> Result<Result<UpgradePlan, Refusal>, PluginError> {
        self.call("upgrade-path", None, |p, s| p.upgrade_path(s, req))
    }

    pub fn data_layout(&self) -> Result<Vec<DataItem>, PluginError> {
        self.call("data-layout", None, |p, s| p.data_layout(s))
    }

    pub fn pre_copy(&self, ctx: &Context) -> Result<Vec<Step>, PluginError> {
        self.call("pre-copy", Some(ctx), |p, s| p.pre_copy(s, ctx))
    }

    pub fn post_copy(&self, ctx: &Context) -> Result<Vec<Step>, PluginError> {
        self.call("post-copy", Some(ctx), |p, s| p.post_copy(s, ctx))
    }

    pub fn cache_clears(&self, ctx: &Context) -> Result<Vec<Step>, PluginError> {
        self.call("cache-clears", Some(ctx), |p, s| p.cache_clears(s, ctx))
    }

    pub fn smoke_checks(&self, ctx: &Context) -> Result<Vec<SmokeCheck>, PluginError> {
        self.call("smoke-checks", Some(ctx), |p, s| p.smoke_checks(s, ctx))
    }

    pub fn manual_follow_ups(&self) -> Result<Vec<String>, PluginError> {
        self.call("manual-follow-ups", None, |p, s| p.manual_follow_ups(s))
    }

    pub fn examples(&self) -> Result<Vec<Example>, PluginError> {
        self.call("examples", None, |p, s| p.examples(s))
    }
}

/// wasmtime errors carry a backtrace of wasm frames; the first line is the
/// sentence, the rest is for `-vv`.
fn first_line(e: &wasmtime::Error) -> String {
    tracing::debug!("plugin error detail: {e:?}");
    let text = format!("{e:#}");
    text.lines().next().unwrap_or("unknown error").to_string()
}
