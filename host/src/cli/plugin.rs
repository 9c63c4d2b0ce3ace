//! `migrate plugin list|new|test` (being built).

use super::Global;
use crate::exit;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List built-in and user plugins.
    List,
}

pub fn run(_cmd: Command, _g: &Global) -> u8 {
    exit::FAILURE
}
