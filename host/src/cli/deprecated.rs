//! Old spellings of options and environment variables. Each flag has one
//! meaning (`--from`/`--to` are servers, a new address is `--new-ip`,
//! secrets come by `--secret-file` or a `MIGRATE_*` variable); the names
//! used before that rule still parse, as hidden clap aliases, and this
//! module prints the one-line note that tells the operator the new name.

use std::ffi::OsString;

/// An option renamed for the commands whose path starts with `command`.
struct Renamed {
    command: &'static str,
    old: &'static str,
    new: &'static str,
}

const RENAMED: &[Renamed] = &[
    Renamed {
        command: "dns mail-check",
        old: "--ip",
        new: "--new-ip",
    },
    Renamed {
        command: "dns",
        old: "--to",
        new: "--new-ip",
    },
    Renamed {
        command: "mail cutover",
        old: "--mx-host",
        new: "--mail-host",
    },
    Renamed {
        command: "mail users",
        old: "--token-file",
        new: "--secret-file",
    },
];

/// The notes for the old option spellings in `argv`, given the subcommand
/// path clap resolved (`dns cutover`).
pub fn option_notes(command: &str, argv: &[OsString]) -> Vec<String> {
    let words: Vec<&str> = argv
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .take_while(|a| *a != "--")
        .collect();
    let mut notes = Vec::new();
    for r in RENAMED {
        let applies = command == r.command || command.starts_with(&format!("{} ", r.command));
        let used = words
            .iter()
            .any(|w| *w == r.old || w.starts_with(&format!("{}=", r.old)));
        if applies && used && !notes.iter().any(|n: &String| n.contains(r.old)) {
            notes.push(format!(
                "note: `{}` is deprecated for `migrate {command}`; use `{}`",
                r.old, r.new
            ));
        }
    }
    notes
}

/// Commands that moved into a group: (old, new).
const MOVED: &[(&str, &str)] = &[
    ("plan", "app plan"),
    ("app-status", "app status"),
    ("abort", "app abort"),
    ("status", "copy status"),
    ("cleanup", "copy cleanup"),
    ("volume", "docker volume"),
];

/// The note for a command typed in its old form, if it is one.
pub fn command_note(command: &str) -> Option<String> {
    let first = command.split(' ').next().unwrap_or_default();
    MOVED
        .iter()
        .find(|(old, _)| *old == first)
        .map(|(old, new)| {
            format!("note: `migrate {old}` is now `migrate {new}`; the old form still works")
        })
}

/// Print `command_note` on stderr.
pub fn warn_command(command: &str) {
    if let Some(n) = command_note(command) {
        eprintln!("{n}");
    }
}

/// Print `option_notes` on stderr.
pub fn warn_options(command: &str, argv: &[OsString]) {
    for n in option_notes(command, argv) {
        eprintln!("{n}");
    }
}

/// An environment variable renamed to `new`: `new` wins; `old` still
/// works, with a note on stderr.
pub fn env_var(new: &str, old: &str) -> Option<String> {
    if let Ok(v) = std::env::var(new) {
        return Some(v);
    }
    let v = std::env::var(old).ok()?;
    eprintln!("note: the environment variable {old} is deprecated; use {new}");
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("migrate")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn old_spelling_gets_one_note_naming_the_new_one() {
        let n = option_notes(
            "dns cutover",
            &argv(&[
                "dns",
                "cutover",
                "--domain",
                "a.example",
                "--to",
                "192.0.2.1",
            ]),
        );
        assert_eq!(
            n,
            ["note: `--to` is deprecated for `migrate dns cutover`; use `--new-ip`"]
        );
        let n = option_notes("mail cutover", &argv(&["mail", "cutover", "--mx-host=m"]));
        assert_eq!(n.len(), 1);
        assert!(n[0].contains("`--mail-host`"), "{n:?}");
    }

    #[test]
    fn new_spellings_and_other_commands_get_none() {
        assert!(
            option_notes(
                "dns plan",
                &argv(&["dns", "plan", "--domain", "a", "--new-ip", "192.0.2.1"])
            )
            .is_empty()
        );
        // `--to` is a server for `app` and `mail sync`: not renamed there.
        assert!(option_notes("app", &argv(&["app", "x", "--to", "new"])).is_empty());
        assert!(
            option_notes("mail sync", &argv(&["mail", "sync", "--to", "imaps://b"])).is_empty()
        );
        // After `--` nothing is an option.
        assert!(option_notes("dns plan", &argv(&["dns", "plan", "--", "--to"])).is_empty());
    }
}
