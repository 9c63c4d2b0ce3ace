//! `migrate app mailu` between two Mailu compose projects in the lab: the
//! stand-in of examples/lab-mailu (real Dovecot and Postfix, Mailu's
//! directories, image names and admin database) runs on src; dst has only
//! the images. Mail is delivered to src over SMTP while each live pre-sync
//! runs; the run is killed in the downtime window and rerun. Everything is
//! checked from outside: every message on dst with the same bytes, flags
//! and internal date as on src (Python's imaplib), the users' old passwords
//! accepted by dst's Dovecot, the DKIM key byte for byte, the containers.

use std::process::{Child, Command, Stdio};

use crate::support::cli::{stderr, stdout};
use crate::support::dns;
use crate::support::fixtures::workspace_root;
use crate::support::lab::{self, Need, keys, ok, put, put_tree, sq};
use crate::support::mail;

const DOMAIN: &str = "example.test";
const VERSION: &str = "2024.06.57";
const USERS: [(&str, &str); 2] = [
    ("alice@example.test", "alice-old-pw"),
    ("bob@example.test", "bob's \"old\" pw"),
];

/// The test's own IMAP and SMTP client, independent of the tool.
const MAIL_TOOL: &str = r#"
import imaplib, smtplib, json, sys, hashlib, re, time

FETCH_RE = re.compile(rb'FLAGS \(([^)]*)\).*?INTERNALDATE "([^"]+)"', re.S)

def snapshot(addr, port, user, pw):
    M = imaplib.IMAP4(addr, port)
    M.login(user, pw)
    out = {}
    for line in M.list()[1]:
        name = re.match(rb'\((.*?)\) "(.)" (.*)$', line).group(3).decode().strip('"')
        typ, n = M.select('"%s"' % name, readonly=True)
        if int(n[0]) == 0:
            out[name] = []
            continue
        typ, data = M.fetch("1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
        msgs = []
        for item in data:
            if isinstance(item, tuple):
                m = FETCH_RE.search(item[0])
                flags = sorted(f for f in m.group(1).decode().split() if f != "\\Recent")
                msgs.append([hashlib.sha256(item[1]).hexdigest(), flags, m.group(2).decode()])
        out[name] = sorted(msgs)
    M.logout()
    return out

def refused(addr, port, user, pw):
    try:
        imaplib.IMAP4(addr, port).login(user, pw)
        return False
    except imaplib.IMAP4.error:
        return True

def send(addr, port, tag, n, pause, *rcpts):
    sent = 0
    for i in range(n):
        to = rcpts[i % len(rcpts)]
        msg = ("From: someone@elsewhere.test\r\nTo: %s\r\nSubject: %s %d\r\nMessage-ID: <%s-%d@elsewhere.test>\r\n\r\n%s\r\n" % (to, tag, i, tag, i, ("line %d of %s\r\n" % (i, tag)) * (3 + i))).encode()
        s = smtplib.SMTP(addr, port, timeout=20)
        s.sendmail("someone@elsewhere.test", [to], msg)
        s.quit()
        sent += 1
        time.sleep(pause)
    return sent

def organize(addr, port, user, pw):
    # What users do: read, flag, file away; a message appended with an
    # old internal date.
    M = imaplib.IMAP4(addr, port)
    M.login(user, pw)
    M.create("Archive")
    M.append("Archive", "(\\Seen $Work)", imaplib.Time2Internaldate(1600000000),
             b"From: a@elsewhere.test\r\nSubject: old\r\n\r\nkept since 2020\r\n")
    M.select("INBOX")
    M.store("1", "+FLAGS", "(\\Seen \\Flagged)")
    M.store("2", "+FLAGS", "(\\Answered)")
    M.logout()
    return True

def seed(addr, port, user, pw, n, tag):
    M = imaplib.IMAP4(addr, port)
    M.login(user, pw)
    M.create("Archive")
    for i in range(n):
        folder = "Archive" if i % 3 == 2 else "INBOX"
        flags = ["(\\Seen)", "()", "(\\Seen \\Flagged $Work)"][i % 3]
        msg = ("From: x%d@elsewhere.test\r\nTo: %s\r\nSubject: %s %d\r\nMessage-ID: <%s-%d-%s@elsewhere.test>\r\n\r\n%s\r\n" % (i, user, tag, i, tag, i, user, "body of %s %d\r\n" % (tag, i) * (2 + i))).encode()
        typ, data = M.append(folder, flags, imaplib.Time2Internaldate(1650000000 + 3600 * i), msg)
        assert typ == "OK", data
    M.logout()
    return n

cmd = sys.argv[1]
args = json.loads(sys.argv[2])
print(json.dumps(globals()[cmd](*args)))
"#;

struct Mailu {
    base: String,
    root: String,
    project: String,
    smtp: u16,
    imap: u16,
    tool: std::path::PathBuf,
    run: crate::support::cli::Operator,
}

/// One migration at a time: each adds and removes temporary trust between
/// the servers (and checks none is left), which another's would disturb.
static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE.lock().unwrap_or_else(|p| p.into_inner())
}

