use migrate_plugin_sdk::prelude::*;

pub struct Nextcloud;

impl Plugin for Nextcloud {
    fn info() -> AppInfo {
        app_info("nextcloud", "Nextcloud", "20 to 32")
    }
    fn parse(raw: &str) -> Result<Version, Refusal> {
        simple_version(raw)
    }
    fn upgrade_path(_req: &UpgradeRequest) -> Result<UpgradePlan, Refusal> {
        Err(refuse(RefusalKind::Unsupported, "not yet"))
    }
}

migrate_plugin_sdk::register_plugin!(Nextcloud);
