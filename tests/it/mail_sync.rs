//! `migrate mail sync` against two real Dovecot servers: 20 accounts and
//! about 3000 messages (attachments, non-ASCII folder names and subjects,
//! messages without Message-Id, duplicates, flags and keywords). What
//! arrived is checked over IMAP by an independent client (Python imaplib):
//! every message byte-identical, with its flags and internal date.

use crate::support::cli;
use crate::support::mail::{Dovecot, Opts, imap_tool, user};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(600);

fn sync_cmd(home: &Path, src: &str, dst: &str, users: &Path) -> Command {
    let mut c = cli::migrate(home);
    c.args(["mail", "sync", "--from", src, "--to", dst, "--users"])
        .arg(users);
    c
}

fn run(c: &mut Command) -> (i32, String, String) {
    let o = cli::run_with_guard(c, LIMIT);
    (
        o.status.code().unwrap_or(-1),
        cli::stdout(&o),
        cli::stderr(&o),
    )
}

/// The result of a successful `mail sync --json`, out of its envelope.
fn json_of(out: &str) -> Value {
    let v: Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    assert_eq!(v["command"], "mail sync", "{out}");
    assert_eq!(v["ok"], true, "{out}");
    v["result"].clone()
}

fn assert_identical(
    dir: &Path,
    src: &Dovecot,
    dst: &Dovecot,
    accounts: &[(String, String, String)],
) -> u64 {
    let mut total = 0;
    for (u, sp, dp) in accounts {
        let a = imap_tool(dir, "snapshot", json!([src.port, u, sp]));
        let b = imap_tool(dir, "snapshot", json!([dst.port, u, dp]));
        for (folder, msgs) in a.as_object().expect("object") {
            total += msgs.as_array().map(|m| m.len() as u64).unwrap_or(0);
            assert_eq!(
                Some(msgs),
                b.get(folder),
                "{u}: folder {folder:?} differs (sha256 of bytes, flags, internal date)"
            );
        }
        for folder in b.as_object().expect("object").keys() {
            assert!(
                a.get(folder).is_some(),
                "{u}: destination has extra folder {folder:?}"
            );
        }
    }
    total
}

