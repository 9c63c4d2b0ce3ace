//! `migrate dns …` (being built).

use super::Global;
use crate::exit;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show what a DNS cutover would change and when it is safe.
    Plan {
        #[arg(long)]
        domain: String,
    },
}

pub fn run(_cmd: Command, _g: &Global) -> u8 {
    eprintln!("error: migrate dns is not available yet");
    exit::FAILURE
}
