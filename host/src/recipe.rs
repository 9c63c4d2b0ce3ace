//! Declarative app recipes (`recipes/NAME.toml`): an app's services,
//! volumes, directories, databases, ports, checks and the follow-ups no tool
//! can do. A recipe describes; the app's plugin (if any) decides.
//!
//! Built-in recipes are compiled in; `<data dir>/recipes/*.toml` and
//! `--recipe-dir` add or replace them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub app: AppSection,
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub directories: Vec<Directory>,
    #[serde(default)]
    pub databases: Vec<Database>,
    #[serde(default)]
    pub checks: Vec<Check>,
    /// What a tool cannot do for you, each to tick off in the report.
    #[serde(default)]
    pub follow_ups: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    pub id: String,
    pub name: String,
    /// The plugin with this app's logic; none for simple apps.
    #[serde(default)]
    pub plugin: Option<String>,
    #[serde(default)]
    pub homepage: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Started after these, stopped before them.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    pub name: String,
    pub service: String,
    pub mount: String,
    /// Rebuilds itself; may be skipped to save time.
    #[serde(default)]
    pub cache: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directory {
    pub path: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub cache: bool,
    /// The web server (nginx) serves these files itself, so each must be
    /// readable by its user: the plan scans them (Mastodon's media, whose
    /// uploads can arrive with mode 0600 or 0660, mastodon/mastodon#7967).
    #[serde(default)]
    pub served: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Postgresql,
    Mariadb,
    Sqlite,
    Redis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub engine: Engine,
    pub name: String,
    /// The container it runs in; on the host when absent.
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub enum Check {
    Http {
        id: String,
        path: String,
        #[serde(default = "ok_status")]
        status: u16,
        #[serde(default)]
        contains: Option<String>,
        /// `[field, value]`; value `*` only requires the field.
        #[serde(default)]
        json: Option<(String, String)>,
    },
    Tcp {
        id: String,
        port: u16,
        #[serde(default)]
        banner: Option<String>,
        #[serde(default)]
        tls: bool,
    },
    Command {
        id: String,
        argv: Vec<String>,
        #[serde(default)]
        service: Option<String>,
    },
    Dns {
        id: String,
        name: String,
        #[serde(rename = "type")]
        rtype: String,
    },
    Count {
        id: String,
        /// A command printing one number (users, files, rows).
        argv: Vec<String>,
        #[serde(default)]
        service: Option<String>,
    },
}

fn ok_status() -> u16 {
    200
}

#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no recipe named {id:?}{}; known recipes: {}", .suggestion.as_ref().map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default(), .known.join(", "))]
    Unknown {
        id: String,
        suggestion: Option<String>,
        known: Vec<String>,
    },
}

const BUILTIN: &[(&str, &str)] = &[
    ("discourse", include_str!("../../recipes/discourse.toml")),
    ("gitea", include_str!("../../recipes/gitea.toml")),
    ("hometown", include_str!("../../recipes/hometown.toml")),
    ("mailu", include_str!("../../recipes/mailu.toml")),
    ("mastodon", include_str!("../../recipes/mastodon.toml")),
    ("nextcloud", include_str!("../../recipes/nextcloud.toml")),
    (
        "static-site",
        include_str!("../../recipes/static-site.toml"),
    ),
];

/// Parse a recipe's text. `file` is used in messages only.
pub fn parse(file: &str, text: &str) -> Result<Recipe, RecipeError> {
    let recipe: Recipe = crate::toml_file::from_str(text).map_err(|e| RecipeError::Syntax {
        file: file.to_string(),
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    validate(file, &recipe)?;
    Ok(recipe)
}

/// What TOML cannot say: references must point at things that exist.
fn validate(file: &str, r: &Recipe) -> Result<(), RecipeError> {
    let invalid = |message: String| RecipeError::Invalid {
        file: file.to_string(),
        message,
    };
    let services: Vec<&str> = r.services.iter().map(|s| s.name.as_str()).collect();
    let known = |s: &str| services.is_empty() || services.contains(&s);
    for s in &r.services {
        for d in &s.depends_on {
            if !services.contains(&d.as_str()) {
                return Err(invalid(format!(
                    "service {:?} depends on {d:?}, which is not a service of this recipe (services: {})",
                    s.name,
                    services.join(", ")
                )));
            }
        }
    }
    for v in &r.volumes {
        if !known(&v.service) {
            return Err(invalid(format!(
                "volume {:?} belongs to service {:?}, which is not a service of this recipe",
                v.name, v.service
            )));
        }
    }
    for d in &r.databases {
        if let Some(s) = &d.service
            && !known(s)
        {
            return Err(invalid(format!(
                "database {:?} runs in service {s:?}, which is not a service of this recipe",
                d.name
            )));
        }
    }
    if r.app.id.is_empty() {
        return Err(invalid("app.id is empty".into()));
    }
    Ok(())
}

pub fn load_file(path: &Path) -> Result<Recipe, RecipeError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| RecipeError::Io {
        file: file.clone(),
        source,
    })?;
    parse(&file, &text)
}

/// Built-in and user recipes by id; user directories (later wins) replace
/// built-ins of the same id.
pub fn all(dirs: &[PathBuf]) -> Vec<(String, Result<Recipe, RecipeError>)> {
    let mut out: Vec<(String, Result<Recipe, RecipeError>)> = BUILTIN
        .iter()
        .map(|(id, text)| (id.to_string(), parse(&format!("recipes/{id}.toml"), text)))
        .collect();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let Some(id) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .map(str::to_string)
            else {
                continue;
            };
            out.retain(|(i, _)| *i != id);
            out.push((id, load_file(&path)));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

pub fn find(id: &str, dirs: &[PathBuf]) -> Result<Recipe, RecipeError> {
    let all = all(dirs);
    let known: Vec<String> = all.iter().map(|(i, _)| i.clone()).collect();
    match all.into_iter().find(|(i, _)| i == id) {
        Some((_, r)) => r,
        None => Err(RecipeError::Unknown {
            id: id.to_string(),
            suggestion: known
                .iter()
                .filter(|k| crate::text::edit_distance(id, k) <= 2)
                .min_by_key(|k| crate::text::edit_distance(id, k))
                .cloned(),
            known,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_recipe_parses() {
        for (id, text) in BUILTIN {
            let r = parse(id, text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&r.app.id, id);
        }
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let text =
            "[app]\nid = \"x\"\nname = \"X\"\n\n[[volumes]]\nname = \"data\nservice = \"app\"\n";
        let e = parse("bad.toml", text).unwrap_err().to_string();
        assert!(e.starts_with("bad.toml:6:"), "{e}");
    }

    #[test]
    fn unknown_fields_and_bad_types_are_located() {
        let text = "[app]\nid = \"x\"\nname = \"X\"\ncolour = \"red\"\n";
        let e = parse("f.toml", text).unwrap_err().to_string();
        assert!(e.starts_with("f.toml:4:1:"), "{e}");
        assert!(e.contains("colour"), "{e}");
        let text =
            "[app]\nid = \"x\"\nname = \"X\"\n[[services]]\nname = \"app\"\nports = [\"eighty\"]\n";
        let e = parse("g.toml", text).unwrap_err().to_string();
        assert!(e.starts_with("g.toml:6:"), "{e}");
    }

    #[test]
    fn dangling_references_are_refused() {
        let text = "[app]\nid = \"x\"\nname = \"X\"\n[[services]]\nname = \"app\"\ndepends_on = [\"db\"]\n";
        let e = parse("h.toml", text).unwrap_err().to_string();
        assert!(e.contains("depends on \"db\""), "{e}");
    }
}
