//! Where plugins come from: built into the binary, the data dir's
//! `plugins/`, and `--plugin-dir`. A user plugin with a built-in's id
//! replaces it only when the operator names it with
//! `--allow-plugin-override ID`: a file dropped into a plugin directory
//! must not silently take over what a built-in tells the host to run.
//! Without the flag the built-in stays, and asking for that id is refused
//! with the reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::engine::PluginEngine;
use super::error::PluginError;
use super::loaded::LoadedPlugin;

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));
}

#[derive(Debug, Clone)]
pub enum Origin {
    Builtin,
    File(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Builtin => write!(f, "built-in"),
            Origin::File(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PluginSource {
    pub id: String,
    pub origin: Origin,
    /// A built-in this one replaces.
    pub shadows_builtin: bool,
}

pub struct Registry {
    engine: Arc<PluginEngine>,
    sources: BTreeMap<String, PluginSource>,
    /// User plugins with a built-in's id that were not allowed to replace it.
    refused: BTreeMap<String, PathBuf>,
}

impl Registry {
    /// Built-ins plus every `*.wasm` in `dirs` (later directories win).
    /// A user plugin replaces a built-in only when its id is in
    /// `overrides`. A missing directory is fine; an unreadable one is an
    /// error.
    pub fn discover(
        engine: Arc<PluginEngine>,
        dirs: &[PathBuf],
        overrides: &[String],
    ) -> Result<Registry, PluginError> {
        let mut sources = BTreeMap::new();
        let mut refused = BTreeMap::new();
        for (id, _krate, _bytes) in builtin::BUILTIN {
            sources.insert(
                id.to_string(),
                PluginSource {
                    id: id.to_string(),
                    origin: Origin::Builtin,
                    shadows_builtin: false,
                },
            );
        }
        for dir in dirs {
            for path in wasm_files(dir)? {
                let Some(id) = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .map(str::to_string)
                else {
                    continue;
                };
                let shadows_builtin = builtin::BUILTIN.iter().any(|(b, _, _)| *b == id);
                if shadows_builtin && !overrides.contains(&id) {
                    refused.insert(id, path);
                    continue;
                }
                refused.remove(&id);
                sources.insert(
                    id.clone(),
                    PluginSource {
                        id,
                        origin: Origin::File(path),
                        shadows_builtin,
                    },
                );
            }
        }
        Ok(Registry {
            engine,
            sources,
            refused,
        })
    }

    /// User plugins that have a built-in's id and were not allowed to
    /// replace it: (id, file).
    pub fn refused_overrides(&self) -> impl Iterator<Item = (&String, &PathBuf)> {
        self.refused.iter()
    }

    pub fn ids(&self) -> Vec<String> {
        self.sources.keys().cloned().collect()
    }

    pub fn sources(&self) -> impl Iterator<Item = &PluginSource> {
        self.sources.values()
    }

    pub fn load(&self, id: &str) -> Result<LoadedPlugin, PluginError> {
        if let Some(path) = self.refused.get(id) {
            return Err(PluginError::Override {
                id: id.to_string(),
                path: path.clone(),
            });
        }
        let Some(source) = self.sources.get(id) else {
            return Err(PluginError::Unknown {
                id: id.to_string(),
                suggestions: closest(id, self.sources.keys()),
            });
        };
        self.load_source(source)
    }

    pub fn load_source(&self, source: &PluginSource) -> Result<LoadedPlugin, PluginError> {
        let origin = source.origin.to_string();
        match &source.origin {
            Origin::Builtin => {
                let bytes = builtin::BUILTIN
                    .iter()
                    .find(|(b, _, _)| *b == source.id)
                    .map(|(_, _, bytes)| *bytes)
                    .unwrap_or_default();
                LoadedPlugin::load(self.engine.clone(), &source.id, &origin, bytes)
            }
            Origin::File(path) => self.load_file_as(&source.id, path),
        }
    }

    /// Load a component file directly (`migrate plugin test PATH`).
    pub fn load_file(&self, path: &Path) -> Result<LoadedPlugin, PluginError> {
        let id = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("plugin")
            .to_string();
        self.load_file_as(&id, path)
    }

    fn load_file_as(&self, id: &str, path: &Path) -> Result<LoadedPlugin, PluginError> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| PluginError::Read {
            id: id.to_string(),
            origin: origin.clone(),
            source,
        })?;
        let mut plugin = LoadedPlugin::load(self.engine.clone(), id, &origin, &bytes)?;
        plugin.sha256 = Some(sha256_hex(&bytes));
        Ok(plugin)
    }
}

/// The file's sha256, to show in plans which user code was trusted.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

fn wasm_files(dir: &Path) -> Result<Vec<PathBuf>, PluginError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(PluginError::Dir {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    files.sort();
    Ok(files)
}

/// Names within edit distance 2, or sharing a prefix, best first.
pub fn closest<'a>(wanted: &str, names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut scored: Vec<(usize, String)> = names
        .map(|n| (crate::text::edit_distance(wanted, n), n.clone()))
        .filter(|(d, n)| *d <= 2 || n.starts_with(wanted) || wanted.starts_with(n.as_str()))
        .collect();
    scored.sort();
    scored.into_iter().map(|(_, n)| n).take(3).collect()
}