#[test]
fn twenty_accounts_sync_rerun_flags_and_kill_midway() {
    let accounts: Vec<(String, String, String)> = (0..20)
        .map(|i| {
            (
                format!("user{i:02}@example.test"),
                format!("src-pw-{i}"),
                format!("dst-pw-{i}"),
            )
        })
        .collect();
    let src_users: Vec<_> = accounts.iter().map(|(u, p, _)| user(u, p)).collect();
    let dst_users: Vec<_> = accounts.iter().map(|(u, _, p)| user(u, p)).collect();
    let src = Dovecot::start("src", &src_users, Opts::default());
    let dst = Dovecot::start("dst", &dst_users, Opts::default());
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();

    // Seed in parallel: 150 messages per account (+2 duplicates).
    let seeded: u64 = std::thread::scope(|s| {
        let hs: Vec<_> = accounts
            .iter()
            .map(|(u, p, _)| {
                let port = src.port;
                s.spawn(move || {
                    imap_tool(dir, "seed", json!([port, u, p, 150]))
                        .as_u64()
                        .unwrap_or(0)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("seed thread")).sum()
    });
    assert_eq!(seeded, 20 * 152);

    // The users file mixes the password sources: inline, file, env, command.
    let mut csv = String::from(
        "src_user,src_password,src_password_file,dst_user,dst_password,dst_password_env,dst_password_command\n",
    );
    for (i, (u, sp, dp)) in accounts.iter().enumerate() {
        let line = match i % 3 {
            0 => format!("{u},{sp},,{u},{dp},,\n"),
            1 => {
                let f = dir.join(format!("pw{i}"));
                std::fs::write(&f, format!("{sp}\n")).expect("pw file");
                format!("{u},,{},{u},,DST_PW_{i},\n", f.display())
            }
            _ => format!("{u},{sp},,{u},,,printf '%s\\n' {dp}\n"),
        };
        csv.push_str(&line);
    }
    let users = dir.join("users.csv");
    std::fs::write(&users, csv).expect("users file");
    let with_env = |c: &mut Command| {
        for (i, (_, _, dp)) in accounts.iter().enumerate() {
            c.env(format!("DST_PW_{i}"), dp);
        }
    };
    let home = dir.join("home");

    // Dry run: says what it would copy, changes nothing.
    let mut c = sync_cmd(&home, &src.plain_url(), &dst.plain_url(), &users);
    c.arg("--dry-run");
    with_env(&mut c);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "dry run: {out}\n{err}");
    assert!(
        out.contains(&format!(
            "dry run: {seeded} of {seeded} messages in 20 accounts would be copied"
        )),
        "{out}"
    );
    assert_eq!(
        imap_tool(
            dir,
            "count",
            json!([dst.port, &accounts[0].0, &accounts[0].2])
        ),
        json!(0)
    );

    // First run: everything arrives.
    let mut c = sync_cmd(&home, &src.plain_url(), &dst.plain_url(), &users);
    c.args(["--connections", "6"]);
    with_env(&mut c);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "first run: {out}\n{err}");
    assert!(
        out.contains(&format!("sync looks good: all {seeded} messages of the source are on the destination (20 accounts)")),
        "{out}"
    );
    assert!(
        out.contains("sync looks good: all 152 messages of the source are on the destination"),
        "{out}"
    );
    assert!(
        out.contains("Entwürfe alt"),
        "per-folder lines name folders decoded: {out}"
    );
    assert_eq!(assert_identical(dir, &src, &dst, &accounts), seeded);

    // Second run: copies nothing, changes no flags.
    let mut c = sync_cmd(&home, &src.plain_url(), &dst.plain_url(), &users);
    c.arg("--json");
    with_env(&mut c);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "second run: {out}\n{err}");
    let j = json_of(&out);
    assert_eq!(j["totals"]["copied"], json!(0), "{out}");
    assert_eq!(j["totals"]["flags_synced"], json!(0), "{out}");
    assert_eq!(j["totals"]["src_messages"], json!(seeded));

    // Third run: a flag change on the source and a new message are carried.
    let (u0, p0, _) = &accounts[0];
    imap_tool(
        dir,
        "setflags",
        json!([src.port, u0, p0, "Archive", "(\\Answered $Important)"]),
    );
    let (u1, p1, _) = &accounts[1];
    imap_tool(dir, "seed", json!([src.port, u1, p1, 1, 5000]));
    let mut c = sync_cmd(&home, &src.plain_url(), &dst.plain_url(), &users);
    c.arg("--json");
    with_env(&mut c);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "third run: {out}\n{err}");
    let j = json_of(&out);
    assert_eq!(j["totals"]["copied"], json!(1), "{out}");
    assert_eq!(j["totals"]["flags_synced"], json!(1), "{out}");
    assert_identical(dir, &src, &dst, &accounts);

    // A run killed midway, then rerun: identical, no duplicates.
    let (u2, p2, d2) = &accounts[2];
    imap_tool(dir, "seed", json!([src.port, u2, p2, 400, 10000]));
    let before = imap_tool(dir, "count", json!([dst.port, u2, d2]))
        .as_u64()
        .unwrap_or(0);
    let mut c = sync_cmd(&home, &src.plain_url(), &dst.plain_url(), &users);
    c.args(["--batch", "64K"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    with_env(&mut c);
    let mut child = c.spawn().expect("spawn migrate");
    let t0 = Instant::now();
    loop {
        let now = imap_tool(dir, "count", json!([dst.port, u2, d2]))
            .as_u64()
            .unwrap_or(0);
        if now > before + 20 {
            break;
        }
        assert!(t0.elapsed() < LIMIT, "the killed run never started copying");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "migrate finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill migrate");
    let _ = child.wait();
    let mid = imap_tool(dir, "count", json!([dst.port, u2, d2]))
        .as_u64()
        .unwrap_or(0);
    assert!(
        mid < before + 400,
        "the run was killed before it finished ({mid})"
    );
    let mut c = sync_cmd(&home, &src.plain_url(), &dst.plain_url(), &users);
    with_env(&mut c);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "rerun after kill: {out}\n{err}");
    assert!(out.contains("sync looks good"), "{out}");
    let total = assert_identical(dir, &src, &dst, &accounts);
    assert_eq!(total, seeded + 1 + 400);
}

