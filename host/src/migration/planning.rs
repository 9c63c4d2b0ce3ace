//! The plugin's read-only planning calls, answered over the migration's
//! ssh sessions: files are read with the recipe's paths mapped onto each
//! side's root, HTTP goes to the side's address with the production
//! hostname, docker inspect runs on the server. The migration's context
//! (context.rs) is served with them, for the plugin calls that take none.

use std::sync::Arc;

use migrate_remote::sh_quote;

use super::sides::Sides;
use crate::plugin::{Context, Planning, Side};

pub struct SshPlanning {
    pub sides: Arc<Sides>,
    pub context: Context,
}

impl Planning for SshPlanning {
    fn read_file(&mut self, side: Side, path: &str) -> Result<String, String> {
        self.sides.read_file(side, path).map_err(|e| e.to_string())
    }
    fn http_get(&mut self, side: Side, path: &str) -> Result<(u16, String), String> {
        self.sides
            .http_get(side, path, &[])
            .map_err(|e| e.to_string())
    }
    fn docker_inspect(&mut self, side: Side, name: &str) -> Result<String, String> {
        self.sides
            .sh(
                side,
                "docker inspect",
                &format!("docker inspect -- {}", sh_quote(name)),
            )
            .map_err(|e| e.to_string())
    }
    fn context(&self) -> Option<&Context> {
        Some(&self.context)
    }
}

/// Install the ssh planning backend on a plugin.
pub fn install(plugin: &mut crate::plugin::LoadedPlugin, sides: &Arc<Sides>, context: Context) {
    let sides = Arc::clone(sides);
    plugin.set_planning(move || {
        Box::new(SshPlanning {
            sides: Arc::clone(&sides),
            context: context.clone(),
        })
    });
}

pub fn install_opt(
    plugin: Option<&mut crate::plugin::LoadedPlugin>,
    sides: &Arc<Sides>,
    context: Context,
) {
    if let Some(p) = plugin {
        install(p, sides, context);
    }
}
