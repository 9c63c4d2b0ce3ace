//! The plugin contracts this host speaks, one module per WIT version
//! folder (as Zed's extension host keeps `since_vX.Y.Z`). The newest is the
//! host's model; an older one is detected at load by the interfaces the
//! component exports, and its calls and answers are adapted to the newest.
//! Adding `0.3.0`: copy `wit/v0.2` to `wit/v0.3`, add `since_v0_3_0.rs`,
//! point `latest` at it, and make `since_v0_2_0.rs` an adapter like
//! `since_v0_1_0.rs`.

pub mod since_v0_1_0;
pub mod since_v0_2_0;

pub use since_v0_2_0 as latest;

use wasmtime::Store;
use wasmtime::component::{Component, InstancePre};

use super::engine::State;
use latest::exports::migrate::recipe as new;
use latest::migrate::recipe::types::{Context, LayoutKind, Refusal, SmokeCheck, Step};

/// A contract version the host loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Contract {
    V0_1,
    V0_2,
}

impl Contract {
    pub const NEWEST: Contract = Contract::V0_2;
    /// Oldest first.
    pub const ALL: [Contract; 2] = [Contract::V0_1, Contract::V0_2];

    pub fn name(self) -> &'static str {
        match self {
            Contract::V0_1 => "migrate:recipe@0.1.0",
            Contract::V0_2 => "migrate:recipe@0.2.0",
        }
    }

    /// The contract an export name (`migrate:recipe/app@0.1.0`) belongs
    /// to; within one minor, patches only add, so `0.1.3` is `0.1`.
    fn of_export(name: &str) -> Option<Contract> {
        let (_, version) = name.strip_prefix("migrate:recipe/")?.split_once('@')?;
        let v = semver::Version::parse(version).ok()?;
        match (v.major, v.minor) {
            (0, 1) => Some(Contract::V0_1),
            (0, 2) => Some(Contract::V0_2),
            _ => None,
        }
    }

    /// The newest contract whose interfaces the component exports.
    pub fn detect(component: &Component, engine: &wasmtime::Engine) -> Option<Contract> {
        component
            .component_type()
            .exports(engine)
            .filter_map(|(name, _)| Contract::of_export(name))
            .max()
    }
}

/// What the context's layout is called in 0.1 settings and messages.
pub fn layout_name(l: LayoutKind) -> &'static str {
    match l {
        LayoutKind::Directory => "directory",
        LayoutKind::Compose => "compose",
        LayoutKind::Stack => "stack",
        LayoutKind::DiscourseLauncher => "discourse-launcher",
        LayoutKind::Mailu => "mailu",
    }
}

/// A linked component of one contract.
pub enum Pre {
    V0_1(since_v0_1_0::RecipePluginPre<State>),
    V0_2(latest::RecipePluginPre<State>),
}

impl Pre {
    pub fn new(contract: Contract, instance_pre: InstancePre<State>) -> wasmtime::Result<Pre> {
        Ok(match contract {
            Contract::V0_1 => Pre::V0_1(since_v0_1_0::RecipePluginPre::new(instance_pre)?),
            Contract::V0_2 => Pre::V0_2(latest::RecipePluginPre::new(instance_pre)?),
        })
    }

    pub fn contract(&self) -> Contract {
        match self {
            Pre::V0_1(_) => Contract::V0_1,
            Pre::V0_2(_) => Contract::V0_2,
        }
    }

    pub fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<Instance> {
        Ok(match self {
            Pre::V0_1(p) => Instance::V0_1(p.instantiate(store)?),
            Pre::V0_2(p) => Instance::V0_2(p.instantiate(store)?),
        })
    }
}

/// An instance of either contract, called with the newest one's types.
/// A 0.1 plugin's functions take no context: the caller has put it in the
/// store, where its `setting()` questions find it.
pub enum Instance {
    V0_1(since_v0_1_0::RecipePlugin),
    V0_2(latest::RecipePlugin),
}

type R<T> = wasmtime::Result<T>;

fn all<A, B: From<A>>(v: Vec<A>) -> Vec<B> {
    v.into_iter().map(Into::into).collect()
}

fn answer<A: Into<B>, B>(
    r: Result<A, since_v0_1_0::migrate::recipe::types::Refusal>,
) -> Result<B, Refusal> {
    r.map(Into::into).map_err(Into::into)
}

impl Instance {
    pub fn info(&self, s: &mut Store<State>) -> R<new::app::AppInfo> {
        match self {
            Instance::V0_1(p) => p.migrate_recipe_app().call_info(s).map(Into::into),
            Instance::V0_2(p) => p.migrate_recipe_app().call_info(s),
        }
    }

