//! `migrate plugin list|new|test`.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::Global;
use super::reply::Failure;
use crate::exit;
use crate::plugin::{Expectation, LoadedPlugin, RefusalKind, UpgradeRequest, refusal_kind_name};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List built-in and user plugins, loading each (a broken one is
    /// reported and the others still listed).
    List,
    /// Create a plugin crate that builds to a component and passes its own
    /// tests out of the box.
    New {
        /// Plugin id: lowercase letters, digits and dashes (e.g. `gitea`).
        name: String,
        /// Directory to create the crate in (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// List the files it would write; write nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
    },
    /// Run a plugin's declared examples through the host.
    Test {
        /// A component file (`.wasm`) or the id of an installed plugin.
        plugin: String,
    },
}

pub fn run(cmd: Command, g: &Global) -> Result<Value, Failure> {
    match cmd {
        Command::List => list(g),
        Command::New { name, dir, dry_run } => new(g, &name, dir, dry_run),
        Command::Test { plugin } => test(g, &plugin),
    }
}

fn list(g: &Global) -> Result<Value, Failure> {
    let registry = super::registry(g)?;
    let mut rows = Vec::new();
    let mut broken = 0;
    for source in registry.sources() {
        let origin = source.origin.to_string();
        match registry.load_source(source).and_then(|p| p.info()) {
            Ok(info) => rows.push(json!({
                "id": source.id, "name": info.display_name, "plugin_version": info.plugin_version,
                "supports": info.supports, "origin": origin, "replaces_builtin": source.shadows_builtin,
                "ok": true,
            })),
            Err(e) => {
                broken += 1;
                rows.push(json!({"id": source.id, "origin": origin, "ok": false, "error": e.to_string()}));
            }
        }
    }
    if !g.json {
        for r in &rows {
            let id = r["id"].as_str().unwrap_or("?");
            let origin = r["origin"].as_str().unwrap_or("?");
            if r["ok"] == true {
                println!(
                    "{id:<12} {:<12} {:<8} {:<10}{} supports {}",
                    r["name"].as_str().unwrap_or(""),
                    r["plugin_version"].as_str().unwrap_or(""),
                    origin,
                    if r["replaces_builtin"] == true {
                        " (replaces the built-in)"
                    } else {
                        ""
                    },
                    r["supports"].as_str().unwrap_or("")
                );
            } else {
                println!(
                    "{id:<12} BROKEN ({origin}): {}",
                    r["error"].as_str().unwrap_or("")
                );
            }
        }
    }
    // User plugins with a built-in's name that were not allowed to replace it.
    let refused: Vec<Value> = registry
        .refused_overrides()
        .map(|(id, path)| json!({"id": id, "origin": path, "used": false,
            "reason": format!("has the name of a built-in; pass --allow-plugin-override {id} to use it instead")}))
        .collect();
    if !g.json {
        for r in &refused {
            println!(
                "{:<12} NOT USED ({}): {}",
                r["id"].as_str().unwrap_or("?"),
                r["origin"].as_str().unwrap_or("?"),
                r["reason"].as_str().unwrap_or("")
            );
        }
    }
    let result = json!({ "plugins": rows, "refused_overrides": refused });
    if broken > 0 {
        Err(Failure::new(
            exit::PLUGIN_ERROR,
            "plugin-error",
            format!("{broken} plugin(s) are broken"),
        )
        .with_result(result)
        .told())
    } else {
        Ok(result)
    }
}

fn new(g: &Global, name: &str, dir: Option<PathBuf>, dry_run: bool) -> Result<Value, Failure> {
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    if dry_run {
        let files: Vec<String> = crate::plugin::scaffold::files(name, &dir)?
            .iter()
            .map(|(rel, content)| {
                format!(
                    "write {} ({} bytes)",
                    dir.join(rel).display(),
                    content.len()
                )
            })
            .collect();
        return Ok(super::docker_dry_run::finish(
            g,
            format!("plugin new {name} in {}", dir.display()),
            files,
            json!({"id": name, "dir": dir}),
        ));
    }
    crate::plugin::scaffold::create(name, &dir)?;
    if !g.json {
        let lib = crate::plugin::scaffold::lib_name(name);
        println!("created plugin {name:?} in {}", dir.display());
        println!(
            "  build: cd {} && cargo build --release --target wasm32-wasip2",
            dir.display()
        );
        println!(
            "  test:  cargo test && migrate plugin test target/wasm32-wasip2/release/{lib}.wasm"
        );
        println!(
            "  use:   cp target/wasm32-wasip2/release/{lib}.wasm {}/{name}.wasm",
            crate::paths::user_plugin_dir().display()
        );
    }
    Ok(json!({"created": dir, "id": name}))
}

fn load_for_test(g: &Global, what: &str) -> Result<LoadedPlugin, Failure> {
    let registry = super::registry(g)?;
    let path = PathBuf::from(what);
    let loaded = if path.exists() || what.ends_with(".wasm") {
        registry.load_file(&path)
    } else {
        registry.load(what)
    };
    Ok(loaded?)
}

fn test(g: &Global, what: &str) -> Result<Value, Failure> {
    let plugin = load_for_test(g, what)?;
    let examples = plugin.examples()?;
    let (mut passed, mut failed) = (0, 0);
    let mut results = Vec::new();
    for ex in &examples {
        let req = UpgradeRequest {
            from: ex.from.clone(),
            to: ex.to.clone(),
            zero_downtime: ex.zero_downtime,
            facts: Vec::new(),
        };
        let got = match plugin.upgrade_path(&req) {
            Ok(Ok(plan)) => Ok(plan.hops.iter().map(|h| h.to.clone()).collect::<Vec<_>>()),
            Ok(Err(r)) => Err(r.kind),
            Err(e) => return Err(e.into()),
        };
        let ok = match (&ex.expect, &got) {
            (Expectation::Hops(want), Ok(hops)) => want == hops,
            (Expectation::Refused(want), Err(kind)) => want == kind,
            _ => false,
        };
        let describe = |r: &Result<Vec<String>, RefusalKind>| match r {
            Ok(h) if h.is_empty() => "no hops".to_string(),
            Ok(h) => format!("hops {}", h.join(" → ")),
            Err(k) => format!("refused ({})", refusal_kind_name(*k)),
        };
        let want = match &ex.expect {
            Expectation::Hops(h) => describe(&Ok(h.clone())),
            Expectation::Refused(k) => describe(&Err(*k)),
        };
        let label = format!(
            "{} → {}{}",
            ex.from,
            ex.to,
            if ex.zero_downtime {
                " (zero downtime)"
            } else {
                ""
            }
        );
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
        results.push(json!({"example": label, "ok": ok, "expected": want, "got": describe(&got)}));
        if !g.json {
            if ok {
                println!("ok   {label}: {want}");
            } else {
                println!("FAIL {label}: expected {want}, got {}", describe(&got));
            }
        }
    }
    if !g.json {
        println!("{passed} passed, {failed} failed");
    }
    let result =
        json!({"plugin": plugin.id, "passed": passed, "failed": failed, "results": results});
    if examples.is_empty() {
        return Err(Failure::new(
            exit::FAILURE,
            "no-examples",
            format!("plugin {:?} declares no examples", plugin.id),
        )
        .with_result(result));
    }
    if failed > 0 {
        return Err(Failure::new(
            exit::FAILURE,
            "examples-failed",
            format!("{failed} of {} examples failed", examples.len()),
        )
        .with_result(result)
        .told());
    }
    Ok(result)
}
