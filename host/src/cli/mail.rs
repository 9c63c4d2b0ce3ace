//! `migrate mail …` (being built).

use super::Global;
use crate::exit;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Copy mailboxes from one IMAP server to another.
    Sync {},
}

pub fn run(_cmd: Command, _g: &Global) -> u8 {
    eprintln!("error: migrate mail is not available yet");
    exit::FAILURE
}
