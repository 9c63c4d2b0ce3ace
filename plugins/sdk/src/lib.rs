//! The SDK for `migrate` recipe plugins.
//!
//! A plugin is pure app knowledge: which versions exist, which upgrade hops
//! are legal, where the data lives, which fixes and checks to run. It never
//! touches the world; it returns declarative steps and the host acts.
//!
//! Writing one:
//!
//! ```ignore
//! use migrate_plugin_sdk::prelude::*;
//!
//! struct Gitea;
//! impl Plugin for Gitea {
//!     fn info() -> AppInfo { app_info("gitea", "Gitea", "1.20 and later") }
//!     fn parse(raw: &str) -> Result<Version, Refusal> { simple_version(raw) }
//!     fn upgrade_path(req: &UpgradeRequest) -> Result<UpgradePlan, Refusal> {
//!         forward_only(req, Self::parse)
//!     }
//! }
//! migrate_plugin_sdk::register_plugin!(Gitea);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm`
//! in `target/wasm32-wasip2/release/` is the plugin. Plugin logic is plain
//! Rust, so `cargo test` on the host target tests it natively: the
//! [`testing`] module builds the [`Context`] a migration would pass, and
//! stands in for the planning imports (`host::*`).
//!
//! What the migration is (the domain, an old domain when it changes, each
//! side's layout, stack name and app directory, the target version) comes
//! as a `&Context` to the calls whose answer depends on it: the version
//! probes, pre-copy, post-copy, cache clears and smoke checks.

pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "recipe-plugin",
        pub_export_macro: true,
        default_bindings_module: "migrate_plugin_sdk::bindings",
    });
}

mod adapter;
pub mod build;
mod context;
pub mod coopcloud;
pub mod host;
pub mod testing;
pub mod version;

pub use adapter::{Adapter, example_failures, parse_native, upgrade_path_native};

pub use bindings::exports::migrate::recipe::app::AppInfo;
pub use bindings::exports::migrate::recipe::examples::{Example, Expectation};
pub use bindings::exports::migrate::recipe::layout::{DataItem, DataKind, DbEngine};
pub use bindings::exports::migrate::recipe::upgrade::{
    Hop, Precondition, UpgradePlan, UpgradeRequest,
};
pub use bindings::exports::migrate::recipe::versions::{Probe, ProbeKind, Version};
pub use bindings::migrate::recipe::types::{
    Action, CarrySetting, Command, Context, HttpCheck, LayoutKind, Phase, Refusal, RefusalKind,
    Risk, Side, SideContext, SmokeCheck, Step, TcpCheck,
};

/// The contract this SDK builds against.
pub const CONTRACT: &str = "migrate:recipe@0.2.0";

/// What a plugin implements. Everything but `info`, `parse` and
/// `upgrade_path` has a default, so a new plugin starts small and grows.
pub trait Plugin {
    fn info() -> AppInfo;

    /// Parse and canonicalise one version string of this app. Refuse with
    /// `malformed-version` when the text is not a version at all, and
    /// `unknown-version` when it parses but is no release you know.
    /// Co-op Cloud recipe versions (`1.2.0+28.0.4`, legacy `28.0.4_1`) are
    /// handled by the SDK around this function: you only see upstream ones.
    fn parse(raw: &str) -> Result<Version, Refusal>;

    /// The hops from `req.from` to `req.to`, or a refusal with its reason.
    fn upgrade_path(req: &UpgradeRequest) -> Result<UpgradePlan, Refusal>;

    /// Where the running version can be read on this migration's source.
    fn probes(_ctx: &Context) -> Vec<Probe> {
        Vec::new()
    }

    /// Turn a probe's raw output into a version string. The default takes
    /// the trimmed text.
    fn parse_probe(_probe_id: &str, raw: &str) -> Result<String, Refusal> {
        let v = raw.trim();
        if v.is_empty() {
            Err(refuse(
                RefusalKind::MalformedVersion,
                "the probe returned nothing",
            ))
        } else {
            Ok(v.to_string())
        }
    }

    /// Releases known to the plugin, oldest first.
    fn known() -> Vec<String> {
        Vec::new()
    }

    fn data_layout() -> Vec<DataItem> {
        Vec::new()
    }
    fn pre_copy(_ctx: &Context) -> Vec<Step> {
        Vec::new()
    }
    fn post_copy(_ctx: &Context) -> Vec<Step> {
        Vec::new()
    }
    fn cache_clears(_ctx: &Context) -> Vec<Step> {
        Vec::new()
    }
    fn smoke_checks(_ctx: &Context) -> Vec<SmokeCheck> {
        Vec::new()
    }
    fn manual_follow_ups() -> Vec<String> {
        Vec::new()
    }
    /// Declared examples, run by `migrate plugin test` through the host.
    fn examples() -> Vec<Example> {
        Vec::new()
    }
}

/// Export a [`Plugin`] as the component's implementation of the contract.
///
/// Only on wasm32: the export names (`migrate:recipe/app@0.2.0#info`) are
/// not valid symbols for a native linker, so a native `cargo test` of a
/// `cdylib` plugin would fail to link with them.
#[macro_export]
macro_rules! register_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        type __MigratePluginExport = $crate::Adapter<$plugin>;
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export!(__MigratePluginExport with_types_in $crate::bindings);
    };
}

/// A refusal with no suggestions.
pub fn refuse(kind: RefusalKind, message: impl Into<String>) -> Refusal {
    Refusal {
        kind,
        message: message.into(),
        suggestions: Vec::new(),
    }
}

/// A refusal with suggestions (nearest valid versions or hops).
pub fn refuse_with(
    kind: RefusalKind,
    message: impl Into<String>,
    suggestions: Vec<String>,
) -> Refusal {
    Refusal {
        kind,
        message: message.into(),
        suggestions,
    }
}

/// Build `AppInfo` with this crate's version as the plugin version.
pub fn app_info(id: &str, display_name: &str, supports: &str) -> AppInfo {
    AppInfo {
        id: id.to_string(),
        display_name: display_name.to_string(),
        plugin_version: env!("CARGO_PKG_VERSION").to_string(),
        homepage: None,
        supports: supports.to_string(),
    }
}

/// Everything a plugin usually needs, in one import.
pub mod prelude {
    pub use crate::build::*;
    pub use crate::version::{Dotted, forward_only, image_tag, nearest, simple_version};
    pub use crate::{
        Action, AppInfo, CarrySetting, Command, Context, DataItem, DataKind, DbEngine, Example,
        Expectation, Hop, HttpCheck, LayoutKind, Phase, Plugin, Precondition, Probe, ProbeKind,
        Refusal, RefusalKind, Risk, Side, SideContext, SmokeCheck, Step, TcpCheck, UpgradePlan,
        UpgradeRequest, Version, app_info, refuse, refuse_with,
    };
}
