//! `migrate docker …` and `migrate volume …` (being built).

use super::Global;
use crate::exit;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Inventory of a server's docker: containers, stacks, services, volumes, images.
    Ls {
        /// ssh://user@host:port, user@host, an ssh_config alias, or local.
        host: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct VolumeArgs {
    /// `HOST:VOLUME`
    pub src: String,
    /// `HOST[:VOLUME]`
    pub dst: String,
}

pub fn run(_cmd: Command, _g: &Global) -> u8 {
    eprintln!("error: migrate docker is not available yet");
    exit::FAILURE
}

pub fn volume(_args: VolumeArgs, _g: &Global) -> u8 {
    eprintln!("error: migrate volume is not available yet");
    exit::FAILURE
}
