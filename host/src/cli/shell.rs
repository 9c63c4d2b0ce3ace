//! `migrate completions bash|zsh|fish` and `migrate man DIR`: what a
//! packaged command-line tool ships, made from the same clap definitions
//! as the parser, so they never drift from it.

use std::path::PathBuf;

use clap::CommandFactory;
use serde_json::{Value, json};

use super::reply::Failure;
use super::{Cli, Global};
use crate::exit;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh or fish.
    #[arg(value_parser = ["bash", "zsh", "fish"])]
    pub shell: String,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Directory to write the pages to (made if missing), e.g. /usr/local/share/man/man1.
    pub dir: PathBuf,
}

pub fn completions(a: CompletionsArgs, g: &Global) -> Result<Value, Failure> {
    use clap_complete::Shell;
    let shell = match a.shell.as_str() {
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        _ => Shell::Bash,
    };
    let mut cmd = super::with_examples(Cli::command());
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "migrate", &mut out);
    let script = String::from_utf8_lossy(&out).into_owned();
    if !g.json {
        print!("{script}");
    }
    Ok(json!({ "shell": a.shell, "script": script }))
}

/// One page per command: `migrate.1`, `migrate-copy.1`, `migrate-copy-status.1`, …
pub fn man(a: ManArgs, g: &Global) -> Result<Value, Failure> {
    let io = |what: &str, e: std::io::Error| {
        Failure::new(
            exit::FAILURE,
            "io",
            format!("{what}: {e}; nothing more was written"),
        )
    };
    std::fs::create_dir_all(&a.dir).map_err(|e| io(&a.dir.display().to_string(), e))?;
    let mut cmd = super::with_examples(Cli::command());
    cmd.build();
    let mut pages = Vec::new();
    let mut todo = vec![("migrate".to_string(), cmd)];
    while let Some((name, c)) = todo.pop() {
        for sub in c.get_subcommands() {
            if sub.is_hide_set() || sub.get_name() == "help" {
                continue;
            }
            todo.push((format!("{name}-{}", sub.get_name()), sub.clone()));
        }
        let mut buf = Vec::new();
        clap_mangen::Man::new(c.clone())
            .title(name.to_uppercase())
            .render(&mut buf)
            .map_err(|e| io(&name, e))?;
        let path = a.dir.join(format!("{name}.1"));
        std::fs::write(&path, &buf).map_err(|e| io(&path.display().to_string(), e))?;
        pages.push(path);
    }
    pages.sort();
    if !g.json {
        for p in &pages {
            println!("{}", p.display());
        }
    }
    Ok(json!({ "pages": pages }))
}
