//! `migrate upgrade-path` (being built).

use super::Global;
use crate::exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub app: String,
    pub from: String,
    pub to: String,
}

pub fn run(_a: Args, _g: &Global) -> u8 {
    exit::FAILURE
}
