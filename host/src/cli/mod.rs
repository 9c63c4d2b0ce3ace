//! Command-line surface. Each subcommand lives in its own module with an
//! `Args` struct and a `run` function returning an exit code (see `exit`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit;

pub mod app;
pub mod copy;
pub mod dns;
pub mod docker;
pub mod mail;
pub mod plugin;
pub mod recipe;
pub mod render;
pub mod upgrade_path;

#[derive(Debug, Parser)]
#[command(
    name = "migrate",
    version,
    about = "Move self-hosted apps from one server to another: plan, copy, cut over, verify.",
    after_help = exit::TABLE
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand understands.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// More logging (-v info, -vv debug, -vvv trace). Secrets are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Extra directory of user plugins (`NAME.wasm`); the data dir's
    /// `plugins/` is always searched too.
    #[arg(long, global = true, env = "MIGRATE_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the upgrade hops between two versions of an app, or why there is none.
    UpgradePath(upgrade_path::Args),
    /// List, scaffold and test plugins.
    #[command(subcommand)]
    Plugin(plugin::Command),
    /// List, show and check app recipes (recipes/*.toml).
    #[command(subcommand)]
    Recipe(recipe::Command),
    /// Copy a directory tree server to server (tar over ssh, resumable, verified).
    Copy(copy::Args),
    /// Show the progress of detached copies.
    Status(copy::StatusArgs),
    /// Remove temporary keys and state left by copies (also after a crash).
    Cleanup(copy::CleanupArgs),
    /// DNS for migrations: TTLs, wildcard test record, cutover, restore, mail records.
    #[command(subcommand)]
    Dns(dns::Command),
    /// Mail migrations: mailboxes IMAP to IMAP, users, mail DNS checks.
    #[command(subcommand)]
    Mail(mail::Command),
    /// Docker through the docker API over SSH: inventory, stop/start, docker-root moves,
    /// databases piped into containers, ownership.
    #[command(subcommand)]
    Docker(docker::Command),
    /// Move a named docker volume server to server.
    Volume(docker::VolumeArgs),
    /// Plan a whole app migration: ordered steps from the recipe, the plugin and the servers.
    Plan(app::PlanArgs),
    /// Migrate a whole app, phase by phase, journaled and resumable.
    App(app::Args),
    /// Where a migration stands (or its final report with --report).
    AppStatus(app::StatusArgs),
    /// Return to the source before the point of no return.
    Abort(app::AbortArgs),
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    crate::logging::init(cli.global.verbose);
    let code = match cli.command {
        Command::UpgradePath(args) => upgrade_path::run(args, &cli.global),
        Command::Plugin(cmd) => plugin::run(cmd, &cli.global),
        Command::Recipe(cmd) => recipe::run(cmd, &cli.global),
        Command::Copy(args) => copy::run(args, &cli.global),
        Command::Status(args) => copy::status(args, &cli.global),
        Command::Cleanup(args) => copy::cleanup(args, &cli.global),
        Command::Dns(cmd) => dns::run(cmd, &cli.global),
        Command::Mail(cmd) => mail::run(cmd, &cli.global),
        Command::Docker(cmd) => docker::run(cmd, &cli.global),
        Command::Volume(args) => docker::volume(args, &cli.global),
        Command::Plan(args) => app::plan(args, &cli.global),
        Command::App(args) => app::run(args, &cli.global),
        Command::AppStatus(args) => app::status(args, &cli.global),
        Command::Abort(args) => app::abort(args, &cli.global),
    };
    ExitCode::from(code)
}

/// Print an error chain the way every subcommand does: the problem, then
/// each cause on its own line.
pub fn report_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

/// The plugin registry for this run: built-ins, the data dir's `plugins/`,
/// and `--plugin-dir`. On failure the error is printed and the exit code
/// returned.
pub fn registry(g: &Global) -> Result<crate::plugin::Registry, u8> {
    let cache = crate::paths::cache_dir().join("wasmtime");
    let engine = crate::plugin::PluginEngine::new(Some(&cache), Default::default())
        .map_err(|e| plugin_failed(g, &e))?;
    let mut dirs = vec![crate::paths::user_plugin_dir()];
    dirs.extend(g.plugin_dir.clone());
    crate::plugin::Registry::discover(std::sync::Arc::new(engine), &dirs)
        .map_err(|e| plugin_failed(g, &e))
}

/// Report a broken plugin (exit code 4), or a bad plugin name (exit code 2).
pub fn plugin_failed(g: &Global, e: &crate::plugin::PluginError) -> u8 {
    let (code, kind) = match e {
        crate::plugin::PluginError::Unknown { .. } => (exit::BAD_INPUT, "unknown-plugin"),
        crate::plugin::PluginError::Dir { .. } => (exit::BAD_INPUT, "plugin-dir"),
        _ => (exit::PLUGIN_ERROR, "plugin-error"),
    };
    if g.json {
        println!(
            "{}",
            serde_json::json!({"outcome": "error", "error": {"kind": kind, "message": e.to_string()}})
        );
    } else {
        eprintln!("error: {e}");
    }
    code
}