impl Mailu {
    fn new(tag: &str) -> Mailu {
        let pid = std::process::id();
        let base = format!("/srv/test-app-mailu-{tag}-{pid}");
        let root = format!("{base}/mailu");
        let project = format!("mtmailu{tag}{pid}");
        let ports: Vec<u16> = (0..6).map(|_| lab::port()).collect();
        let run = crate::support::cli::Operator::new();
        let tool = run.home.path().join("mail_tool.py");
        std::fs::write(&tool, MAIL_TOOL).expect("mail tool");
        let f = Mailu {
            base,
            root,
            project,
            smtp: ports[0],
            imap: ports[1],
            tool,
            run,
        };
        let ex = workspace_root().join("examples/lab-mailu");
        // Mailu's image names, on both servers (no registry here).
        for h in ["src", "dst"] {
            lab::install(h, &format!("sh -s {VERSION}"), &ex.join("images.sh"));
        }
        put_tree(
            &["src"],
            &ex,
            &["docker-compose.yml", "mailu.env", "setup.sh", "standin"],
            &f.root,
            "true",
        );
        let env = format!(
            "SMTP_PORT={}\nIMAP_PORT={}\nLMTP_PORT={}\nADMIN_PORT={}\nFRONT_PORT={}\nREDIS_PORT={}\nMAILU_VERSION={VERSION}\n",
            ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
        );
        put("src", &f.root, &[(".env", env.as_bytes(), "644")]);
        let users: Vec<String> = USERS
            .iter()
            .map(|(u, p)| sq(&format!("{}:{p}", u.split('@').next().unwrap_or(u))))
            .collect();
        ok(
            "src",
            &format!(
                "cd {r} && MAILU_ADDR=127.0.0.2 sh setup.sh {p} {DOMAIN} {u} && {up}",
                r = f.root,
                p = f.project,
                u = users.join(" "),
                up = f.up("127.0.0.2"),
            ),
        );
        let pw = f.run.home.path().join("alice.pw");
        std::fs::write(&pw, format!("{}\n", USERS[0].1)).expect("password file");
        let toml = format!(
            r#"# Mailu from one compose project to another, as docs/maintain.rst moves it
app = "mailu"
domain = "mail.{DOMAIN}"
backup_dir = "{base}/backup"

[source]
host = "{src}"
root = "{root}"
compose = "{root}"
project = "{project}"
http = "127.0.0.2:{front}"
start = {start_src:?}

[destination]
host = "{dst}"
root = "{root}"
compose = "{root}"
project = "{project}"
http = "127.0.0.3:{front}"
# Both lab servers share one network namespace: Mailu listens on dst's address.
start = {start_dst:?}

[mailu]
smtp = "127.0.0.3:{smtp}"
imap = "imap+plain://127.0.0.3:{imap}"
check_account = "{acc}"
check_password_file = "{pw}"
"#,
            base = f.base,
            root = f.root,
            project = f.project,
            src = lab::src_url(),
            dst = lab::dst_url(),
            front = ports[4],
            smtp = f.smtp,
            imap = f.imap,
            start_src = f.up("127.0.0.2"),
            start_dst = f.up("127.0.0.3"),
            acc = USERS[0].0,
            pw = pw.display(),
        );
        std::fs::write(&f.run.file, toml).expect("migration file");
        f
    }

