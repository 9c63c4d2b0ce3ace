//! `migrate mail` input handling and the cutover runbook: no servers
//! needed, so these run everywhere.

use crate::support::cli;

use std::time::Duration;

fn run(args: &[&str], home: &std::path::Path) -> (i32, String, String) {
    let mut c = cli::migrate(home);
    c.args(args);
    let o = cli::run_with_guard(&mut c, Duration::from_secs(60));
    (
        o.status.code().unwrap_or(-1),
        cli::stdout(&o),
        cli::stderr(&o),
    )
}

#[test]
fn cutover_runbook_lists_the_steps_in_order() {
    let d = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = run(
        &[
            "mail",
            "cutover",
            "--domain",
            "example.org",
            "--mx-host",
            "mail.example.org",
            "--new-ip",
            "192.0.2.10",
            "--presyncs",
            "3",
        ],
        d.path(),
    );
    assert_eq!(code, 0, "{err}");
    let pos = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing in:\n{out}"))
    };
    let order = [
        "Check the mail records of example.org",
        "Lower the TTL of the MX of example.org",
        "Create the mailboxes",
        "round 1",
        "round 2",
        "its duration is what the final sync will take",
        "Wait 3600 s",
        "stop IMAP/POP access on the old server",
        "Final sync",
        "Point the MX of example.org at mail.example.org and mail.example.org at 192.0.2.10",
        "Wait 300 s",
        "Post-sync",
        "Restore the TTL",
        "Check the mail records of example.org again",
    ];
    let mut last = 0;
    for step in order {
        let p = pos(step);
        assert!(p >= last, "{step:?} out of order:\n{out}");
        last = p;
    }
    let (code, out, _) = run(
        &[
            "--json",
            "mail",
            "cutover",
            "--domain",
            "example.org",
            "--mx-host",
            "mail.example.org",
        ],
        d.path(),
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["command"], "mail cutover", "{v}");
    assert_eq!(v["ok"], true, "{v}");
    let steps = v["result"]["steps"].as_array().expect("steps");
    assert_eq!(steps[0]["phase"], "check");
    assert_eq!(steps[0]["action"]["kind"], "mail-dns-check");
    assert_eq!(steps.last().expect("last")["phase"], "finish");
}

#[test]
fn bad_input_is_named_and_exits_2() {
    let d = tempfile::tempdir().expect("tempdir");
    let users = d.path().join("users.csv");
    std::fs::write(
        &users,
        "src_user,src_password,src_password_env\na@x,pw,PW\n",
    )
    .expect("users");
    let u = users.to_str().expect("utf-8 path");
    let (code, _, err) = run(
        &[
            "mail",
            "sync",
            "--from",
            "imaps://127.0.0.1",
            "--to",
            "imaps://127.0.0.1",
            "--users",
            u,
        ],
        d.path(),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("users.csv") && err.contains("entry 2") && err.contains("give one of"),
        "{err}"
    );

    std::fs::write(&users, "a@x;pw;a@y;pw2\n").expect("users");
    let (code, _, err) = run(
        &[
            "mail",
            "sync",
            "--from",
            "pop3://127.0.0.1",
            "--to",
            "imaps://127.0.0.1",
            "--users",
            u,
        ],
        d.path(),
    );
    assert_eq!(code, 2);
    assert!(err.contains("is not an IMAP server address"), "{err}");

    let (code, _, err) = run(
        &[
            "mail",
            "sync",
            "--from",
            "imap+plain://127.0.0.1",
            "--from-pin",
            &"ab".repeat(32),
            "--to",
            "imaps://127.0.0.1",
            "--users",
            u,
        ],
        d.path(),
    );
    assert_eq!(code, 2);
    assert!(err.contains("without TLS"), "{err}");

    let (code, _, err) = run(
        &[
            "mail",
            "sync",
            "--from",
            "imaps://127.0.0.1",
            "--from-pin",
            "abcd",
            "--to",
            "imaps://127.0.0.1",
            "--users",
            u,
        ],
        d.path(),
    );
    assert_eq!(code, 2);
    assert!(err.contains("not 32 bytes"), "{err}");

    // Passwords inline in a file others can read: a warning (no password in it).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("imap+plain://127.0.0.1:{closed}");
    let (code, out, err) = run(
        &["mail", "sync", "--from", &url, "--to", &url, "--users", u],
        d.path(),
    );
    assert_eq!(code, 10, "{out}{err}");
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!out.contains("pw2") && !err.contains("pw2"));
}
