//! `migrate recipe list|show|check`.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::Global;
use super::reply::{Failure, to_json};
use crate::exit;
use crate::recipe;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List built-in and user recipes (a broken one is reported with its
    /// file, line and column).
    List,
    /// Show one recipe as JSON.
    Show { id: String },
    /// Check a recipe file: exit 0 when valid, 2 with file:line:column otherwise.
    Check { file: PathBuf },
}

fn dirs() -> Vec<PathBuf> {
    vec![crate::paths::data_dir().join("recipes")]
}

pub fn run(cmd: Command, g: &Global) -> Result<Value, Failure> {
    match cmd {
        Command::List => {
            let mut broken = 0;
            let mut rows = Vec::new();
            for (id, r) in recipe::all(&dirs()) {
                match r {
                    Ok(r) => rows.push(
                        json!({"id": id, "name": r.app.name, "plugin": r.app.plugin, "ok": true}),
                    ),
                    Err(e) => {
                        broken += 1;
                        rows.push(json!({"id": id, "ok": false, "error": e.to_string()}));
                    }
                }
            }
            if !g.json {
                for r in &rows {
                    let id = r["id"].as_str().unwrap_or("?");
                    match r["error"].as_str() {
                        Some(e) => println!("{id:<12} BROKEN: {e}"),
                        None => println!(
                            "{id:<12} {:<12} plugin: {}",
                            r["name"].as_str().unwrap_or(""),
                            r["plugin"].as_str().unwrap_or("none (recipe only)")
                        ),
                    }
                }
            }
            let result = json!({ "recipes": rows });
            if broken > 0 {
                Err(Failure::new(
                    exit::BAD_INPUT,
                    "recipe",
                    format!("{broken} recipe(s) are broken"),
                )
                .with_result(result)
                .told())
            } else {
                Ok(result)
            }
        }
        Command::Show { id } => {
            let r = recipe::find(&id, &dirs())?;
            let v = to_json(&r);
            // A recipe is JSON either way: without --json, the bare
            // document, pretty-printed for reading.
            if !g.json {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
            Ok(v)
        }
        Command::Check { file } => {
            let r = recipe::load_file(&file)
                .map_err(|e| Failure::from(e).with_result(json!({ "file": file })))?;
            if !g.json {
                println!("{}: recipe {:?} is valid", file.display(), r.app.id);
            }
            Ok(json!({"file": file, "id": r.app.id}))
        }
    }
}