    /// Start the project on one server and wait for its SMTP and IMAP.
    fn up(&self, addr: &str) -> String {
        format!(
            "cd {r} && MAILU_ADDR={addr} docker-compose -p {p} up -d >/dev/null 2>&1 && for i in $(seq 1 150); do nc -z {addr} {s} && nc -z {addr} {i} && exit 0; sleep 0.2; done; exit 1",
            r = self.root,
            p = self.project,
            s = self.smtp,
            i = self.imap
        )
    }

    fn tool(&self, cmd: &str, args: serde_json::Value) -> serde_json::Value {
        let o = Command::new("python3")
            .arg(&self.tool)
            .arg(cmd)
            .arg(args.to_string())
            .output()
            .expect("python3");
        assert!(
            o.status.success(),
            "mail tool {cmd}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).expect("tool json")
    }

    /// Deliver `n` messages to src over SMTP in the background.
    fn deliver(&self, tag: &str, n: u32) -> Child {
        Command::new("python3")
            .arg(&self.tool)
            .arg("send")
            .arg(
                serde_json::json!(["127.0.0.2", self.smtp, tag, n, 0.15, USERS[0].0, USERS[1].0])
                    .to_string(),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3")
    }

    fn snapshot(&self, addr: &str) -> serde_json::Value {
        let mut all = serde_json::Map::new();
        for (u, p) in USERS {
            all.insert(
                u.to_string(),
                self.tool("snapshot", serde_json::json!([addr, self.imap, u, p])),
            );
        }
        serde_json::Value::Object(all)
    }

    fn services(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "docker ps --filter label=com.docker.compose.project={} --format '{{{{.Label \"com.docker.compose.service\"}}}}' | sort | tr '\\n' ' '",
                self.project
            ),
        )
        .trim()
        .to_string()
    }

    /// Bytes sent by each finished run of a journaled step, in order.
    fn sent(&self, step: &str) -> Vec<u64> {
        self.run
            .journal_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["step"] == step && e["event"] == "done")
            .filter_map(|e| e["data"]["bytes_sent"].as_u64())
            .collect()
    }
}

