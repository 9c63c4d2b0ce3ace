//! `migrate upgrade-path APP FROM TO`: the hops between two versions of an
//! app, with their steps and notes, or the refusal and its reason.

use serde_json::{Value, json};

use super::Global;
use super::render;
use super::reply::Failure;
use crate::exit;
use crate::plugin::{
    Refusal, RefusalKind, UpgradePlan, UpgradeRequest, Version, refusal_kind_name,
};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 a path exists, 2 bad input (unknown app, malformed or \
unknown version), 3 refused (downgrade, no path, precondition), 4 the plugin is broken."
)]
pub struct Args {
    /// The app (`migrate plugin list` shows them).
    pub app: String,
    /// The version running now (`v` prefix, 4-part, betas and Co-op Cloud
    /// recipe versions like `5.0.0+28.0.4` are understood).
    pub from: String,
    /// The version the destination will run.
    pub to: String,
    /// Keep the app running during database migrations (where the app
    /// supports it).
    #[arg(long)]
    pub zero_downtime: bool,
    /// A fact about the destination, e.g. `postgresql-version=15.4`,
    /// `free-disk-bytes=...`; repeatable.
    #[arg(long = "fact", value_name = "KEY=VALUE", value_parser = parse_fact)]
    pub facts: Vec<(String, String)>,
}

fn parse_fact(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

pub fn run(args: Args, g: &Global) -> Result<Value, Failure> {
    let registry = super::registry(g)?;
    let plugin = match registry.load(&args.app) {
        Ok(p) => p,
        Err(crate::plugin::PluginError::Unknown { id, suggestions }) => {
            let known = registry.ids();
            let message = format!(
                "no app named {id:?}{}; known apps: {}",
                match suggestions.first() {
                    Some(s) => format!(" (did you mean {s:?}?)"),
                    None => String::new(),
                },
                known.join(", ")
            );
            let suggestions = if suggestions.is_empty() {
                known
            } else {
                suggestions
            };
            return Err(bad_input(g, "unknown-app", &message, &suggestions));
        }
        Err(e) => return Err(e.into()),
    };

    // Parse both ends first: bad input is exit 2, whatever the path.
    let mut versions = Vec::new();
    for raw in [&args.from, &args.to] {
        match plugin.parse(raw) {
            Ok(Ok(v)) => versions.push(v),
            Ok(Err(refusal)) => {
                return Err(bad_input(
                    g,
                    refusal_kind_name(refusal.kind),
                    &refusal.message,
                    &refusal.suggestions,
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let req = UpgradeRequest {
        from: args.from.clone(),
        to: args.to.clone(),
        zero_downtime: args.zero_downtime,
        facts: args.facts.clone(),
    };
    match plugin.upgrade_path(&req)? {
        Ok(plan) => {
            // A user plugin's answer says which file (and which bytes) gave it.
            if let (Some(sha), false) = (&plugin.sha256, g.json) {
                println!("(user plugin {}, sha256 {sha})", plugin.origin);
            }
            let mut v = print_plan(g, &args.app, &versions[0], &versions[1], &plan);
            v["plugin"] =
                json!({"id": plugin.id, "origin": plugin.origin, "sha256": plugin.sha256});
            Ok(v)
        }
        Err(refusal) => {
            // A version the plugin parses but does not know is still bad input.
            if matches!(
                refusal.kind,
                RefusalKind::MalformedVersion | RefusalKind::UnknownVersion
            ) {
                return Err(bad_input(
                    g,
                    refusal_kind_name(refusal.kind),
                    &refusal.message,
                    &refusal.suggestions,
                ));
            }
            Err(refused(g, &refusal))
        }
    }
}

/// Input the plugin cannot use (exit 2), with the nearest valid choices.
fn bad_input(g: &Global, kind: &str, message: &str, suggestions: &[String]) -> Failure {
    if !g.json {
        eprintln!("error ({kind}): {message}");
        if !suggestions.is_empty() {
            eprintln!("  nearest valid choices: {}", suggestions.join(", "));
        }
    }
    Failure::new(exit::BAD_INPUT, kind, message)
        .with_suggestions(suggestions.to_vec())
        .told()
}

/// No path (exit 3): the plugin's refusal and what to do instead. It is
/// the answer to the question, so a person reads it on stdout.
fn refused(g: &Global, r: &Refusal) -> Failure {
    if !g.json {
        println!("refused ({}): {}", refusal_kind_name(r.kind), r.message);
        if !r.suggestions.is_empty() {
            println!("  instead: {}", r.suggestions.join(", "));
        }
    }
    Failure::new(exit::REFUSED, refusal_kind_name(r.kind), r.message.clone())
        .with_suggestions(r.suggestions.clone())
        .told()
}

fn version_json(v: &Version) -> Value {
    json!({
        "raw": v.raw, "canonical": v.canonical, "display": v.display,
        "series": v.series, "prerelease": v.prerelease,
    })
}

/// Print the hops for a person (without --json) and return them as the result.
fn print_plan(g: &Global, app: &str, from: &Version, to: &Version, plan: &UpgradePlan) -> Value {
    let v = json!({
            "app": app,
            "from": version_json(from),
            "to": version_json(to),
            "hops": plan.hops.iter().map(|h| json!({
                "from": h.from, "to": h.to,
                "steps": h.steps.iter().map(render::step_json).collect::<Vec<_>>(),
                "notes": h.notes,
            })).collect::<Vec<_>>(),
            "preconditions": plan.preconditions.iter().map(|p| json!({
                "what": p.what, "requirement": p.requirement, "met": p.met, "reason": p.reason,
            })).collect::<Vec<_>>(),
            "caveats": plan.caveats,
    });
    if g.json {
        return v;
    }
    let n = plan.hops.len();
    if n == 0 {
        println!(
            "{app} {} → {}: nothing to upgrade",
            from.display, to.display
        );
    } else {
        println!(
            "{app} {} → {}: {n} hop{}",
            from.display,
            to.display,
            if n == 1 { "" } else { "s" }
        );
    }
    for (i, hop) in plan.hops.iter().enumerate() {
        println!("\n  {}. {} → {}", i + 1, hop.from, hop.to);
        for step in &hop.steps {
            println!("     {}", render::step_line(step));
        }
        for note in &hop.notes {
            println!("     note: {note}");
        }
    }
    if !plan.preconditions.is_empty() {
        println!("\n  preconditions:");
        for p in &plan.preconditions {
            let mark = match p.met {
                Some(true) => "ok     ",
                Some(false) => "FAILED ",
                None => "unknown",
            };
            println!("    [{mark}] {} {}: {}", p.what, p.requirement, p.reason);
        }
    }
    if !plan.caveats.is_empty() {
        println!("\n  caveats:");
        for c in &plan.caveats {
            println!("    ! {c}");
        }
    }
    v
}
