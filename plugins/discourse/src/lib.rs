//! The `discourse` recipe plugin (being written: refuses every request).

use migrate_plugin_sdk::prelude::*;

pub struct Stub;

impl Plugin for Stub {
    fn info() -> AppInfo {
        app_info("discourse", "discourse", "not yet")
    }
    fn parse(raw: &str) -> Result<Version, Refusal> {
        simple_version(raw)
    }
    fn upgrade_path(_req: &UpgradeRequest) -> Result<UpgradePlan, Refusal> {
        Err(refuse(RefusalKind::Unsupported, "the discourse plugin is being written"))
    }
}

migrate_plugin_sdk::register_plugin!(Stub);
