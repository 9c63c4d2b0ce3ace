//! One `--json` envelope for every command, on success and on failure:
//! `{"format_version", "command", "ok", "exit_code", "result"?, "error"?}`,
//! exactly one JSON document on stdout, the exit code the same as the
//! process's. Every case here needs no server: bad input is refused before
//! anything is contacted, so nothing anywhere changes.

use serde_json::Value;

use crate::support::cli::{migrate, run, stderr, stdout};

/// Run `migrate --json ARGS` and return (process exit code, envelope).
fn envelope(home: &std::path::Path, args: &[&str]) -> (i32, Value) {
    let o = run(migrate(home).arg("--json").args(args));
    let out = stdout(&o);
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not one JSON document ({e}):\n{out}\nstderr:\n{}",
            stderr(&o)
        )
    });
    let code = o.status.code().unwrap_or(-1);
    assert_eq!(v["format_version"], 1, "{args:?}: {v}");
    assert_eq!(v["exit_code"], code, "{args:?}: exit code differs: {v}");
    assert_eq!(v["ok"], code == 0, "{args:?}: {v}");
    (code, v)
}

/// A failure: its exit code, kind and command, and a message a person can read.
fn assert_failure(home: &std::path::Path, args: &[&str], command: &str, code: i32, kind: &str) {
    let (got, v) = envelope(home, args);
    assert_eq!(got, code, "{args:?}: {v}");
    assert_eq!(v["command"], command, "{args:?}: {v}");
    assert_eq!(v["error"]["kind"], kind, "{args:?}: {v}");
    let message = v["error"]["message"].as_str().unwrap_or("");
    assert!(message.len() > 10, "{args:?}: no message: {v}");
}

#[test]
fn copy_docker_and_volume_errors_come_in_the_envelope() {
    let home = tempfile::tempdir().expect("tempdir");
    let h = home.path();
    let missing = format!("local:/nonexistent-migrate-{}", std::process::id());
    let dst = h.join("dst");
    let dst = format!("local:{}", dst.display());

    // copy: a location without a host, and a source that does not exist.
    assert_failure(h, &["copy", "/srv/data", &dst], "copy", 2, "bad-address");
    assert_failure(h, &["copy", &missing, &dst], "copy", 2, "missing-path");
    assert!(
        !h.join("dst").exists(),
        "a refused copy created its destination"
    );
    // docker: a scale without a target, a database move without a database.
    assert_failure(
        h,
        &["docker", "scale-down", "local"],
        "docker scale-down",
        2,
        "bad-input",
    );
    assert_failure(
        h,
        &["docker", "db", "local", "local", "--engine", "postgres"],
        "docker db",
        2,
        "bad-input",
    );
    // volume: a source without a volume, a volume name docker refuses.
    assert_failure(h, &["volume", "local", "local"], "volume", 2, "bad-input");
    assert_failure(
        h,
        &["volume", "local:x", "local:y"],
        "volume",
        2,
        "bad-input",
    );
}

#[test]
fn every_command_without_a_server_answers_in_the_envelope() {
    let home = tempfile::tempdir().expect("tempdir");
    let h = home.path();
    let missing = h.join("missing.toml");
    let missing = missing.to_str().expect("utf-8 temp path");

    // Successes carry their result.
    let (_, v) = envelope(h, &["recipe", "list"]);
    assert!(
        v["result"]["recipes"]
            .as_array()
            .is_some_and(|r| r.len() >= 5),
        "{v}"
    );
    assert!(v.get("error").is_none(), "{v}");
    let (_, v) = envelope(h, &["recipe", "show", "nextcloud"]);
    assert_eq!(v["result"]["app"]["plugin"], "nextcloud", "{v}");
    let (_, v) = envelope(h, &["upgrade-path", "nextcloud", "27.1.11", "28.0.4"]);
    assert_eq!(v["command"], "upgrade-path", "{v}");
    assert_eq!(v["result"]["hops"][0]["to"], "28.0.4", "{v}");
    let (_, v) = envelope(
        h,
        &[
            "mail",
            "cutover",
            "--domain",
            "example.org",
            "--mx-host",
            "mx.example.org",
        ],
    );
    assert!(
        v["result"]["steps"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{v}"
    );
    let (_, v) = envelope(h, &["status"]);
    assert_eq!(v["result"]["jobs"], serde_json::json!([]), "{v}");

    // Failures carry their kind and exit code, and no result they lack.
    assert_failure(
        h,
        &["recipe", "check", missing],
        "recipe check",
        2,
        "recipe",
    );
    assert_failure(
        h,
        &["upgrade-path", "nextclod", "28.0.4", "29.0.1"],
        "upgrade-path",
        2,
        "unknown-app",
    );
    assert_failure(
        h,
        &["upgrade-path", "nextcloud", "28.0.4", "27.1.11"],
        "upgrade-path",
        3,
        "downgrade",
    );
    assert_failure(
        h,
        &[
            "mail",
            "sync",
            "--from",
            "imaps://a.test",
            "--to",
            "imaps://b.test",
            "--users",
            missing,
        ],
        "mail sync",
        2,
        "input",
    );
    assert_failure(
        h,
        &["plan", "nextcloud", "--to", "local", "--domain", "x.test"],
        "plan",
        2,
        "definition",
    );
    assert_failure(
        h,
        &[
            "app-status",
            "nextcloud",
            "--from",
            "local",
            "--to",
            "local",
            "--src-root",
            "/srv/x",
            "--dst-root",
            "/srv/y",
            "--domain",
            "x.test",
        ],
        "app-status",
        2,
        "no-migration",
    );
    // A command line clap refuses is answered in the envelope too.
    assert_failure(h, &["copy", "--no-such-flag", "a", "b"], "copy", 2, "usage");
}

#[test]
fn without_json_a_failure_is_told_on_stderr_only() {
    let home = tempfile::tempdir().expect("tempdir");
    let o = run(migrate(home.path()).args(["copy", "/srv/data", "local:/tmp/x"]));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stdout(&o), "", "stdout is for results");
    assert!(
        stderr(&o).starts_with("error: bad address '/srv/data'"),
        "{}",
        stderr(&o)
    );
}
