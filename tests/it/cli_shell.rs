//! `migrate completions`, `migrate man`, and the examples every `--help`
//! ends with. No servers needed.

use std::process::{Command, Stdio};

use crate::support::cli::{migrate, run, stderr, stdout};

/// Every visible command path (`["copy", "status"]`), from the help itself.
fn commands(home: &std::path::Path, path: &[String]) -> Vec<Vec<String>> {
    let o = run(migrate(home).args(path).arg("--help"));
    let help = stdout(&o);
    let mut out = vec![path.to_vec()];
    if let Some(start) = help.find("Commands:") {
        for line in help[start..].lines().skip(1) {
            if line.trim().is_empty() {
                break;
            }
            let name = line.split_whitespace().next().unwrap_or_default();
            if name != "help" {
                let mut p = path.to_vec();
                p.push(name.to_string());
                out.extend(commands(home, &p));
            }
        }
    }
    out
}

#[test]
fn bash_completion_is_valid_bash_and_knows_the_commands() {
    let home = tempfile::tempdir().unwrap();
    let o = run(migrate(home.path()).args(["completions", "bash"]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let script = stdout(&o);
    for word in ["copy", "root-relocate", "--dry-run", "--new-ip"] {
        assert!(script.contains(word), "no {word} in the bash completion");
    }
    // `migrate completions bash | bash -n`
    let mut bash = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash");
    use std::io::Write;
    bash.stdin.take().unwrap().write_all(&o.stdout).unwrap();
    let b = bash.wait_with_output().unwrap();
    assert!(
        b.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&b.stderr)
    );
    // And it completes: loaded into bash, `migrate co<TAB>` offers copy and completions.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.bash"), &o.stdout).unwrap();
    let t = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}/c.bash; COMP_WORDS=(migrate co); COMP_CWORD=1; _migrate migrate co migrate; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            dir.path().display()
        ))
        .output()
        .unwrap();
    let offered = String::from_utf8_lossy(&t.stdout);
    assert!(
        offered.lines().any(|l| l == "copy") && offered.lines().any(|l| l == "completions"),
        "{offered}"
    );

    for shell in ["zsh", "fish"] {
        let o = run(migrate(home.path()).args(["completions", shell]));
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        assert!(stdout(&o).contains("root-relocate"), "{shell}");
    }
    let o = run(migrate(home.path()).args(["completions", "tcsh"]));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn man_writes_one_page_per_command() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("man1");
    let o = run(migrate(home.path()).arg("man").arg(&dir));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut want: Vec<String> = commands(home.path(), &[])
        .into_iter()
        .map(|p| {
            let mut n = vec!["migrate".to_string()];
            n.extend(p);
            format!("{}.1", n.join("-"))
        })
        .collect();
    want.sort();
    let mut got: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    got.sort();
    assert_eq!(got, want, "one page per command, no more");
    assert!(want.len() > 40, "{want:?}");
    let page = std::fs::read_to_string(dir.join("migrate-copy.1")).unwrap();
    assert!(
        page.starts_with(".ie") || page.starts_with(".TH"),
        "not roff: {}",
        &page[..80.min(page.len())]
    );
    assert!(
        page.contains("\\-\\-exclude") && page.contains("Examples:"),
        "{page}"
    );
    // man itself can format it.
    if Command::new("man").arg("--version").output().is_ok() {
        let m = Command::new("man")
            .arg("-l")
            .arg(dir.join("migrate-copy-status.1"))
            .env("MANPAGER", "cat")
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&m.stdout).contains("wait"),
            "{}",
            String::from_utf8_lossy(&m.stderr)
        );
    }
}

#[test]
fn every_help_ends_with_two_or_three_examples() {
    let home = tempfile::tempdir().unwrap();
    for path in commands(home.path(), &[]) {
        let o = run(migrate(home.path()).args(&path).arg("--help"));
        let help = stdout(&o);
        let tail = help
            .trim_end()
            .rsplit("Examples:")
            .next()
            .unwrap_or_default();
        assert!(help.contains("Examples:"), "{path:?}: no examples:\n{help}");
        let lines: Vec<&str> = tail.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!((2..=3).contains(&lines.len()), "{path:?}: {lines:?}");
        for l in &lines {
            let l = l.trim();
            assert!(
                l.starts_with("migrate ") || l.contains(" migrate "),
                "{path:?}: {l}"
            );
            // An example names the command it illustrates.
            let words: Vec<&str> = path.iter().map(String::as_str).collect();
            if !words.is_empty() {
                assert!(l.contains(&words.join(" ")), "{path:?}: {l}");
            }
        }
    }
}
