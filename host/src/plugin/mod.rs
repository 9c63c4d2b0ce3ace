//! The plugin host: loads recipe plugins (WASM components) and calls them in
//! a sandbox. Plugins know; the host acts.

mod caps;
mod engine;
mod error;
mod loaded;
mod registry;
pub mod scaffold;
mod wit;

// The host's model is the newest contract's types; older plugins are
// adapted to it (wit/since_*).
pub use caps::{ANSWER_CAP, NoPlanning, Planning, over_cap};
pub use engine::{Limits, PluginEngine};
pub use error::PluginError;
pub use loaded::LoadedPlugin;
pub use registry::{Origin, PluginSource, Registry};
pub use wit::latest::exports::migrate::recipe::app::AppInfo;
pub use wit::latest::exports::migrate::recipe::examples::{Example, Expectation};
pub use wit::latest::exports::migrate::recipe::layout::{DataItem, DataKind, DbEngine};
pub use wit::latest::exports::migrate::recipe::upgrade::{
    Hop, Precondition, UpgradePlan, UpgradeRequest,
};
pub use wit::latest::exports::migrate::recipe::versions::{Probe, ProbeKind, Version};
pub use wit::latest::migrate::recipe::types::{
    Action, CarrySetting, Command, Context, HttpCheck, LayoutKind, Phase, Refusal, RefusalKind,
    Risk, Side, SideContext, SmokeCheck, Step, TcpCheck,
};
pub use wit::layout_name;

/// The contract new plugins implement (`migrate plugin new`).
pub const CONTRACT: &str = "migrate:recipe@0.2.0";

/// Kebab-case name of a refusal kind, as the WIT and `--json` spell it.
pub fn refusal_kind_name(kind: RefusalKind) -> &'static str {
    match kind {
        RefusalKind::Downgrade => "downgrade",
        RefusalKind::MalformedVersion => "malformed-version",
        RefusalKind::UnknownVersion => "unknown-version",
        RefusalKind::NoPath => "no-path",
        RefusalKind::ZeroDowntimeUnsupported => "zero-downtime-unsupported",
        RefusalKind::PreconditionFailed => "precondition-failed",
        RefusalKind::Unsupported => "unsupported",
    }
}

pub fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Check => "check",
        Phase::Prepare => "prepare",
        Phase::Sync => "sync",
        Phase::Cutover => "cutover",
        Phase::Finish => "finish",
    }
}

pub fn risk_name(risk: Risk) -> &'static str {
    match risk {
        Risk::ReadOnly => "read-only",
        Risk::Reversible => "reversible",
        Risk::Destructive => "destructive",
    }
}

pub fn side_name(side: Side) -> &'static str {
    match side {
        Side::Source => "source",
        Side::Destination => "destination",
    }
}
