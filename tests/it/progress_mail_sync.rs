//! `migrate mail sync` off a terminal, between two real Dovecot servers:
//! progress lines for the accounts and the messages keep coming while it
//! runs and end at the totals this test counts itself over IMAP (an
//! independent client) on both servers. No counter may pass its total.

use std::time::Duration;

use serde_json::json;

use crate::support::cli;
use crate::support::mail::{Dovecot, Opts, imap_tool, require_dovecot, user};
use crate::support::progress::{assert_no_counter_passes_its_total, lines_of};

#[test]
fn mail_sync_off_a_terminal_shows_accounts_and_messages_to_their_totals() {
    require_dovecot();
    let accounts: Vec<(String, String, String)> = (0..4)
        .map(|i| {
            (
                format!("prog{i}@example.test"),
                format!("src-pw-{i}"),
                format!("dst-pw-{i}"),
            )
        })
        .collect();
    let src_users: Vec<_> = accounts.iter().map(|(u, p, _)| user(u, p)).collect();
    let dst_users: Vec<_> = accounts.iter().map(|(u, _, p)| user(u, p)).collect();
    let src = Dovecot::start("prog-src", &src_users, Opts::default());
    let dst = Dovecot::start("prog-dst", &dst_users, Opts::default());
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    for (u, p, _) in &accounts {
        imap_tool(dir, "seed", json!([src.port, u, p, 40]));
    }
    let count = |port: u16, u: &str, p: &str| imap_tool(dir, "count", json!([port, u, p]));
    let on_src: u64 = accounts
        .iter()
        .map(|(u, p, _)| count(src.port, u, p).as_u64().expect("a count"))
        .sum();

    // The destination passwords come from a command that takes a second,
    // as a password manager asking its vault does: the sync lasts long
    // enough for lines while it runs, however fast the servers are.
    let mut csv = String::from("src_user,src_password,dst_user,dst_password_command\n");
    for (u, sp, dp) in &accounts {
        csv.push_str(&format!("{u},{sp},{u},sleep 1; printf '%s\\n' {dp}\n"));
    }
    let users = dir.join("users.csv");
    std::fs::write(&users, csv).expect("users file");
    let mut c = cli::migrate(&dir.join("home"));
    c.args([
        "mail",
        "sync",
        "--from",
        &src.plain_url(),
        "--to",
        &dst.plain_url(),
    ])
    .arg("--users")
    .arg(&users)
    .args(["--connections", "1"])
    .env("MIGRATE_PROGRESS_EVERY", "0.3");
    let o = cli::run_with_guard(&mut c, Duration::from_secs(300));
    let (out, err) = (cli::stdout(&o), cli::stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(!err.contains('\x1b'), "escape codes in a log:\n{err}");

    let on_dst: u64 = accounts
        .iter()
        .map(|(u, _, p)| count(dst.port, u, p).as_u64().expect("a count"))
        .sum();
    assert_eq!(on_dst, on_src, "not every message arrived");
    let n = accounts.len();
    for (task, want) in [
        (
            "mail accounts",
            format!("mail accounts: {n} accounts of {n} accounts (100%)"),
        ),
        (
            "mail messages",
            format!("mail messages: {on_dst} messages of {on_dst} messages (100%)"),
        ),
    ] {
        let lines = lines_of(&err, task);
        let (running, end): (Vec<&str>, Vec<&str>) =
            lines.iter().partition(|l| !l.contains("(done in "));
        assert!(
            !running.is_empty(),
            "no {task} line while the sync ran:\n{err}"
        );
        assert!(
            end.len() == 1 && end[0].starts_with(&want),
            "the last {task} line is not the totals ({want}):\n{err}"
        );
    }
    assert_no_counter_passes_its_total(&err);
}