fn finished(c: Child) -> u64 {
    let o = c.wait_with_output().expect("sender");
    assert!(
        o.status.success(),
        "delivering to src: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .expect("count")
}

fn messages(snap: &serde_json::Value) -> usize {
    snap.as_object()
        .into_iter()
        .flat_map(|users| users.values())
        .filter_map(|folders| folders.as_object())
        .flat_map(|f| f.values())
        .filter_map(|m| m.as_array())
        .map(|m| m.len())
        .sum()
}

impl Drop for Mailu {
    fn drop(&mut self) {
        let script = format!(
            "test -f {r}/docker-compose.yml && cd {r} && docker-compose -p {p} down -t 1 >/dev/null 2>&1; rm -rf {b}; true",
            r = self.root,
            p = self.project,
            b = self.base
        );
        for h in ["src", "dst"] {
            let _ = lab::sh(h, &script);
        }
    }
}

#[test]
fn mailu_moves_to_another_server_with_every_message_password_and_dkim_key() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _one = serial();
    let f = Mailu::new("m");
    let keys_before = (keys("src"), keys("dst"));
    let mut delivered = 0;
    // Mail that was there before the move, read and filed by its users.
    delivered += finished(f.deliver("before", 6));
    std::thread::sleep(std::time::Duration::from_secs(2));
    for (u, p) in USERS {
        f.tool("organize", serde_json::json!(["127.0.0.2", f.imap, u, p]));
    }
    let dkim_src = ok(
        "src",
        &format!("sha256sum {}/dkim/{DOMAIN}.dkim.key", f.root),
    );

    // A move killed in its first live copy: the pre-syncs below resume it.
    f.run.kill_at("pre-sync");
    assert_eq!(f.services("dst"), "", "dst started during a pre-sync");

    // Two live pre-syncs while mail keeps arriving at the old server.
    for pass in ["first", "second"] {
        let sender = f.deliver(pass, 8);
        let o = f.run.app(&["--pre-sync-only"]);
        delivered += finished(sender);
        assert!(
            o.status.success(),
            "{pass} pre-sync: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert!(
            stdout(&o).contains(&format!(
                "pass {}, the app still runs on the source",
                if pass == "first" { 1 } else { 2 }
            )),
            "{}",
            stdout(&o)
        );
        // Copied, not started: the compose file and mailu.env are there,
        // no container of the project runs on dst; src still runs.
        ok(
            "dst",
            &format!(
                "test -s {r}/docker-compose.yml && test -s {r}/mailu.env",
                r = f.root
            ),
        );
        assert_eq!(f.services("dst"), "", "dst started during a pre-sync");
        assert_eq!(f.services("src"), "admin front imap redis smtp");
    }
    let pre = f.sent("pre-sync");
    assert_eq!(pre.len(), 2, "{}", f.run.journal_text());
    assert!(
        pre[1] < pre[0],
        "the second pre-sync sent {} bytes, the first {}",
        pre[1],
        pre[0]
    );

    // Killed while smtp stops first, then again in the final copy (after
    // the rest of Mailu stopped), then run again to the end.
    f.run.kill_at("mailu-stop-smtp");
    f.run.kill_at("final-sync");
    assert_eq!(
        f.services("src"),
        "admin",
        "only smtp, imap, front and redis stop"
    );
    let o = f.run.app(&[]);
    let report = stdout(&o);
    assert!(
        o.status.success(),
        "{report}{}\n{}",
        stderr(&o),
        f.run.journal_text()
    );
    assert!(report.contains("VERDICT: PASS"), "{report}");
    let journal = f.run.journal_text();
    assert!(
        journal.contains("the source's smtp is stopped and its Postfix queue is empty"),
        "{journal}"
    );
    assert!(
        journal.contains("logged in at imap+plain://127.0.0.3"),
        "{journal}"
    );
    assert!(
        journal.contains("SMTP accepts mail for the local user"),
        "{journal}"
    );

    // Every message, flag and internal date is on dst as on src (src's
    // Dovecot started again, alone, to be read).
    assert_eq!(f.services("dst"), "admin front imap redis smtp");
    ok(
        "src",
        &format!(
            "cd {r} && MAILU_ADDR=127.0.0.2 docker-compose -p {p} up -d --no-deps imap >/dev/null 2>&1 && for i in $(seq 1 100); do nc -z 127.0.0.2 {i} && exit 0; sleep 0.2; done; exit 1",
            r = f.root,
            p = f.project,
            i = f.imap
        ),
    );
    let src = f.snapshot("127.0.0.2");
    let dst = f.snapshot("127.0.0.3");
    // Each delivered message plus each user's archived one: none lost at
    // the old server either.
    assert_eq!(messages(&src), delivered as usize + USERS.len(), "{src}");
    assert_eq!(dst, src);
    // The report counts each mailbox as the admin would, the same numbers.
    let journal = f.run.journal_text();
    assert!(
        journal.contains("2 mailboxes moved, the same on both servers"),
        "{journal}"
    );
    for (u, _) in USERS {
        let n = messages(&serde_json::json!({ "u": src[u] }));
        assert!(
            journal.contains(&format!("{u} {n} messages")),
            "{u} {n}: {journal}"
        );
    }
    // The old passwords open the mailboxes on dst (the snapshot logged in
    // with them); a wrong one is refused there.
    assert_eq!(
        f.tool(
            "refused",
            serde_json::json!(["127.0.0.3", f.imap, USERS[0].0, "not-the-password"])
        ),
        serde_json::json!(true)
    );
    // The DKIM private key, byte for byte.
    assert_eq!(
        ok(
            "dst",
            &format!("sha256sum {}/dkim/{DOMAIN}.dkim.key", f.root)
        ),
        dkim_src
    );
    // dst receives mail for its users now.
    assert_eq!(
        f.tool(
            "send",
            serde_json::json!(["127.0.0.3", f.smtp, "after", 1, 0, USERS[1].0])
        ),
        serde_json::json!(1)
    );
    assert_eq!((keys("src"), keys("dst")), keys_before);
}

