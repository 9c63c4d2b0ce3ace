//! `migrate dns` against real Knot DNS servers (primary 127.0.0.1 + a
//! secondary on 127.0.0.2 that follows by NOTIFY/IXFR), RFC 2136 UPDATE
//! signed with TSIG. Each test has its own servers, zone and data dir.

use std::process::{Command, Output, Stdio};

use crate::support::cli::{migrate, run, stderr, stdout};
use crate::support::dns::{KnotLab, TSIG_LINE, TSIG_SECRET, WRONG_TSIG_LINE, zone_text};
use crate::support::fixtures::free_port;
use serde_json::Value;

struct T {
    home: tempfile::TempDir,
    lab: KnotLab,
}

impl T {
    fn new(extra_zone: &str) -> Self {
        T {
            home: tempfile::tempdir().expect("home"),
            lab: KnotLab::start(&zone_text(extra_zone)),
        }
    }

    /// `migrate dns <args>` with the lab's resolver/port and the right TSIG key.
    fn dns(&self, args: &[&str]) -> Output {
        self.dns_key(args, TSIG_LINE)
    }

    fn dns_key(&self, args: &[&str], key: &str) -> Output {
        let mut c = migrate(self.home.path());
        c.arg("dns")
            .args(args)
            .args([
                "--resolver",
                &self.lab.primary(),
                "--ns-port",
                &self.lab.port.to_string(),
            ])
            .env("MIGRATE_TSIG_KEY", key);
        run(&mut c)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let o = self.dns(&a);
        assert!(
            o.status.success(),
            "migrate dns {args:?} failed:\n{}\n{}",
            stdout(&o),
            stderr(&o)
        );
        let v: Value = serde_json::from_str(stdout(&o).trim()).expect("json output");
        assert_eq!(v["command"], format!("dns {}", args[0]), "{v}");
        assert_eq!(v["ok"], true, "{v}");
        v["result"].clone()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn plan_reads_ttls_from_every_authoritative_server_and_stores_the_plan() {
    let t = T::new("");
    let v = t.json(&[
        "plan",
        "--domain",
        "example.test",
        "--to",
        "198.51.100.20",
        "--to",
        "2001:db8:1::20",
        "--provider",
        "rfc2136",
    ]);
    let plan = &v["plan"];
    assert_eq!(plan["zone"], "example.test.");
    let observed = plan["observed"].as_array().unwrap();
    assert_eq!(observed.len(), 2, "both NS answered: {observed:?}");
    let servers: Vec<&str> = observed
        .iter()
        .map(|o| o["server"].as_str().unwrap())
        .collect();
    assert!(
        servers.iter().any(|s| s.contains("127.0.0.1"))
            && servers.iter().any(|s| s.contains("127.0.0.2")),
        "{servers:?}"
    );
    for o in observed {
        assert_eq!(o["serial"], 2024010101);
        let a = o["rrsets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == "A")
            .unwrap();
        assert_eq!(a["ttl"], 3600);
        assert_eq!(a["values"][0], "192.0.2.10");
    }
    // SOA MINIMUM 300 and SOA TTL 3600: negative answers cached 300 s.
    assert_eq!(plan["negative_cache_ttl"], 300);
    assert_eq!(plan["lowered_ttl"], 300);
    assert_eq!(plan["max_old_ttl"], 3600);
    let types: Vec<&str> = plan["original"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    for want in ["A", "AAAA", "MX", "TXT"] {
        assert!(types.contains(&want), "{types:?}");
    }
    // Stored on disk under XDG_DATA_HOME, without the secret.
    let saved = t.home.path().join("data/migrate/dns/example.test.json");
    let text = std::fs::read_to_string(&saved).expect("plan stored");
    assert!(text.contains("\"lowered_ttl\": 300"));
    assert!(
        !text.contains(TSIG_SECRET),
        "the TSIG secret must not be stored"
    );
    // Human output names the timing facts.
    let o = t.dns(&["plan", "--domain", "example.test"]);
    let out = stdout(&o);
    assert!(
        out.contains("`migrate dns lower` would change zone example.test.")
            && out.contains("~ example.test. MX ttl 3600 -> 300 10 mail.example.test.")
            && out.contains("~ example.test. A ttl 3600 -> 300 192.0.2.10 -> 198.51.100.20")
            && out.contains("~ example.test. AAAA ttl 3600 -> 300 2001:db8::10 -> 2001:db8:1::20"),
        "{out}"
    );
    assert!(
        out.contains("earliest safe cutover")
            && out.contains("negative-cache time")
            && out.contains("TTLs to restore"),
        "{out}"
    );
}

#[test]
fn lower_verify_then_restore_from_the_stored_plan_in_a_new_process() {
    let t = T::new("");
    let before = now();
    t.json(&[
        "plan",
        "--domain",
        "cloud.example.test",
        "--to",
        "198.51.100.20",
        "--provider",
        "rfc2136",
    ]);

    // Dry run: shows the diff, changes nothing.
    let o = t.dns(&["lower", "--domain", "cloud.example.test", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("~ cloud.example.test. A ttl 3600 -> 300 192.0.2.10"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        t.lab.rrset(&t.lab.primary(), "cloud.example.test", "A").0,
        3600
    );
    assert_eq!(t.lab.serial(&t.lab.primary()), 2024010101);

    let v = t.json(&["lower", "--domain", "cloud.example.test"]);
    let after = now();
    // Both servers serve the lowered TTL and the serial moved.
    for s in [t.lab.primary(), t.lab.secondary()] {
        assert_eq!(
            t.lab.rrset(&s, "cloud.example.test", "A"),
            (300, vec!["192.0.2.10".to_string()]),
            "{s}"
        );
        assert_eq!(t.lab.serial(&s), 2024010102, "{s}");
    }
    let verify = &v["outcome"]["verify"];
    assert_eq!(verify["ok"], true);
    assert_eq!(verify["servers"].as_array().unwrap().len(), 2);
    // Earliest safe cutover = moment all servers served the lowered TTL + old TTL.
    let lowered_at = v["plan"]["lowered_at"].as_u64().unwrap();
    assert!(
        lowered_at >= before && lowered_at <= after,
        "{lowered_at} not in [{before}, {after}]"
    );
    assert_eq!(
        v["plan"]["earliest_cutover"].as_u64().unwrap(),
        lowered_at + 3600
    );

    // Cutover before the safe time is refused with the time named.
    let o = t.dns(&["cutover", "--domain", "cloud.example.test"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("not safe yet"), "{}", stderr(&o));
    assert_eq!(
        t.lab.rrset(&t.lab.primary(), "cloud.example.test", "A").1,
        vec!["192.0.2.10".to_string()]
    );

    // Restore runs in a new process from the stored plan only, with the key
    // from a BIND-format key file instead of the environment.
    let keyfile = t.home.path().join("migrate-key.key");
    std::fs::write(
        &keyfile,
        format!(
            "key \"migrate-key.\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{}\";\n}};\n",
            TSIG_SECRET
        ),
    )
    .unwrap();
    let mut c = migrate(t.home.path());
    c.args([
        "dns",
        "restore",
        "--domain",
        "cloud.example.test",
        "--secret-file",
    ])
    .arg(&keyfile)
    .env_remove("MIGRATE_TSIG_KEY");
    let o = run(&mut c);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    for s in [t.lab.primary(), t.lab.secondary()] {
        assert_eq!(
            t.lab.rrset(&s, "cloud.example.test", "A"),
            (3600, vec!["192.0.2.10".to_string()]),
            "{s}"
        );
    }
}

#[test]
fn wildcard_answers_then_cutover_changes_a_and_aaaa_in_one_update() {
    let t = T::new("");
    t.json(&[
        "plan",
        "--domain",
        "example.test",
        "--to",
        "198.51.100.20",
        "--to",
        "2001:db8:1::20",
        "--provider",
        "rfc2136",
    ]);
    t.json(&["lower", "--domain", "example.test"]);
    let serial = t.lab.serial(&t.lab.primary());

    let v = t.json(&["wildcard", "--domain", "example.test"]);
    assert_eq!(v["outcome"]["applied"], true);
    for s in [t.lab.primary(), t.lab.secondary()] {
        assert_eq!(
            t.lab.rrset(&s, "anything-new.example.test", "A"),
            (300, vec!["198.51.100.20".to_string()]),
            "{s}"
        );
        assert_eq!(
            t.lab.rrset(&s, "test.example.test", "AAAA").1,
            vec!["2001:db8:1::20".to_string()]
        );
    }
    // The wildcard's usable time is the negative-cache time after it appeared.
    let usable = v["plan"]["wildcard_usable_at"].as_u64().unwrap();
    assert!(usable >= now() + 290, "{usable}");
    let serial = {
        assert_eq!(
            t.lab.serial(&t.lab.primary()),
            serial + 1,
            "wildcard A+AAAA in one update"
        );
        serial + 1
    };

    let v = t.json(&["cutover", "--domain", "example.test", "--now"]);
    assert_eq!(v["outcome"]["applied"], true);
    // One update: the serial moved by exactly one, and both RRsets changed.
    t.lab.wait_serial(serial + 1);
    for s in [t.lab.primary(), t.lab.secondary()] {
        assert_eq!(
            t.lab.rrset(&s, "example.test", "A"),
            (300, vec!["198.51.100.20".to_string()]),
            "{s}"
        );
        assert_eq!(
            t.lab.rrset(&s, "example.test", "AAAA"),
            (300, vec!["2001:db8:1::20".to_string()]),
            "{s}"
        );
    }
    // Restore: original TTLs on the new values, wildcard gone.
    let o = t.dns(&["restore", "--domain", "example.test"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    for s in [t.lab.primary(), t.lab.secondary()] {
        assert_eq!(
            t.lab.rrset(&s, "example.test", "A"),
            (3600, vec!["198.51.100.20".to_string()])
        );
        assert_eq!(t.lab.rrset(&s, "example.test", "MX").0, 3600);
        assert!(
            t.lab
                .rrset(&s, "anything-new.example.test", "A")
                .1
                .is_empty(),
            "wildcard removed on {s}"
        );
    }
}

#[test]
fn wrong_tsig_key_is_named_and_the_zone_is_unchanged() {
    let t = T::new("");
    t.json(&[
        "plan",
        "--domain",
        "cloud.example.test",
        "--to",
        "198.51.100.20",
        "--provider",
        "rfc2136",
    ]);
    let o = t.dns_key(
        &["lower", "--domain", "cloud.example.test"],
        WRONG_TSIG_LINE,
    );
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("TSIG key rejected"), "{err}");
    assert!(
        !err.contains("truncated HMAC"),
        "hickory's message must be translated: {err}"
    );
    assert!(!err.contains("AAAAslF9"), "no secret in errors");
    for s in [t.lab.primary(), t.lab.secondary()] {
        assert_eq!(t.lab.rrset(&s, "cloud.example.test", "A").0, 3600);
        assert_eq!(t.lab.serial(&s), 2024010101);
    }
    // A malformed key is refused before anything is sent.
    let o = t.dns_key(
        &["lower", "--domain", "cloud.example.test"],
        "hmac-sha256:migrate-key.:not-base64!",
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("base64"), "{}", stderr(&o));
    assert_eq!(t.lab.serial(&t.lab.primary()), 2024010101);
}

#[test]
fn bad_input_unknown_zone_unreachable_server_and_cname() {
    let t = T::new("");
    // Unknown zone: Knot refuses names outside its zones.
    let o = t.dns(&[
        "plan",
        "--domain",
        "cloud.nosuch.test",
        "--provider",
        "rfc2136",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no zone found for cloud.nosuch.test."),
        "{}",
        stderr(&o)
    );

    // Unreachable nameserver: nothing listens there.
    let dead = format!("127.0.0.1:{}", free_port(&["127.0.0.1"]));
    let mut c = migrate(t.home.path());
    c.args([
        "dns",
        "plan",
        "--domain",
        "cloud.example.test",
        "--authoritative",
        &dead,
        "--query-timeout",
        "1",
    ]);
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&dead) && stderr(&o).contains("did not answer"),
        "{}",
        stderr(&o)
    );

    // A CNAME where an address is expected.
    let o = t.dns(&[
        "plan",
        "--domain",
        "www.example.test",
        "--to",
        "198.51.100.20",
        "--provider",
        "rfc2136",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("www.example.test. is a CNAME to example.test."),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        t.lab.serial(&t.lab.primary()),
        2024010101,
        "nothing changed"
    );
}

#[test]
fn safety_limit_refuses_a_change_touching_too_much_of_the_zone() {
    let t = T::new(
        "a1 3600 IN A 192.0.2.31\na2 3600 IN A 192.0.2.32\na3 3600 IN A 192.0.2.33\na4 3600 IN A 192.0.2.34\na5 3600 IN A 192.0.2.35\n",
    );
    let mut args = vec![
        "plan",
        "--domain",
        "cloud.example.test",
        "--to",
        "198.51.100.20",
        "--provider",
        "rfc2136",
    ];
    for n in ["a1", "a2", "a3", "a4", "a5"] {
        args.push("--name");
        args.push(Box::leak(format!("{n}.example.test").into_boxed_str()));
    }
    t.json(&args);
    // Lowering TTLs changes no answer: not counted by the limit.
    t.json(&["lower", "--domain", "cloud.example.test"]);
    let serial = t.lab.serial(&t.lab.primary());
    // Cutover: 6 address RRsets of the zone's 17 (35% > 30%).
    let o = t.dns(&["cutover", "--domain", "cloud.example.test", "--now"]);
    assert_eq!(o.status.code(), Some(3), "{}\n{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("safety limit: this change touches 6 of the zone's 17 RRsets")
            && err.contains("--force"),
        "{err}"
    );
    assert_eq!(t.lab.serial(&t.lab.primary()), serial, "zone unchanged");
    assert_eq!(
        t.lab.rrset(&t.lab.primary(), "a1.example.test", "A").1,
        vec!["192.0.2.31".to_string()]
    );

    let o = t.dns(&[
        "cutover",
        "--domain",
        "cloud.example.test",
        "--now",
        "--force",
    ]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(
        t.lab.rrset(&t.lab.secondary(), "a5.example.test", "A").1,
        vec!["198.51.100.20".to_string()]
    );
}

#[test]
fn verify_names_a_lagging_authoritative_server() {
    let home = tempfile::tempdir().unwrap();
    let lab = KnotLab::start_with_stale(&zone_text(""));
    let stale = format!("127.0.0.3:{}", lab.port);
    let mut c = migrate(home.path());
    c.args([
        "dns",
        "lower",
        "--domain",
        "cloud.example.test",
        "--provider",
        "rfc2136",
        "--server",
        &lab.primary(),
        "--timeout",
        "3",
    ])
    .args([
        "--authoritative",
        &lab.primary(),
        "--authoritative",
        &lab.secondary(),
        "--authoritative",
        &stale,
    ])
    .env("MIGRATE_TSIG_KEY", TSIG_LINE);
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(6), "{}\n{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&stale), "names the lagging server: {err}");
    assert!(
        !err.contains(&format!("{} (", lab.secondary())),
        "the secondary is not lagging: {err}"
    );
    assert!(
        err.contains("3600") && err.contains("serial 2024010101 behind 2024010102"),
        "{err}"
    );
    // The plan was kept (originals intact) so restore still works.
    let mut c = migrate(home.path());
    c.args([
        "dns",
        "restore",
        "--domain",
        "cloud.example.test",
        "--authoritative",
        &lab.primary(),
        "--authoritative",
        &lab.secondary(),
    ])
    .env("MIGRATE_TSIG_KEY", TSIG_LINE);
    let o = run(&mut c);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(
        lab.rrset(&lab.secondary(), "cloud.example.test", "A").0,
        3600
    );

    // `migrate dns verify`: the two following servers agree, the stale one is named.
    let verify = |extra: &[&str]| {
        let mut c = migrate(home.path());
        c.args([
            "dns",
            "verify",
            "--domain",
            "cloud.example.test",
            "--timeout",
            "2",
        ])
        .args([
            "--authoritative",
            &lab.primary(),
            "--authoritative",
            &lab.secondary(),
        ])
        .args(extra);
        run(&mut c)
    };
    let o = verify(&[]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("all 2 authoritative servers serve the same data"),
        "{}",
        stdout(&o)
    );
    let o = verify(&["--authoritative", &stale]);
    assert_eq!(o.status.code(), Some(6), "{}\n{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains(&stale), "{}", stderr(&o));
}

#[test]
fn manual_provider_prints_every_record_and_waits_until_served() {
    let t = T::new("");
    t.json(&[
        "plan",
        "--domain",
        "example.test",
        "--to",
        "198.51.100.20",
        "--provider",
        "manual",
    ]);
    let mut c = migrate(t.home.path());
    c.args([
        "dns",
        "lower",
        "--domain",
        "example.test",
        "--timeout",
        "60",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let mut out = child.stdout.take().unwrap();
    // Read the instructions until the tool says it waits.
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains("Waiting up to") {
        use std::io::Read;
        let n = out.read(&mut buf).expect("read");
        assert!(n > 0, "exited early: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    for want in [
        "1. EDIT record @ type A: set TTL from 3600 to 300, keep value(s) 192.0.2.10",
        "EDIT record @ type AAAA: set TTL from 3600 to 300, keep value(s) 2001:db8::10",
        "EDIT record @ type MX: set TTL from 3600 to 300, keep value(s) 10 mail.example.test.",
        "EDIT record @ type TXT: set TTL from 3600 to 300, keep value(s) \"v=spf1 mx -all\"",
        "example.test. 300 IN A 192.0.2.10",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // The operator follows the instructions (here with knsupdate).
    let script = format!(
        "server 127.0.0.1 {}\nzone example.test.\nupdate delete example.test. A\nupdate add example.test. 300 A 192.0.2.10\nupdate delete example.test. AAAA\nupdate add example.test. 300 AAAA 2001:db8::10\nupdate delete example.test. MX\nupdate add example.test. 300 MX 10 mail.example.test.\nupdate delete example.test. TXT\nupdate add example.test. 300 TXT \"v=spf1 mx -all\"\nsend\n",
        t.lab.port
    );
    let mut up = Command::new("knsupdate")
        .args(["-y", TSIG_LINE])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("knsupdate");
    {
        use std::io::Write;
        up.stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
    }
    assert!(up.wait().unwrap().success());
    let status = child.wait().expect("wait");
    let mut rest = String::new();
    {
        use std::io::Read;
        out.read_to_string(&mut rest).unwrap();
    }
    assert!(status.success(), "{rest}");
    assert!(
        rest.contains("every authoritative server serves it"),
        "{rest}"
    );
}

#[test]
fn mail_check_finds_wrong_spf_and_missing_dmarc() {
    // SPF allows only some other address; no DMARC; DKIM with selector "dkim".
    let zone = zone_text("dkim._domainkey 3600 IN TXT \"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC5\"\n")
        .replace("\"v=spf1 mx -all\"", "\"v=spf1 ip4:192.0.2.99 -all\"")
        .replace("_dmarc  3600  IN TXT   \"v=DMARC1; p=quarantine\"\n", "")
        .replace("mail    3600  IN A     192.0.2.25", "mail    3600  IN A     198.51.100.20");
    let home = tempfile::tempdir().unwrap();
    let lab = KnotLab::start(&zone);
    let mut c = migrate(home.path());
    c.args([
        "--json",
        "dns",
        "mail-check",
        "--domain",
        "example.test",
        "--mail-host",
        "mail.example.test",
        "--ip",
        "198.51.100.20",
    ])
    .args([
        "--resolver",
        &lab.primary(),
        "--ns-port",
        &lab.port.to_string(),
    ]);
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(6), "{}\n{}", stdout(&o), stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["exit_code"], 6, "{v}");
    let get = |name: &str| {
        v["result"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(get("MX")["ok"], true);
    assert_eq!(get("DKIM")["ok"], true);
    assert_eq!(get("A")["ok"], true);
    assert_eq!(get("PTR")["ok"], true, "{}", get("PTR"));
    let spf = get("SPF");
    assert_eq!(spf["ok"], false);
    assert!(spf["found"].as_str().unwrap().contains("ip4:192.0.2.99"));
    assert!(
        spf["fix"]
            .as_str()
            .unwrap()
            .contains("does not allow the new server 198.51.100.20"),
        "{spf}"
    );
    let dmarc = get("DMARC");
    assert_eq!(dmarc["ok"], false);
    assert!(
        dmarc["found"]
            .as_str()
            .unwrap()
            .contains("no DMARC record at _dmarc.example.test."),
        "{dmarc}"
    );

    // A PTR that does not match is reported too.
    let mut c = migrate(home.path());
    c.args([
        "dns",
        "mail-check",
        "--domain",
        "example.test",
        "--mail-host",
        "mx2.example.test",
        "--ip",
        "198.51.100.20",
    ])
    .args([
        "--resolver",
        &lab.primary(),
        "--ns-port",
        &lab.port.to_string(),
    ]);
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(6));
    let out = stdout(&o);
    assert!(
        out.contains("PTR   FAIL") && out.contains("ask the owner of 198.51.100.20"),
        "{out}"
    );
    assert!(out.contains("MX    FAIL"), "{out}");
}
