//! `migrate copy`, `migrate status`, `migrate cleanup` (being built).

use super::Global;
use crate::exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source, `HOST:PATH` (HOST is ssh://user@host:port, user@host, an ssh_config alias, or local).
    pub src: String,
    /// Destination, `HOST:PATH`.
    pub dst: String,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

#[derive(Debug, clap::Args)]
pub struct CleanupArgs {}

pub fn run(_args: Args, _g: &Global) -> u8 {
    eprintln!("error: migrate copy is not available yet");
    exit::FAILURE
}

pub fn status(_args: StatusArgs, _g: &Global) -> u8 {
    eprintln!("error: migrate status is not available yet");
    exit::FAILURE
}

pub fn cleanup(_args: CleanupArgs, _g: &Global) -> u8 {
    eprintln!("error: migrate cleanup is not available yet");
    exit::FAILURE
}