#[test]
fn tls_pinned_fingerprint_and_ca_work_wrong_pin_fails_with_tls_code() {
    let (u, sp, dp) = ("tls@example.test", "tls-src-pw", "tls-dst-pw");
    let src = Dovecot::start(
        "tls-src",
        &[user(u, sp)],
        Opts {
            tls: true,
            ..Default::default()
        },
    );
    let dst = Dovecot::start("tls-dst", &[user(u, dp)], Opts::default());
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    imap_tool(dir, "seed", json!([src.port, u, sp, 12]));
    let users = dir.join("users.csv");
    std::fs::write(&users, format!("{u};{sp};{u};{dp}\n")).expect("users");
    let tls = src.tls.as_ref().expect("tls");
    let tls_port = src.tls_port.expect("tls port");
    let home = dir.join("home");

    // Implicit TLS with the pinned fingerprint (self-signed chain, IP name).
    let mut c = sync_cmd(
        &home,
        &format!("imaps://127.0.0.1:{tls_port}"),
        &dst.plain_url(),
        &users,
    );
    c.args(["--from-pin", &format!("sha256:{}", tls.fingerprint)]);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "pinned implicit TLS: {out}\n{err}");
    assert!(out.contains("sync looks good: all 14 messages"), "{out}");

    // STARTTLS with the CA file.
    let mut c = sync_cmd(
        &home,
        &format!("imap://127.0.0.1:{}", src.port),
        &dst.plain_url(),
        &users,
    );
    c.arg("--from-ca").arg(&tls.ca_pem);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "STARTTLS with CA: {out}\n{err}");
    assert!(out.contains("sync looks good"), "{out}");

    // A wrong pin: TLS exit code, a message naming the mismatch.
    let wrong = vec!["AB"; 32].join(":");
    let mut c = sync_cmd(
        &home,
        &format!("imaps://127.0.0.1:{tls_port}"),
        &dst.plain_url(),
        &users,
    );
    c.args(["--from-pin", &wrong]);
    let (code, out, err) = run(&mut c);
    assert_eq!(
        code, 12,
        "wrong pin must give the TLS exit code: {out}\n{err}"
    );
    assert!(out.contains("does not match the pinned"), "{out}");
    assert!(
        out.contains(&format!("sha256:{}", tls.fingerprint)),
        "shows the real fingerprint to compare: {out}"
    );

    // No pin, no CA: the built-in roots do not trust it; no silent fallback.
    let mut c = sync_cmd(
        &home,
        &format!("imap://127.0.0.1:{}", src.port),
        &dst.plain_url(),
        &users,
    );
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 12, "untrusted certificate: {out}\n{err}");

    // STARTTLS demanded from a server without TLS: refused, not downgraded.
    let mut c = sync_cmd(
        &home,
        &src.plain_url(),
        &format!("imap://127.0.0.1:{}", dst.port),
        &users,
    );
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 12, "no STARTTLS on the destination: {out}\n{err}");
    assert!(out.contains("does not fall back to plaintext"), "{out}");
}

