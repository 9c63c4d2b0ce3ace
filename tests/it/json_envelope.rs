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

/// The leaf subcommands `migrate` lists in its own help, e.g. `dns plan`.
fn leaf_commands(home: &std::path::Path, path: &[&str]) -> Vec<String> {
    let o = run(migrate(home).args(path).arg("--help"));
    let help = stdout(&o);
    let Some(start) = help.find("Commands:") else {
        return vec![path.join(" ")];
    };
    let mut out = Vec::new();
    // A group that also runs on its own (`copy SRC DST`, `app NAME …`)
    // shows a usage line without `<COMMAND>`.
    let usage = help.split("Commands:").next().unwrap_or_default();
    if usage
        .lines()
        .any(|l| l.contains("migrate") && !l.trim_end().ends_with("<COMMAND>"))
    {
        out.push(path.join(" "));
    }
    for line in help[start..].lines().skip(1) {
        if line.trim().is_empty() {
            break;
        }
        let name = line.split_whitespace().next().unwrap_or_default();
        if name == "help" {
            continue;
        }
        let mut p = path.to_vec();
        p.push(name);
        out.extend(leaf_commands(home, &p));
    }
    out
}

/// Commands whose success needs what the lab cannot give, with the reason;
/// their failure case still runs.
const FAILURE_ONLY: &[(&str, &str)] = &[
    (
        "dns mail-check",
        "a passing PTR needs a reverse zone the lab does not serve",
    ),
    (
        "docker scale-down",
        "needs a swarm (docker_lab's swarm test covers the success)",
    ),
    (
        "docker scale-up",
        "needs a swarm (docker_lab's swarm test covers the success)",
    ),
    (
        "mail sync",
        "needs two IMAP servers (mail_sync checks its envelope on success)",
    ),
    (
        "app",
        "a whole migration (the app_* tests check its envelope on success)",
    ),
    (
        "app run",
        "a whole migration (the app_* tests check its envelope on success)",
    ),
    (
        "app abort",
        "needs a migration in flight (the app_* tests cover it)",
    ),
    (
        "app plan",
        "reads a real app, its files and database (the app_* tests plan real apps)",
    ),
    (
        "app status",
        "needs a migration's journal (the app_* tests cover it)",
    ),
];