/// The zone of the mail domain as Mailu's admin shows it
/// (core/admin/mailu/models.py: MX, SPF, DKIM, DMARC), the mail host and
/// webmail on src, with 20 s TTLs; the DKIM record carries `pubkey`.
fn zone(pubkey: &str) -> String {
    // A TXT string holds at most 255 bytes: the key goes in pieces.
    let pieces: Vec<String> = pubkey
        .as_bytes()
        .chunks(200)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!(
        "$ORIGIN {DOMAIN}.\n$TTL 3600\n@ 3600 IN SOA ns1.{DOMAIN}. hostmaster.{DOMAIN}. 2024010101 7200 3600 1209600 5\n@ 3600 IN NS ns1.{DOMAIN}.\n@ 3600 IN NS ns2.{DOMAIN}.\nns1 3600 IN A 127.0.0.1\nns2 3600 IN A 127.0.0.2\n@ 20 IN MX 10 mail.{DOMAIN}.\n@ 20 IN TXT \"v=spf1 mx a:mail.{DOMAIN} ~all\"\nmail 20 IN A 127.0.0.2\nwebmail 20 IN A 127.0.0.2\n_dmarc 20 IN TXT \"v=DMARC1; p=reject; adkim=s; aspf=s\"\ndkim._domainkey 20 IN TXT \"v=DKIM1; k=rsa; \" \"p=\" {}\n",
        pieces.join(" ")
    )
}

