//! One wasmtime engine per process: Cranelift with an on-disk compile cache,
//! fuel for an execution budget, and a memory cap per store.

use std::path::Path;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Cache, CacheConfig, Config, Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::caps::Planning;
use super::error::PluginError;
use super::wit::latest::migrate::recipe::types::Context;
use super::wit::{latest, since_v0_1_0};

/// Sandbox limits for each call into a plugin.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Linear memory per plugin instance, bytes.
    pub memory_bytes: usize,
    /// Fuel per call (roughly one unit per WebAssembly instruction). A
    /// planning call needs well under a million; the budget is generous
    /// but stops an endless loop within about a second.
    pub fuel: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            fuel: 500_000_000,
        }
    }
}

/// Per-call state: which plugin, what it may read, its sandbox.
pub struct State {
    pub plugin: String,
    pub planning: Box<dyn Planning>,
    /// The migration's context for this call: a 0.1 plugin's `setting()`
    /// questions are answered from it.
    pub context: Option<Context>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub memory: MemoryCap,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Linear memories one plugin's store may hold: a component built by
/// rustc for wasm32-wasip2 has exactly one (its main module's; the shim
/// modules wasm-component-ld adds borrow it). With one memory capped at
/// `Limits::memory_bytes`, that cap bounds the whole plugin.
pub const MEMORIES: usize = 1;

/// Tables one plugin's store may hold. Not one: besides the main module's
/// function table, a component made by wit-component (wasm-component-ld)
/// has a shim module with a table of its own (`$imports`), through which
/// the canonical ABI's lowered imports are called; every built-in plugin
/// instantiates two, and with a limit of one none of them loads ("table
/// count too high at 2", checked against the wasm32-wasip2 builds). Two is
/// the smallest limit that holds; the element cap below bounds their size.
pub const TABLES: usize = 2;

/// Instances one plugin's store may hold: a component is a handful of core
/// instances (main module, shim, fixup, the modules' import bags); 16
/// leaves room for toolchain changes and still bounds a component made of
/// many.
pub const INSTANCES: usize = 16;

/// Elements per table.
pub const TABLE_ELEMENTS: usize = 100_000;

/// The store's limits (wasmtime's `StoreLimits`: memory size, and how many
/// memories, tables and instances), remembering the first refusal of
/// memory growth so the error can say the plugin ran out of memory instead
/// of showing the trap it turns into.
pub struct MemoryCap {
    pub denied: Option<usize>,
    limits: StoreLimits,
}

impl MemoryCap {
    pub fn new(limit: usize) -> MemoryCap {
        MemoryCap {
            denied: None,
            limits: StoreLimitsBuilder::new()
                .memory_size(limit)
                .memories(MEMORIES)
                .tables(TABLES)
                .instances(INSTANCES)
                .table_elements(TABLE_ELEMENTS)
                .build(),
        }
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.limits.memory_growing(current, desired, maximum)?;
        if !ok {
            self.denied = Some(desired);
        }
        Ok(ok)
    }
    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }
    fn instances(&self) -> usize {
        self.limits.instances()
    }
    fn tables(&self) -> usize {
        self.limits.tables()
    }
    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

pub struct PluginEngine {
    pub(super) engine: Engine,
    pub(super) linker: Linker<State>,
    pub limits: Limits,
}

impl PluginEngine {
    /// `cache_dir`: where compiled components are kept between runs, so a
    /// warm call costs milliseconds instead of a Cranelift compile.
    pub fn new(cache_dir: Option<&Path>, limits: Limits) -> Result<PluginEngine, PluginError> {
        let mut config = Config::new();
        config.consume_fuel(true);
        if let Some(dir) = cache_dir {
            let mut cc = CacheConfig::new();
            cc.with_directory(dir);
            // A cache that cannot be set up only costs speed.
            match Cache::new(cc) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(e) => tracing::warn!("plugin compile cache disabled: {e}"),
            }
        }
        let engine = Engine::new(&config).map_err(|e| PluginError::Engine(e.to_string()))?;
        let mut linker: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| PluginError::Engine(e.to_string()))?;
        // Every contract's imports, side by side: their interface names
        // differ by version (0.1.0 and 0.2.0 are not semver-compatible), so
        // each plugin links against the one it was built for.
        latest::RecipePlugin::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| PluginError::Engine(e.to_string()))?;
        since_v0_1_0::RecipePlugin::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| PluginError::Engine(e.to_string()))?;
        Ok(PluginEngine {
            engine,
            linker,
            limits,
        })
    }

    pub(super) fn compile(&self, bytes: &[u8]) -> wasmtime::Result<Component> {
        Component::new(&self.engine, bytes)
    }

    pub(super) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A fresh store per call: instantiation costs well under a millisecond,
    /// and no state leaks from one call into the next.
    pub(super) fn store(
        &self,
        plugin: &str,
        planning: Box<dyn Planning>,
        context: Option<Context>,
    ) -> Store<State> {
        // No environment, no preopened directories, no sockets, no stdio:
        // plugins reach the world only through the contract's imports.
        let wasi = WasiCtx::builder().build();
        let state = State {
            plugin: plugin.to_string(),
            planning,
            context,
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap::new(self.limits.memory_bytes),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        // Fuel is set per call by the caller; start empty.
        let _ = store.set_fuel(0);
        store
    }
}