/// (command, arguments that succeed, arguments that fail)
type Case = (&'static str, Option<Vec<String>>, Vec<String>);

#[test]
fn every_subcommand_answers_in_exactly_one_envelope_on_success_and_on_failure() {
    let _lab = crate::support::lab::enter(module_path!(), crate::support::lab::Need::Docker);
    let home = tempfile::tempdir().expect("tempdir");
    let h = home.path();
    let t = h.to_str().expect("utf-8 temp path").to_string();
    let id = std::process::id();
    let vol = format!("mt_env_{id}");
    let knot = crate::support::dns::KnotLab::start(&crate::support::dns::zone_text(""));
    let (res, port) = (knot.primary(), knot.port.to_string());
    let dns = |sub: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "dns",
            sub,
            "--domain",
            "cloud.example.test",
            "--resolver",
            &res,
            "--ns-port",
            &port,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let dead = |sub: &str| -> Vec<String> {
        [
            "dns",
            sub,
            "--domain",
            "cloud.example.test",
            "--authoritative",
            "127.0.0.1:9",
            "--query-timeout",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let s = |a: &[&str]| -> Vec<String> { a.iter().map(|x| x.to_string()).collect() };
    let recipe = crate::support::fixtures::workspace_root().join("recipes/nextcloud.toml");
    let recipe = recipe.to_str().expect("utf-8").to_string();
    std::fs::create_dir_all(h.join("tree")).expect("mkdir");
    std::fs::write(h.join("tree/f"), b"data").expect("write");
    std::fs::write(
        h.join("users.csv"),
        "src_user,src_password,dst_user,dst_password\nalice@example.test,pw1,alice@example.test,pw2\n",
    )
    .expect("users");
    crate::support::lab::ok("src", &format!("docker volume create {vol} >/dev/null"));
    let app_def = [
        "nextcloud",
        "--from",
        "src",
        "--to",
        "dst",
        "--domain",
        "x.test",
        "--src-root",
        "/srv/no-such-app-x",
        "--dst-root",
        "/srv/no-such-app-y",
    ];
    let zone_ip = ["--new-ip", "192.0.2.44"];

    // (command, success args, failure args)
    let cases: Vec<Case> = vec![
        (
            "upgrade-path",
            Some(s(&["upgrade-path", "nextcloud", "27.1.11", "28.0.4"])),
            s(&["upgrade-path", "nextclod", "28.0.4", "29.0.1"]),
        ),
        (
            "plugin list",
            Some(s(&["plugin", "list"])),
            s(&["plugin", "list", "--bogus"]),
        ),
        (
            "plugin new",
            Some(vec![
                "plugin".into(),
                "new".into(),
                "envtest".into(),
                "--dir".into(),
                format!("{t}/envtest"),
            ]),
            s(&["plugin", "new", "Not A Name"]),
        ),
        (
            "plugin test",
            Some(s(&["plugin", "test", "nextcloud"])),
            vec!["plugin".into(), "test".into(), format!("{t}/none.wasm")],
        ),
        (
            "recipe list",
            Some(s(&["recipe", "list"])),
            s(&["recipe", "list", "--bogus"]),
        ),
        (
            "recipe show",
            Some(s(&["recipe", "show", "nextcloud"])),
            s(&["recipe", "show", "no-such-recipe"]),
        ),
        (
            "recipe check",
            Some(vec!["recipe".into(), "check".into(), recipe.clone()]),
            vec!["recipe".into(), "check".into(), format!("{t}/none.toml")],
        ),
        (
            "copy",
            Some(vec![
                "copy".into(),
                format!("local:{t}/tree"),
                format!("local:{t}/tree2"),
            ]),
            vec![
                "copy".into(),
                format!("local:{t}/none"),
                format!("local:{t}/tree3"),
            ],
        ),
        (
            "copy status",
            Some(s(&["copy", "status"])),
            s(&["copy", "status", "--bogus"]),
        ),
        (
            "copy cleanup",
            Some(s(&["copy", "cleanup"])),
            s(&["copy", "cleanup", "--bogus"]),
        ),
        ("dns plan", Some(dns("plan", &zone_ip)), dead("plan")),
        (
            "dns lower",
            Some(dns("lower", &["--dry-run"])),
            dead("lower"),
        ),
        (
            "dns wildcard",
            Some(dns("wildcard", &["--dry-run"])),
            dead("wildcard"),
        ),
        (
            "dns cutover",
            Some(dns("cutover", &["--dry-run", "--now"])),
            dead("cutover"),
        ),
        (
            "dns restore",
            Some(dns("restore", &["--dry-run"])),
            dead("restore"),
        ),
        ("dns verify", Some(dns("verify", &[])), dead("verify")),
        (
            "dns mail-check",
            None,
            dns(
                "mail-check",
                &[
                    "--mail-host",
                    "mail.example.test",
                    "--new-ip",
                    "198.51.100.20",
                ],
            ),
        ),
        (
            "mail sync",
            None,
            vec![
                "mail".into(),
                "sync".into(),
                "--from".into(),
                "imaps://a.test".into(),
                "--to".into(),
                "imaps://b.test".into(),
                "--users".into(),
                format!("{t}/none.csv"),
            ],
        ),
        (
            "mail users",
            Some(vec![
                "mail".into(),
                "users".into(),
                "--users".into(),
                format!("{t}/users.csv"),
                "--config-import".into(),
                format!("{t}/import.yaml"),
            ]),
            vec![
                "mail".into(),
                "users".into(),
                "--users".into(),
                format!("{t}/none.csv"),
                "--config-import".into(),
                format!("{t}/i2.yaml"),
            ],
        ),
        (
            "mail cutover",
            Some(s(&[
                "mail",
                "cutover",
                "--domain",
                "example.org",
                "--mail-host",
                "mx.example.org",
            ])),
            s(&["mail", "cutover", "--domain", "example.org"]),
        ),
        (
            "docker ls",
            Some(s(&["docker", "ls", "src"])),
            s(&["docker", "ls", "nohost.invalid"]),
        ),
        (
            "docker stop",
            Some(s(&["docker", "stop", "src", "--volume", &vol])),
            s(&["docker", "stop", "src"]),
        ),
        (
            "docker start",
            Some(s(&[
                "docker", "start", "src", "--volume", &vol, "--settle", "0",
            ])),
            s(&["docker", "start", "src"]),
        ),
        (
            "docker scale-down",
            None,
            s(&["docker", "scale-down", "src"]),
        ),
        ("docker scale-up", None, s(&["docker", "scale-up", "src"])),
        (
            "docker owners",
            Some(s(&["docker", "owners", "src", &vol])),
            s(&["docker", "owners", "src", "mt_no_such_volume_x"]),
        ),
        (
            "docker db",
            Some(s(&[
                "docker",
                "db",
                "src",
                "dst",
                "--engine",
                "postgres",
                "--db",
                "postgres",
                "--to-db",
                "x",
                "--dry-run",
            ])),
            s(&["docker", "db", "src", "dst", "--engine", "postgres"]),
        ),
        (
            "docker root-move",
            Some(s(&[
                "docker",
                "root-move",
                "src",
                "dst",
                "--force",
                "--dry-run",
            ])),
            s(&["docker", "root-move", "src", "src", "--dry-run"]),
        ),
        (
            "docker root-relocate",
            Some(s(&[
                "docker",
                "root-relocate",
                "src",
                "/srv/e2e-env-newroot",
                "--dry-run",
            ])),
            s(&[
                "docker",
                "root-relocate",
                "src",
                "relative/dir",
                "--dry-run",
            ]),
        ),
        (
            "docker daemon",
            Some(s(&["docker", "daemon", "start", "src"])),
            s(&["docker", "daemon", "start", "nohost.invalid"]),
        ),
        (
            "docker logs-check",
            Some(s(&["docker", "logs-check", "src", "--tail", "10"])),
            s(&["docker", "logs-check", "nohost.invalid"]),
        ),
        (
            "docker volume",
            Some(s(&[
                "docker",
                "volume",
                &format!("src:{vol}"),
                &format!("dst:{vol}"),
                "--dry-run",
            ])),
            s(&["docker", "volume", "local:x", "local:y"]),
        ),
        (
            "app plan",
            None,
            s(&[
                "app",
                "plan",
                "nextcloud",
                "--to",
                "local",
                "--domain",
                "x.test",
            ]),
        ),
        (
            "app run",
            None,
            s(&[
                "app",
                "run",
                "nextcloud",
                "--to",
                "local",
                "--domain",
                "x.test",
            ]),
        ),
        (
            "completions",
            Some(s(&["completions", "bash"])),
            s(&["completions", "tcsh"]),
        ),
        (
            "man",
            Some(vec!["man".into(), format!("{t}/man1")]),
            s(&["man", "/proc/no-such-dir/man1"]),
        ),
        (
            "app list",
            Some(s(&["app", "list"])),
            s(&["app", "list", "--bogus"]),
        ),
        (
            "app",
            None,
            s(&[
                "app",
                "nextcloud",
                "--to",
                "local",
                "--domain",
                "x.test",
                "--dry-run",
            ]),
        ),
        (
            "app status",
            None,
            s(&[&["app", "status"][..], &app_def[..]].concat()),
        ),
        (
            "app abort",
            None,
            s(&[&["app", "abort"][..], &app_def[..]].concat()),
        ),
    ];

    // The table names every subcommand there is, so a new one cannot go
    // without its envelope being checked.
    let mut listed = leaf_commands(h, &[]);
    listed.sort();
    let mut covered: Vec<String> = cases.iter().map(|c| c.0.to_string()).collect();
    covered.sort();
    assert_eq!(listed, covered, "subcommands without a case here");

    let mut failures = Vec::new();
    for (name, ok_args, bad_args) in &cases {
        if ok_args.is_none() {
            let why = FAILURE_ONLY.iter().find(|(n, _)| n == name);
            assert!(why.is_some(), "{name}: no success case and no reason");
        }
        for (want_ok, args) in [(true, ok_args.as_ref()), (false, Some(bad_args))] {
            let Some(args) = args else { continue };
            let mut full = vec!["--json".to_string()];
            full.extend(args.iter().cloned());
            let o = run(migrate(h)
                .args(&full)
                .env("MIGRATE_TSIG_KEY", crate::support::dns::TSIG_LINE));
            let out = stdout(&o);
            let v: Value = match serde_json::from_str(out.trim()) {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!(
                        "{args:?}: not exactly one JSON document ({e}):\n{out}"
                    ));
                    continue;
                }
            };
            let code = o.status.code().unwrap_or(-1);
            let shape = v["format_version"] == 1
                && v["command"] == *name
                && v["exit_code"] == code
                && v["ok"] == (code == 0)
                && (code == 0) == want_ok
                && (want_ok
                    || v["error"]["message"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty()))
                && (!want_ok || v.get("error").is_none());
            if !shape {
                failures.push(format!(
                    "{args:?} (want ok={want_ok}): {v}\nstderr: {}",
                    stderr(&o)
                ));
            }
        }
    }
    crate::support::lab::ok(
        "src",
        &format!("docker volume rm {vol} >/dev/null 2>&1; true"),
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