#[test]
fn bad_input_one_account_fails_the_others_go_on() {
    let mut src_users = vec![
        user("ok@example.test", "ok-src"),
        user("wrongpw@example.test", "wp-src"),
    ];
    src_users.push(user("quota@example.test", "q-src"));
    src_users.push(user("big@example.test", "b-src"));
    let mut dst_users = vec![
        user("ok@example.test", "ok-dst"),
        user("wrongpw@example.test", "wp-dst"),
    ];
    let mut q = user("quota@example.test", "q-dst");
    q.extra = "userdb_quota_rule=*:storage=100K".into();
    dst_users.push(q);
    dst_users.push(user("big@example.test", "b-dst"));
    let src = Dovecot::start("bad-src", &src_users, Opts::default());
    let dst = Dovecot::start(
        "bad-dst",
        &dst_users,
        Opts {
            quota: true,
            max_mail_size: Some("200k"),
            ..Default::default()
        },
    );
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    for (u, p) in [
        ("ok@example.test", "ok-src"),
        ("wrongpw@example.test", "wp-src"),
        ("quota@example.test", "q-src"),
        ("big@example.test", "b-src"),
    ] {
        imap_tool(dir, "seed", json!([src.port, u, p, 40]));
    }
    imap_tool(
        dir,
        "append_big",
        json!([src.port, "big@example.test", "b-src", 400_000]),
    );
    let home = dir.join("home");

    // Wrong destination password for one account: auth code; others in sync.
    let users = dir.join("users.csv");
    std::fs::write(
        &users,
        "ok@example.test;ok-src;ok@example.test;ok-dst\nwrongpw@example.test;wp-src;wrongpw@example.test;not-the-password\n",
    )
    .expect("users");
    let mut c = sync_cmd(&home, &src.plain_url(), &dst.plain_url(), &users);
    c.arg("-vvv");
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 16, "wrong password: {out}\n{err}");
    assert!(
        out.contains("refused the login of wrongpw@example.test"),
        "{out}"
    );
    assert!(
        out.contains("sync looks good: all 42 messages"),
        "the other account went on: {out}"
    );
    assert!(
        out.contains("sync incomplete: 1 of 2 accounts not in sync"),
        "{out}"
    );
    for secret in ["ok-src", "ok-dst", "wp-src", "not-the-password"] {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "password {secret} leaked into the output (-vvv)"
        );
    }

    // Unreachable destination: connection code.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut c = sync_cmd(
        &home,
        &src.plain_url(),
        &format!("imap+plain://127.0.0.1:{closed}"),
        &users,
    );
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 10, "unreachable: {out}\n{err}");
    assert!(
        out.contains("cannot connect to imap+plain://127.0.0.1"),
        "{out}"
    );

    // Over quota: quota code for that account; the rerun after raising the
    // quota picks up where it stopped.
    let users = dir.join("users-quota.csv");
    std::fs::write(&users, "quota@example.test;q-src;quota@example.test;q-dst\nok@example.test;ok-src;ok@example.test;ok-dst\n").expect("users");
    let mut c = sync_cmd(&home, &src.plain_url(), &dst.plain_url(), &users);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 113, "over quota: {out}\n{err}");
    assert!(out.contains("over quota"), "{out}");
    let partial = imap_tool(
        dir,
        "count",
        json!([dst.port, "quota@example.test", "q-dst"]),
    )
    .as_u64()
    .unwrap_or(0);
    assert!(partial > 0 && partial < 42, "stopped midway ({partial})");
    let mut raised = user("quota@example.test", "q-dst");
    raised.extra = "userdb_quota_rule=*:storage=1G".into();
    // Dovecot re-reads a passwd-file when its mtime or size changes.
    std::thread::sleep(Duration::from_millis(1100));
    dst.set_user(&raised);
    let mut c = sync_cmd(&home, &src.plain_url(), &dst.plain_url(), &users);
    c.arg("--json");
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "after raising the quota: {out}\n{err}");
    let j = json_of(&out);
    assert_eq!(
        j["totals"]["copied"],
        json!(42 - partial),
        "only the rest is copied: {out}"
    );
    assert_identical(
        dir,
        &src,
        &dst,
        &[("quota@example.test".into(), "q-src".into(), "q-dst".into())],
    );

    // A message the destination refuses (too large): append code, the
    // other messages of that account still arrive.
    let users = dir.join("users-big.csv");
    std::fs::write(&users, "big@example.test;b-src;big@example.test;b-dst\n").expect("users");
    let mut c = sync_cmd(&home, &src.plain_url(), &dst.plain_url(), &users);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 114, "refused message: {out}\n{err}");
    assert!(out.contains("refused message UID"), "{out}");
    assert!(
        out.contains("sync incomplete: 1 of 43 messages of the source are not on the destination"),
        "{out}"
    );
    assert_eq!(
        imap_tool(dir, "count", json!([dst.port, "big@example.test", "b-dst"])),
        json!(42)
    );
}

