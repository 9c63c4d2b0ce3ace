//! The `migrate` binary under test (`CARGO_BIN_EXE_migrate`, built fresh by
//! cargo), run with a home of its own so tests never read or write the
//! operator's state; and the operator's side of one `migrate app` run (its
//! home, migration file and journal, a run killed at a step).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::fixtures::target_dir;

/// The `migrate` binary under test.
pub fn migrate_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_migrate"))
}

/// A `migrate` command with an isolated data/cache dir, so tests never read
/// or write the operator's own state.
pub fn migrate(home: &Path) -> Command {
    let mut cmd = Command::new(migrate_bin());
    cmd.env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env_remove("MIGRATE_PLUGIN_DIR")
        .env_remove("RUST_LOG");
    cmd
}

/// Run and return output; never panics on non-zero status.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spawn migrate")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run a command that answers `--json`: its exit code and the one JSON
/// object on its stdout, or a panic showing what it printed instead.
pub fn run_json(cmd: &mut Command) -> (i32, serde_json::Value, Output) {
    let out = run(cmd);
    let text = stdout(&out);
    let json = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "{cmd:?}: stdout is not one JSON object ({e}):\n{text}\nstderr:\n{}",
            stderr(&out)
        )
    });
    (out.status.code().unwrap_or(-1), json, out)
}

/// Run a command, killing it if it runs longer than `limit` (a hang guard,
/// not a speed assertion). Returns the output, or panics naming the hang.
pub fn run_with_guard(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command hung for more than {limit:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The operator's side of one migration: its own home (journal, state) and
/// its migration file. Compiled plugins are shared between tests.
pub struct Operator {
    pub home: tempfile::TempDir,
    pub file: PathBuf,
}

impl Default for Operator {
    fn default() -> Self {
        Self::new()
    }
}

impl Operator {
    pub fn new() -> Operator {
        let home = tempfile::tempdir().expect("tempdir");
        let file = home.path().join("migration.toml");
        Operator { home, file }
    }

    /// `migrate` with this operator's home.
    pub fn migrate(&self) -> Command {
        let mut c = migrate(self.home.path());
        c.env("XDG_CACHE_HOME", target_dir().join("test-app-cache"));
        c
    }

    /// `migrate app --file FILE --yes EXTRA…`, to the end.
    pub fn app(&self, extra: &[&str]) -> Output {
        self.migrate()
            .args(["app", "--yes", "--file"])
            .arg(&self.file)
            .args(extra)
            .output()
            .expect("run migrate")
    }

    /// `migrate COMMAND --file FILE` (plan, app-status, abort).
    pub fn with_file(&self, command: &[&str]) -> Output {
        self.migrate()
            .args(command)
            .arg("--file")
            .arg(&self.file)
            .output()
            .expect("run migrate")
    }

    /// The journal of the (one) migration run from this home.
    pub fn journal(&self) -> PathBuf {
        let dir = self.home.path().join("data/migrate/migrations");
        std::fs::read_dir(&dir)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path().join("journal.jsonl"))
            .unwrap_or_else(|| dir.join("none"))
    }

    /// The journal's text, or nothing yet.
    pub fn journal_text(&self) -> String {
        std::fs::read_to_string(self.journal()).unwrap_or_default()
    }

    /// Run `migrate app --yes --file FILE` and kill it (SIGKILL) once `step`
    /// has started; if it ends before, panic with what it said.
    pub fn kill_at(&self, step: &str) {
        let err = self.home.path().join("killed-run.stderr");
        let mut child = self
            .migrate()
            .args(["app", "--yes", "--file"])
            .arg(&self.file)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("spawn migrate");
        let needle = format!("\"step\":\"{step}\",\"event\":\"start\"");
        let t = Instant::now();
        loop {
            if self.journal_text().contains(&needle) {
                break;
            }
            if let Ok(Some(s)) = child.try_wait() {
                panic!(
                    "migrate exited ({s}) before step {step} started:\n{}{}",
                    std::fs::read_to_string(&err).unwrap_or_default(),
                    self.journal_text()
                );
            }
            assert!(
                t.elapsed() < Duration::from_secs(600),
                "step {step} never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().expect("kill");
        let _ = child.wait();
    }
}

/// What a run sent to the servers (the `commands.jsonl` beside `journal`)
/// against what `migrate app --dry-run --json` showed before it: every
/// command sent is one the dry run showed for that step, on that server,
/// byte for byte; and every finished step sent each command it showed
/// unconditionally. Returns how many commands were compared.
pub fn assert_ran_what_the_dry_run_showed(dry: &serde_json::Value, journal: &Path) -> usize {
    let shown = |step: &str| -> Vec<(String, String, bool)> {
        dry["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["id"] == step)
            .flat_map(|s| s["commands"].as_array().cloned().unwrap_or_default())
            .map(|c| {
                (
                    c["on"].as_str().unwrap_or("").to_string(),
                    c["script"].as_str().unwrap_or("").to_string(),
                    c["conditional"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    };
    let dir = journal.parent().expect("journal dir");
    let log = std::fs::read_to_string(dir.join("commands.jsonl")).expect("commands.jsonl");
    let sent: Vec<(String, String, String)> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
        .map(|v| {
            (
                v["step"].as_str().unwrap_or("").to_string(),
                v["on"].as_str().unwrap_or("").to_string(),
                v["script"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(!sent.is_empty(), "the run logged no command");
    for (step, on, script) in &sent {
        assert!(
            shown(step).iter().any(|(o, s, _)| o == on && s == script),
            "step {step:?} sent a command the dry run did not show, on the {on}:\n{script}\nshown:\n{:#?}",
            shown(step)
        );
    }
    let entries = std::fs::read_to_string(journal).expect("journal");
    let finished: Vec<String> = entries
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "done")
        .filter_map(|e| e["step"].as_str().map(str::to_string))
        .collect();
    for step in &finished {
        for (on, script, conditional) in shown(step) {
            if conditional || !(on == "source" || on == "destination") {
                continue;
            }
            assert!(
                sent.iter()
                    .any(|(st, o, s)| st == step && *o == on && *s == script),
                "finished step {step:?} never sent the command the dry run showed on the {on}:\n{script}"
            );
        }
    }
    sent.len()
}
