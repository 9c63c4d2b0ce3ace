//! Logging setup: `-v` raises the level; `RUST_LOG` overrides it. Logs go
//! to stderr, so stdout holds only results (the `--json` envelope).

use tracing_subscriber::EnvFilter;

pub fn init(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colour only for a person at a terminal: CI logs and files get plain
    // text, and NO_COLOR (no-color.org) is honoured.
    let colour = migrate_progress::colour_on_stderr();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
