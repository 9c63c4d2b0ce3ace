//! `migrate recipe list|show|check`.

use std::path::PathBuf;

use serde_json::json;

use super::Global;
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

pub fn run(cmd: Command, g: &Global) -> u8 {
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
            if g.json {
                println!("{}", json!({ "recipes": rows }));
            } else {
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
            if broken > 0 {
                exit::BAD_INPUT
            } else {
                exit::OK
            }
        }
        Command::Show { id } => match recipe::find(&id, &dirs()) {
            Ok(r) => {
                match serde_json::to_string_pretty(&r) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return exit::FAILURE;
                    }
                }
                exit::OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                exit::BAD_INPUT
            }
        },
        Command::Check { file } => match recipe::load_file(&file) {
            Ok(r) => {
                if g.json {
                    println!("{}", json!({"file": file, "ok": true, "id": r.app.id}));
                } else {
                    println!("{}: recipe {:?} is valid", file.display(), r.app.id);
                }
                exit::OK
            }
            Err(e) => {
                if g.json {
                    println!(
                        "{}",
                        json!({"file": file, "ok": false, "error": e.to_string()})
                    );
                }
                eprintln!("error: {e}");
                exit::BAD_INPUT
            }
        },
    }
}