#[test]
fn special_folders_mapped_folders_only_and_guarded_delete() {
    let (u, sp, dp) = ("map@example.test", "map-src", "map-dst");
    let src = Dovecot::start(
        "map-src",
        &[user(u, sp)],
        Opts {
            no_special_use: true,
            ..Default::default()
        },
    );
    let dst = Dovecot::start("map-dst", &[user(u, dp)], Opts::default());
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    // An old Exchange-style source without SPECIAL-USE: "Sent Items" and
    // "Gelöschte Elemente" are recognised by name.
    for f in ["Sent Items", "Gelöschte Elemente", "Kunden", "Kunden/2024"] {
        imap_tool(dir, "create", json!([src.port, u, sp, f]));
    }
    let base = 1_700_000_000u64;
    for (i, f) in [
        "INBOX",
        "INBOX",
        "Sent Items",
        "Sent Items",
        "Sent Items",
        "Gelöschte Elemente",
        "Kunden/2024",
    ]
    .iter()
    .enumerate()
    {
        imap_tool(
            dir,
            "append_to",
            json!([src.port, u, sp, f, format!("msg {i}"), base + i as u64 * 60]),
        );
    }
    let users = dir.join("users.csv");
    std::fs::write(&users, format!("{u};{sp};{u};{dp}\n")).expect("users");
    let rename = ["--map-folder", "Kunden/2024=Kunden/Jahr 2024 – Ü"];
    let home = dir.join("home");

    // --folders-only: the tree, no messages.
    let mut c = sync_cmd(&home, &src.plain_url(), &dst.plain_url(), &users);
    c.arg("--folders-only");
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("folders only"), "{out}");
    let counts = imap_tool(dir, "counts", json!([dst.port, u, dp]));
    assert_eq!(counts["Kunden/2024"], json!(0), "{counts}");
    assert!(
        counts.get("Sent Items").is_none(),
        "Sent Items maps to Sent: {counts}"
    );
    assert!(
        counts.get("Gel&APY-schte Elemente").is_none(),
        "maps to Trash: {counts}"
    );

    // Full run: special folders land in the destination's special folders;
    // an explicit rename wins.
    let mut c = sync_cmd(&home, &src.plain_url(), &dst.plain_url(), &users);
    c.args(rename);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("Sent Items -> Sent") && out.contains("Gelöschte Elemente -> Trash"),
        "{out}"
    );
    let a = imap_tool(dir, "snapshot", json!([src.port, u, sp]));
    let b = imap_tool(dir, "snapshot", json!([dst.port, u, dp]));
    assert_eq!(a["Sent Items"], b["Sent"]);
    assert_eq!(a["Gel&APY-schte Elemente"], b["Trash"]);
    assert_eq!(a["Kunden/2024"], b["Kunden/Jahr 2024 &IBM- &ANw-"], "{b}");
    assert_eq!(a["INBOX"], b["INBOX"]);

    // A stray destination message older than the source's newest: --delete
    // removes it (dry run first shows it, deletes nothing).
    imap_tool(
        dir,
        "append_to",
        json!([dst.port, u, dp, "INBOX", "stray old", base - 86400]),
    );
    let mut c = sync_cmd(&home, &src.plain_url(), &dst.plain_url(), &users);
    c.args(["--delete", "--dry-run"]);
    c.args(rename);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("1 destination-only messages would be deleted"),
        "{out}"
    );
    assert_eq!(
        imap_tool(dir, "counts", json!([dst.port, u, dp]))["INBOX"],
        json!(3)
    );
    let mut c = sync_cmd(&home, &src.plain_url(), &dst.plain_url(), &users);
    c.arg("--delete");
    c.args(rename);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{out}\n{err}");
    let b = imap_tool(dir, "snapshot", json!([dst.port, u, dp]));
    assert_eq!(
        a["INBOX"], b["INBOX"],
        "the stray message is gone, nothing else"
    );

    // Mail newer than anything on the source means the destination already
    // receives mail (after the cutover): --delete refuses without --force.
    imap_tool(
        dir,
        "append_to",
        json!([
            dst.port,
            u,
            dp,
            "INBOX",
            "delivered after cutover",
            base + 86400 * 30
        ]),
    );
    let mut c = sync_cmd(&home, &src.plain_url(), &dst.plain_url(), &users);
    c.arg("--delete");
    c.args(rename);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 3, "refused: {out}\n{err}");
    assert!(
        out.contains("after cutover") && out.contains("--force"),
        "{out}"
    );
    assert_eq!(
        imap_tool(dir, "counts", json!([dst.port, u, dp]))["INBOX"],
        json!(3),
        "nothing deleted"
    );
    let mut c = sync_cmd(&home, &src.plain_url(), &dst.plain_url(), &users);
    c.args(["--delete", "--force"]);
    c.args(rename);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        imap_tool(dir, "counts", json!([dst.port, u, dp]))["INBOX"],
        json!(2)
    );
}

