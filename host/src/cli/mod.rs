//! Command-line surface. Each subcommand lives in its own module with an
//! `Args` struct and a `run` function returning its result or its failure;
//! `reply` turns that into the exit code and the `--json` envelope.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::exit;
use reply::Failure;

pub mod app;
pub mod bwlimit;
pub mod copy;
pub mod deprecated;
pub mod dns;
pub mod docker;
pub mod docker_dry_run;
pub mod examples;
pub mod mail;
pub mod mailu_from_imap;
pub mod plugin;
pub mod recipe;
pub mod render;
pub mod reply;
pub mod shell;
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
    /// Machine-readable output: one JSON document on stdout, the same
    /// envelope for every command (README, "JSON output").
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress (bars on a terminal, a line every few seconds in a log,
    /// JSON lines on stderr with --json); results and errors still show.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Extra directory of user plugins (`NAME.wasm`); the data dir's
    /// `plugins/` is always searched too.
    #[arg(long, global = true, env = "MIGRATE_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,
    /// Let the user plugin NAME.wasm replace the built-in plugin NAME
    /// (refused otherwise); repeatable. Plans show its sha256.
    #[arg(long = "allow-plugin-override", value_name = "NAME", global = true)]
    pub allow_plugin_override: Vec<String>,
}

impl Global {
    /// Where this command's progress goes (README, "Progress").
    pub fn progress(&self) -> migrate_progress::Progress {
        migrate_progress::Progress::new(migrate_progress::Style::detect(self.quiet, self.json))
    }
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
    /// Copy a directory tree server to server (tar over ssh, resumable,
    /// verified); `copy status` and `copy cleanup` follow and tidy up copies.
    Copy(copy::Group),
    /// Old form of `copy status`.
    #[command(hide = true)]
    Status(copy::StatusArgs),
    /// Old form of `copy cleanup`.
    #[command(hide = true)]
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
    /// Old form of `docker volume`.
    #[command(hide = true)]
    Volume(docker::VolumeArgs),
    /// Old form of `app plan`.
    #[command(hide = true)]
    Plan(app::PlanArgs),
    /// A whole app migration: `app plan`, `app run` (also `app NAME …`),
    /// `app status`, `app abort`, `app list`.
    App(Box<app::Group>),
    /// Old form of `app status`.
    #[command(hide = true)]
    AppStatus(app::StatusArgs),
    /// Old form of `app abort`.
    #[command(hide = true)]
    Abort(app::AbortArgs),
    /// Print a shell completion script (bash, zsh or fish).
    Completions(shell::CompletionsArgs),
    /// Write the manual pages, one per command, into DIR.
    Man(shell::ManArgs),
}

pub fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let matches = match with_examples(Cli::command()).try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => return ExitCode::from(usage_error(&e, &argv)),
    };
    let name = command_name(&matches);
    deprecated::warn_options(&name, &argv);
    deprecated::warn_command(&name);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(usage_error(&e, &argv)),
    };
    crate::logging::init(cli.global.verbose);
    let g = &cli.global;
    let outcome = match cli.command {
        Command::UpgradePath(args) => upgrade_path::run(args, g),
        Command::Plugin(cmd) => plugin::run(cmd, g),
        Command::Recipe(cmd) => recipe::run(cmd, g),
        Command::Copy(grp) => copy::run_group(grp, g),
        Command::Status(args) => copy::status(args, g),
        Command::Cleanup(args) => copy::cleanup(args, g),
        Command::Dns(cmd) => dns::run(cmd, g),
        Command::Mail(cmd) => mail::run(cmd, g),
        Command::Docker(cmd) => docker::run(cmd, g),
        Command::Volume(args) => docker::volume(args, g),
        Command::Plan(args) => app::plan(args, g),
        Command::App(grp) => app::run_group(*grp, g),
        Command::AppStatus(args) => app::status(args, g),
        Command::Abort(args) => app::abort(args, g),
        Command::Completions(args) => shell::completions(args, g),
        Command::Man(args) => shell::man(args, g),
    };
    ExitCode::from(reply::finish(&name, outcome, g.json))
}

/// The command tree with every help's examples.
pub fn with_examples(cmd: clap::Command) -> clap::Command {
    examples::add(cmd)
}

/// The subcommand path as typed, e.g. `dns lower`: the envelope's `command`.
fn command_name(m: &clap::ArgMatches) -> String {
    let mut parts = Vec::new();
    let mut m = m;
    while let Some((name, sub)) = m.subcommand() {
        parts.push(name.to_string());
        m = sub;
    }
    parts.join(" ")
}

/// A command line clap could not parse: exit 2 with clap's message on
/// stderr and, with `--json`, the envelope on stdout too. `--help` and
/// `--version` are not errors.
fn usage_error(e: &clap::Error, argv: &[OsString]) -> u8 {
    let _ = e.print();
    if !e.use_stderr() {
        return exit::OK;
    }
    let json = argv
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json");
    let message = e.render().to_string();
    let message = message
        .trim()
        .trim_start_matches("error: ")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    if json {
        let failure = Failure::new(exit::BAD_INPUT, "usage", message);
        reply::print_envelope(&typed_command(argv), &Err(failure));
    }
    exit::BAD_INPUT
}

/// The subcommand path in a command line clap refused: the words that
/// name subcommands, in order.
fn typed_command(argv: &[OsString]) -> String {
    let mut cmd = Cli::command();
    let mut parts = Vec::new();
    for a in argv.iter().skip(1).filter_map(|a| a.to_str()) {
        if a.starts_with('-') {
            continue;
        }
        let Some(sub) = cmd.find_subcommand(a).cloned() else {
            continue;
        };
        parts.push(sub.get_name().to_string());
        cmd = sub;
    }
    parts.join(" ")
}

/// The plugin registry for this run: built-ins, the data dir's `plugins/`,
/// and `--plugin-dir`.
pub fn registry(g: &Global) -> Result<crate::plugin::Registry, Failure> {
    let cache = crate::paths::cache_dir().join("wasmtime");
    let engine = crate::plugin::PluginEngine::new(Some(&cache), Default::default())?;
    let mut dirs = vec![crate::paths::user_plugin_dir()];
    dirs.extend(g.plugin_dir.clone());
    Ok(crate::plugin::Registry::discover(
        std::sync::Arc::new(engine),
        &dirs,
        &g.allow_plugin_override,
    )?)
}