    pub fn probes(&self, s: &mut Store<State>, ctx: &Context) -> R<Vec<new::versions::Probe>> {
        match self {
            Instance::V0_1(p) => p.migrate_recipe_versions().call_probes(s).map(all),
            Instance::V0_2(p) => p.migrate_recipe_versions().call_probes(s, ctx),
        }
    }

    pub fn parse_probe(
        &self,
        s: &mut Store<State>,
        probe_id: &str,
        raw: &str,
    ) -> R<Result<String, Refusal>> {
        match self {
            Instance::V0_1(p) => p
                .migrate_recipe_versions()
                .call_parse_probe(s, probe_id, raw)
                .map(answer),
            Instance::V0_2(p) => p
                .migrate_recipe_versions()
                .call_parse_probe(s, probe_id, raw),
        }
    }

    pub fn parse(
        &self,
        s: &mut Store<State>,
        raw: &str,
    ) -> R<Result<new::versions::Version, Refusal>> {
        match self {
            Instance::V0_1(p) => p.migrate_recipe_versions().call_parse(s, raw).map(answer),
            Instance::V0_2(p) => p.migrate_recipe_versions().call_parse(s, raw),
        }
    }

    pub fn known(&self, s: &mut Store<State>) -> R<Vec<String>> {
        match self {
            Instance::V0_1(p) => p.migrate_recipe_versions().call_known(s),
            Instance::V0_2(p) => p.migrate_recipe_versions().call_known(s),
        }
    }

    pub fn upgrade_path(
        &self,
        s: &mut Store<State>,
        req: &new::upgrade::UpgradeRequest,
    ) -> R<Result<new::upgrade::UpgradePlan, Refusal>> {
        match self {
            Instance::V0_1(p) => p
                .migrate_recipe_upgrade()
                .call_upgrade_path(s, &req.into())
                .map(answer),
            Instance::V0_2(p) => p.migrate_recipe_upgrade().call_upgrade_path(s, req),
        }
    }

    pub fn data_layout(&self, s: &mut Store<State>) -> R<Vec<new::layout::DataItem>> {
        match self {
            Instance::V0_1(p) => p.migrate_recipe_layout().call_data_layout(s).map(all),
            Instance::V0_2(p) => p.migrate_recipe_layout().call_data_layout(s),
        }
    }

    pub fn pre_copy(&self, s: &mut Store<State>, ctx: &Context) -> R<Vec<Step>> {
        match self {
            Instance::V0_1(p) => p.migrate_recipe_steps().call_pre_copy(s).map(all),
            Instance::V0_2(p) => p.migrate_recipe_steps().call_pre_copy(s, ctx),
        }
    }

    pub fn post_copy(&self, s: &mut Store<State>, ctx: &Context) -> R<Vec<Step>> {
        match self {
            Instance::V0_1(p) => p.migrate_recipe_steps().call_post_copy(s).map(all),
            Instance::V0_2(p) => p.migrate_recipe_steps().call_post_copy(s, ctx),
        }
    }

    pub fn cache_clears(&self, s: &mut Store<State>, ctx: &Context) -> R<Vec<Step>> {
        match self {
            Instance::V0_1(p) => p.migrate_recipe_steps().call_cache_clears(s).map(all),
            Instance::V0_2(p) => p.migrate_recipe_steps().call_cache_clears(s, ctx),
        }
    }

    pub fn smoke_checks(&self, s: &mut Store<State>, ctx: &Context) -> R<Vec<SmokeCheck>> {
        match self {
            Instance::V0_1(p) => p.migrate_recipe_steps().call_smoke_checks(s).map(all),
            Instance::V0_2(p) => p.migrate_recipe_steps().call_smoke_checks(s, ctx),
        }
    }

    pub fn manual_follow_ups(&self, s: &mut Store<State>) -> R<Vec<String>> {
        match self {
            Instance::V0_1(p) => p.migrate_recipe_steps().call_manual_follow_ups(s),
            Instance::V0_2(p) => p.migrate_recipe_steps().call_manual_follow_ups(s),
        }
    }

    pub fn examples(&self, s: &mut Store<State>) -> R<Vec<new::examples::Example>> {
        match self {
            Instance::V0_1(p) => p.migrate_recipe_examples().call_examples(s).map(all),
            Instance::V0_2(p) => p.migrate_recipe_examples().call_examples(s),
        }
    }
}