/// A loopback TCP relay that records how many connections were open at
/// once, to see the per-server bound from the server's side.
struct CountingRelay {
    port: u16,
    max: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl CountingRelay {
    fn start(target: u16) -> CountingRelay {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let active = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let (a, m) = (active.clone(), max.clone());
        std::thread::spawn(move || {
            for client in l.incoming().flatten() {
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                // A session counts from its connect until the client closes
                // it. The relay notices a close a little late on a busy
                // machine; waiting before counting a new session keeps that
                // lag from looking like an overlap.
                std::thread::sleep(Duration::from_millis(150));
                let now = a.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                let a = a.clone();
                let (mut c1, mut s1) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let (mut c2, mut s2) = (client, server);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c1, &mut s1);
                    a.fetch_sub(1, Ordering::SeqCst);
                    let _ = s1.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s2, &mut c2);
                    let _ = c2.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        CountingRelay { port, max }
    }
}

#[test]
fn parallel_accounts_stay_within_the_connection_bound() {
    let accounts: Vec<(String, String)> = (0..12)
        .map(|i| (format!("par{i:02}@example.test"), format!("pw{i}")))
        .collect();
    let users: Vec<_> = accounts.iter().map(|(u, p)| user(u, p)).collect();
    let src = Dovecot::start("par-src", &users, Opts::default());
    let dst = Dovecot::start("par-dst", &users, Opts::default());
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    std::thread::scope(|s| {
        for (u, p) in &accounts {
            let port = src.port;
            s.spawn(move || imap_tool(dir, "seed", json!([port, u, p, 30])));
        }
    });
    let relay_src = CountingRelay::start(src.port);
    let relay_dst = CountingRelay::start(dst.port);
    let file = dir.join("users.csv");
    let lines: String = accounts
        .iter()
        .map(|(u, p)| format!("{u};{p};{u};{p}\n"))
        .collect();
    std::fs::write(&file, lines).expect("users");
    let mut c = sync_cmd(
        &dir.join("home"),
        &format!("imap+plain://127.0.0.1:{}", relay_src.port),
        &format!("imap+plain://127.0.0.1:{}", relay_dst.port),
        &file,
    );
    c.args(["--connections", "3"]);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(
            "sync looks good: all 384 messages of the source are on the destination (12 accounts)"
        ),
        "{out}"
    );
    use std::sync::atomic::Ordering;
    let (ms, md) = (
        relay_src.max.load(Ordering::SeqCst),
        relay_dst.max.load(Ordering::SeqCst),
    );
    assert!(
        ms <= 3 && md <= 3,
        "at most 3 sessions per server, saw {ms} and {md}"
    );
    assert!(
        ms >= 2 && md >= 2,
        "accounts ran in parallel, saw {ms} and {md} at once"
    );
}