#[test]
fn mailu_mx_moves_on_every_authoritative_server_and_the_old_server_relays_meanwhile() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _one = serial();
    let f = Mailu::new("d");
    let pubkey = ok(
        "src",
        &format!(
            "openssl pkey -in {}/dkim/{DOMAIN}.dkim.key -pubout -outform DER | base64 -w0",
            f.root
        ),
    );
    let knot = dns::KnotLab::start(&zone(pubkey.trim()));
    let key = tempfile::NamedTempFile::new().expect("key file");
    std::fs::write(key.path(), dns::TSIG_LINE).expect("key");
    let mut toml = std::fs::read_to_string(&f.run.file).expect("migration file");
    toml.push_str(&format!(
        "\n[dns]\nprovider = \"rfc2136\"\nserver = \"{p}\"\nauthoritative = [\"{p}\", \"{s}\"]\nzone = \"{DOMAIN}\"\nnames = [\"{DOMAIN}\", \"webmail.{DOMAIN}\"]\nto = [\"127.0.0.3\"]\ntsig_key_file = \"{k}\"\nlowered_ttl = 2\n",
        p = knot.primary(),
        s = knot.secondary(),
        k = key.path().display()
    ));
    std::fs::write(&f.run.file, toml).expect("migration file");
    finished(f.deliver("before", 4));

    // Killed while the TTLs are lowered, again while the old server
    // becomes the fallback relay, then rerun.
    f.run.kill_at("dns-lower");
    f.run.kill_at("mailu-fallback-relay");
    let o = f.run.app(&[]);
    let report = stdout(&o);
    let journal = f.run.journal_text();
    assert!(o.status.success(), "{report}{}\n{journal}", stderr(&o));
    // The mail DNS was right before and is right after, DKIM record and
    // key matching, as the tool found it (its reading is checked below
    // with dig on each server).
    assert!(
        journal.contains("before the move, mail DNS on 2 authoritative server(s)")
            && journal.contains("after the cutover, mail DNS on 2 authoritative server(s)"),
        "{journal}"
    );
    assert!(journal.contains("all as expected"), "{journal}");
    // Every authoritative server sends mail for the domain to dst: MX names
    // the mail host, which (like webmail) now has dst's address; the TTLs
    // are back to what they were.
    for server in [knot.primary(), knot.secondary()] {
        assert_eq!(
            knot.rrset(&server, DOMAIN, "MX"),
            (20, vec![format!("10 mail.{DOMAIN}.")]),
            "{server}"
        );
        for name in ["mail", "webmail"] {
            assert_eq!(
                knot.rrset(&server, &format!("{name}.{DOMAIN}"), "A"),
                (20, vec!["127.0.0.3".to_string()]),
                "{name} at {server}"
            );
        }
        let dkim = knot.dig(&server, &format!("dkim._domainkey.{DOMAIN}"), "TXT");
        assert!(
            dkim.concat()
                .replace(['"', ' '], "")
                .contains(pubkey.trim()),
            "{dkim:?}"
        );
    }
    // The PTR is a person's job: shown and reported.
    assert!(
        report.contains("reverse DNS (PTR) of 127.0.0.3"),
        "{report}"
    );
    // The old server is a fallback MX now: mail it receives reaches dst,
    // while its IMAP stays off.
    assert_eq!(f.services("src"), "admin front redis smtp");
    ok(
        "src",
        &format!(
            "grep -q '^virtual_transport = smtp:\\[127.0.0.3\\]:{}$' {}/overrides/postfix/postfix.cf",
            f.smtp, f.root
        ),
    );
    // Postfix listens a moment after its container starts.
    ok(
        "src",
        &format!(
            "for i in $(seq 1 150); do nc -z 127.0.0.2 {s} && exit 0; sleep 0.2; done; cd {r} && docker-compose -p {p} logs --tail 30 smtp; exit 1",
            s = f.smtp,
            r = f.root,
            p = f.project
        ),
    );
    assert_eq!(finished(f.deliver("late", 1)), 1);
    let mut arrived = false;
    for _ in 0..60 {
        let snap = f.tool(
            "snapshot",
            serde_json::json!(["127.0.0.3", f.imap, USERS[0].0, USERS[0].1]),
        );
        if snap.to_string().contains("INBOX") && messages(&serde_json::json!({ "a": snap })) == 3 {
            arrived = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(
        arrived,
        "mail sent to the old server after the cutover never reached dst"
    );
    assert!(report.contains("may be switched off after"), "{report}");
}

#[test]
fn mail_moves_from_a_plain_dovecot_into_mailu_with_a_message_after_the_mx_switch() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _one = serial();
    let old_users = [
        ("ann@example.test", "ann-pw"),
        ("ben@example.test", "ben-pw"),
    ];
    let old = mail::Dovecot::start(
        "mailu-old",
        &old_users
            .iter()
            .map(|(u, p)| mail::user(u, p))
            .collect::<Vec<_>>(),
        mail::Opts::default(),
    );
    // A Mailu with its domain and no users yet, on dst.
    let pid = std::process::id();
    let ports: Vec<u16> = (0..6).map(|_| lab::port()).collect();
    let run = crate::support::cli::Operator::new();
    let tool = run.home.path().join("mail_tool.py");
    std::fs::write(&tool, MAIL_TOOL).expect("mail tool");
    let f = Mailu {
        base: format!("/srv/test-app-mailu-i-{pid}"),
        root: format!("/srv/test-app-mailu-i-{pid}/mailu"),
        project: format!("mtmailui{pid}"),
        smtp: ports[0],
        imap: ports[1],
        tool,
        run,
    };
    let ex = workspace_root().join("examples/lab-mailu");
    lab::install("dst", &format!("sh -s {VERSION}"), &ex.join("images.sh"));
    put_tree(
        &["dst"],
        &ex,
        &["docker-compose.yml", "mailu.env", "setup.sh", "standin"],
        &f.root,
        "true",
    );
    let env = format!(
        "SMTP_PORT={}\nIMAP_PORT={}\nLMTP_PORT={}\nADMIN_PORT={}\nFRONT_PORT={}\nREDIS_PORT={}\nMAILU_VERSION={VERSION}\n",
        ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
    );
    put("dst", &f.root, &[(".env", env.as_bytes(), "644")]);
    ok(
        "dst",
        &format!(
            "cd {r} && MAILU_ADDR=127.0.0.3 sh setup.sh {p} {DOMAIN} && {up}",
            r = f.root,
            p = f.project,
            up = f.up("127.0.0.3")
        ),
    );
    let mut expected = 0;
    for (u, p) in old_users {
        expected += f
            .tool(
                "seed",
                serde_json::json!(["127.0.0.1", old.port, u, p, 7, "old"]),
            )
            .as_u64()
            .unwrap_or(0);
    }
    // The mail host is on the old server (127.0.0.1) until the switch.
    let knot = dns::KnotLab::start(&format!(
        "$ORIGIN {DOMAIN}.\n$TTL 3600\n@ 3600 IN SOA ns1.{DOMAIN}. hostmaster.{DOMAIN}. 2024010101 7200 3600 1209600 5\n@ 3600 IN NS ns1.{DOMAIN}.\n@ 3600 IN NS ns2.{DOMAIN}.\nns1 3600 IN A 127.0.0.1\nns2 3600 IN A 127.0.0.2\n@ 20 IN MX 10 mail.{DOMAIN}.\nmail 20 IN A 127.0.0.1\n"
    ));
    let home = f.run.home.path();
    let key = home.join("tsig.key");
    std::fs::write(&key, dns::TSIG_LINE).expect("key");
    let dns_file = home.join("dns.toml");
    std::fs::write(
        &dns_file,
        format!(
            "[dns]\nprovider = \"rfc2136\"\nserver = \"{p}\"\nauthoritative = [\"{p}\", \"{s}\"]\nzone = \"{DOMAIN}\"\nto = [\"127.0.0.3\"]\ntsig_key_file = \"{k}\"\nlowered_ttl = 2\n",
            p = knot.primary(),
            s = knot.secondary(),
            k = key.display()
        ),
    )
    .expect("dns file");
    let users = home.join("users.csv");
    let mut csv = String::from("src_user,src_password,dst_user,dst_password\n");
    for (u, p) in old_users {
        csv.push_str(&format!("{u},{p},{u},new-{p}\n"));
    }
    std::fs::write(&users, csv).expect("users");
    let token = home.join("token");
    std::fs::write(&token, "lab-api-token-0123456789\n").expect("token");

    let child = f
        .run
        .migrate()
        .args([
            "app",
            "mailu",
            "--domain",
            &format!("mail.{DOMAIN}"),
            "--from-imap",
            &old.plain_url(),
        ])
        .arg("--to-imap")
        .arg(format!("imap+plain://127.0.0.3:{}", f.imap))
        .arg("--users")
        .arg(&users)
        .arg("--mailu-api")
        .arg(format!("http://127.0.0.3:{}/api/v1", ports[3]))
        .arg("--mailu-token-file")
        .arg(&token)
        .arg("--dns-file")
        .arg(&dns_file)
        .args(["--settle", "6"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("migrate");
    // Once MX points at Mailu, one more message reaches the old server
    // (a sender that still had its address).
    let t = std::time::Instant::now();
    loop {
        if knot
            .rrset(&knot.primary(), &format!("mail.{DOMAIN}"), "A")
            .1
            == ["127.0.0.3"]
        {
            break;
        }
        assert!(t.elapsed().as_secs() < 120, "the MX host never moved");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    expected += f
        .tool(
            "seed",
            serde_json::json!([
                "127.0.0.1",
                old.port,
                old_users[0].0,
                old_users[0].1,
                1,
                "late"
            ]),
        )
        .as_u64()
        .unwrap_or(0);
    let o = child.wait_with_output().expect("migrate");
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    // Users created through the API, in Mailu's database.
    assert_eq!(
        ok(
            "dst",
            &format!(
                "sqlite3 {}/data/main.db 'select email from user order by email'",
                f.root
            )
        )
        .trim(),
        "ann@example.test\nben@example.test"
    );
    // Every message, the late one too, on Mailu as on the old server,
    // read with the new passwords.
    let mut total = 0;
    for (u, p) in old_users {
        let before = f.tool("snapshot", serde_json::json!(["127.0.0.1", old.port, u, p]));
        let after = f.tool(
            "snapshot",
            serde_json::json!(["127.0.0.3", f.imap, u, format!("new-{p}")]),
        );
        assert_eq!(after, before, "{u}");
        total += messages(&serde_json::json!({ "u": before }));
    }
    assert_eq!(total as u64, expected);
    for server in [knot.primary(), knot.secondary()] {
        assert_eq!(
            knot.rrset(&server, &format!("mail.{DOMAIN}"), "A"),
            (20, vec!["127.0.0.3".to_string()]),
            "{server}"
        );
    }
    // Each account's verdict, with counts before and after.
    for (u, _) in old_users {
        assert!(out.contains(&format!("{u} -> {u}: old server")), "{out}");
    }
}
