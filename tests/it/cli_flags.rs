//! One meaning per flag: the new spellings, and the old ones still
//! accepted with a one-line note on stderr. No servers needed.

use crate::support::cli::{migrate, run, stderr, stdout};

fn migrate_run(args: &[&str]) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    run(migrate(home.path()).args(args))
}

#[test]
fn mail_cutover_old_mx_host_works_like_mail_host_with_a_note() {
    let base = [
        "mail",
        "cutover",
        "--domain",
        "example.net",
        "--new-ip",
        "192.0.2.7",
        "--json",
    ];
    let new = migrate_run(&[&base[..], &["--mail-host", "mail.example.net"]].concat());
    let old = migrate_run(&[&base[..], &["--mx-host", "mail.example.net"]].concat());
    assert_eq!(new.status.code(), Some(0), "{}", stderr(&new));
    assert_eq!(old.status.code(), Some(0), "{}", stderr(&old));
    assert_eq!(
        stdout(&new),
        stdout(&old),
        "the old spelling means the same"
    );
    assert!(
        stdout(&new).contains("mail.example.net"),
        "{}",
        stdout(&new)
    );
    assert_eq!(stderr(&new), "", "no note for the new spelling");
    let note = stderr(&old);
    assert_eq!(note.lines().count(), 1, "{note}");
    assert!(
        note.contains("`--mx-host` is deprecated") && note.contains("`--mail-host`"),
        "{note}"
    );
}

#[test]
fn dns_to_and_ip_are_old_spellings_of_new_ip() {
    // An authoritative server that does not answer: the command fails the
    // same way whichever spelling carried the address, and not as a usage
    // error.
    let common = [
        "--domain",
        "a.example.net",
        "--authoritative",
        "127.0.0.1:9",
        "--query-timeout",
        "1",
        "--json",
    ];
    for (cmd, old) in [
        ("plan", "--to"),
        ("mail-check", "--ip"),
        ("mail-check", "--to"),
    ] {
        let new = migrate_run(&[&["dns", cmd, "--new-ip", "192.0.2.7"][..], &common].concat());
        let was = migrate_run(&[&["dns", cmd, old, "192.0.2.7"][..], &common].concat());
        assert_ne!(new.status.code(), Some(2), "{}", stderr(&new));
        assert_eq!(new.status.code(), was.status.code(), "{}", stderr(&was));
        let note = format!("`{old}` is deprecated for `migrate dns {cmd}`; use `--new-ip`");
        assert!(stderr(&was).contains(&note), "{}", stderr(&was));
        assert!(!stderr(&new).contains("deprecated"), "{}", stderr(&new));
    }
}

#[test]
fn help_shows_only_the_new_spellings() {
    for (args, new, old) in [
        (&["dns", "cutover", "--help"][..], "--new-ip", "--to"),
        (&["dns", "mail-check", "--help"][..], "--new-ip", "--ip"),
        (
            &["mail", "cutover", "--help"][..],
            "--mail-host",
            "--mx-host",
        ),
        (
            &["mail", "users", "--help"][..],
            "--secret-file",
            "--token-file",
        ),
    ] {
        let out = migrate_run(args);
        let help = stdout(&out);
        assert!(help.contains(new), "{args:?}: {help}");
        assert!(
            !help.contains(&format!("{old} ")) && !help.contains(&format!("{old}=")),
            "{args:?} still shows {old}: {help}"
        );
    }
}

#[test]
fn bwlimit_takes_rsync_units() {
    let home = tempfile::tempdir().unwrap();
    for good in ["5000", "500K", "20m", "1.5G", "0"] {
        // Parsed, then refused for the missing source: not a usage error.
        let out = run(migrate(home.path()).args([
            "copy",
            "local:/nonexistent-src-dir",
            "local:/nonexistent-dst-dir",
            "--bwlimit",
            good,
        ]));
        let err = stderr(&out);
        assert!(!err.contains("invalid value"), "{good}: {err}");
    }
    let out =
        run(migrate(home.path()).args(["copy", "local:/a", "local:/b", "--bwlimit", "5 MB/s"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("rsync's units"), "{}", stderr(&out));
}

#[test]
fn old_command_forms_still_work_with_a_note() {
    // (old form, new form): the same envelope but for its `command`.
    for (old, new) in [
        (&["status"][..], &["copy", "status"][..]),
        (&["cleanup"][..], &["copy", "cleanup"][..]),
        (
            &["volume", "local:x", "local:y"][..],
            &["docker", "volume", "local:x", "local:y"][..],
        ),
        (
            &[
                "app-status",
                "nextcloud",
                "--to",
                "local",
                "--domain",
                "x.test",
            ][..],
            &[
                "app",
                "status",
                "nextcloud",
                "--to",
                "local",
                "--domain",
                "x.test",
            ][..],
        ),
        (
            &["plan", "nextcloud", "--to", "local", "--domain", "x.test"][..],
            &[
                "app",
                "plan",
                "nextcloud",
                "--to",
                "local",
                "--domain",
                "x.test",
            ][..],
        ),
        (
            &["abort", "nextcloud", "--to", "local", "--domain", "x.test"][..],
            &[
                "app",
                "abort",
                "nextcloud",
                "--to",
                "local",
                "--domain",
                "x.test",
            ][..],
        ),
    ] {
        let o = migrate_run(&[old, &["--json"]].concat());
        let n = migrate_run(&[new, &["--json"]].concat());
        assert_eq!(o.status.code(), n.status.code(), "{old:?}: {}", stderr(&o));
        let mut vo: serde_json::Value = serde_json::from_slice(&o.stdout).expect("envelope");
        let mut vn: serde_json::Value = serde_json::from_slice(&n.stdout).expect("envelope");
        assert_eq!(
            vn["command"],
            new.iter()
                .take_while(|w| !w.contains(':') && *w != &"nextcloud")
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        );
        vo["command"] = serde_json::Value::Null;
        vn["command"] = serde_json::Value::Null;
        assert_eq!(vo, vn, "{old:?} and {new:?} differ");
        let note = format!("`migrate {}` is now `migrate ", old[0]);
        assert!(stderr(&o).contains(&note), "{old:?}: {}", stderr(&o));
        assert!(!stderr(&n).contains("is now"), "{new:?}: {}", stderr(&n));
    }
    // `app NAME …` without a verb is `app run NAME …`, as before.
    let a = migrate_run(&[
        "app",
        "nextcloud",
        "--to",
        "local",
        "--domain",
        "x.test",
        "--json",
    ]);
    let r = migrate_run(&[
        "app",
        "run",
        "nextcloud",
        "--to",
        "local",
        "--domain",
        "x.test",
        "--json",
    ]);
    assert_eq!(a.status.code(), Some(2));
    let (va, vr): (serde_json::Value, serde_json::Value) = (
        serde_json::from_slice(&a.stdout).unwrap(),
        serde_json::from_slice(&r.stdout).unwrap(),
    );
    assert_eq!(va["error"], vr["error"]);
    assert!(!stderr(&a).contains("is now"), "{}", stderr(&a));
}
