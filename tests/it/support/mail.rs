//! Real Dovecot 2.3 instances for the mail tests, each in its own temp dir
//! on loopback ports with passwd-file users and Maildir storage (config
//! from facts/dns-mail.md B3), plus an independent IMAP client (Python's
//! imaplib) to seed and to check what arrived: the proof never comes from
//! the tool under test.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::fixtures::{Ca, free_port, sh};

pub struct User {
    pub name: String,
    pub password: String,
    /// Extra passwd-file fields, e.g. `userdb_quota_rule=*:storage=20K`.
    pub extra: String,
}

pub fn user(name: &str, password: &str) -> User {
    User {
        name: name.into(),
        password: password.into(),
        extra: String::new(),
    }
}

pub struct Tls {
    pub ca_pem: PathBuf,
    /// `AA:BB:…` SHA-256 of the server certificate (openssl's output).
    pub fingerprint: String,
}

pub struct Dovecot {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub tls_port: Option<u16>,
    pub tls: Option<Tls>,
    child: Option<Child>,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // The master we started stops its own children on SIGTERM.
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

const SPECIAL: &str = r"  mailbox Drafts {
    special_use = \Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \Junk
    auto = subscribe
  }";

pub fn dovecot_available() -> bool {
    Command::new("dovecot")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("id")
            .arg("vmail")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// Fails the test when the prerequisites are missing (never skips it):
/// `scripts/services` runs .ci/setup-mail.sh first, which installs them.
pub fn require_dovecot() {
    assert!(
        dovecot_available(),
        "Dovecot or the vmail user is missing: run .ci/setup-mail.sh (as root) first"
    );
}

#[derive(Default)]
pub struct Opts {
    pub tls: bool,
    /// Dovecot's quota plugin (per-user rules come from `User::extra`).
    pub quota: bool,
    /// Largest message the server accepts (quota_max_mail_size).
    pub max_mail_size: Option<&'static str>,
    /// No SPECIAL-USE folders (like old servers): Sent, Trash… are plain.
    pub no_special_use: bool,
}

impl Dovecot {
    pub fn start(name: &str, users: &[User], opts: Opts) -> Dovecot {
        require_dovecot();
        let dir = tempfile::Builder::new()
            .prefix(&format!("mail-{name}-"))
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        // dovecot (auth) and vmail (mail) must traverse the directory.
        sh(Command::new("chmod").arg("755").arg(d));
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        sh(Command::new("chown")
            .args(["vmail:vmail"])
            .arg(d.join("mail")));
        let port = free_port(&["127.0.0.1"]);
        let tls_port = opts.tls.then(|| free_port(&["127.0.0.1"]));
        let tls = opts.tls.then(|| make_certs(d));
        let mut conf = format!(
            r#"# standalone config: does NOT include /etc/dovecot/conf.d
instance_name = dovecot-test-{name}-{port}
base_dir = {d}/run
state_dir = {d}/state
protocols = imap
listen = 127.0.0.1
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 500
mail_location = maildir:~/Maildir
mail_uid = vmail
mail_gid = vmail
{global_plugins}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/users
  default_fields = uid=vmail gid=vmail home={d}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
{special}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0600
  }}
}}
protocol imap {{
  mail_max_userip_connections = 50
  {imap_plugins}
}}
"#,
            d = d.display(),
            special = if opts.no_special_use { "" } else { SPECIAL },
            tls_port = tls_port.unwrap_or(0),
            imap_plugins = if opts.quota {
                "mail_plugins = $mail_plugins imap_quota"
            } else {
                ""
            },
            // Before `protocol imap`: its $mail_plugins expands what is set so far.
            global_plugins = if opts.quota || opts.max_mail_size.is_some() {
                "mail_plugins = $mail_plugins quota"
            } else {
                ""
            },
        );
        if opts.tls {
            conf.push_str(&format!(
                "ssl = yes\nssl_cert = <{d}/tls/localhost.pem\nssl_key = <{d}/tls/localhost.key\nssl_dh = </usr/share/dovecot/dh.pem\nssl_min_protocol = TLSv1.2\n",
                d = d.display()
            ));
        } else {
            conf.push_str("ssl = no\n");
        }
        if opts.quota || opts.max_mail_size.is_some() {
            conf.push_str("plugin {\n  quota = maildir:User quota\n");
            if let Some(m) = opts.max_mail_size {
                conf.push_str(&format!("  quota_max_mail_size = {m}\n"));
            }
            conf.push_str("}\n");
        }
        std::fs::write(d.join("dovecot.conf"), conf).expect("conf");
        let users_text: String = users
            .iter()
            .map(|u| format!("{}:{{PLAIN}}{}::::::{}\n", u.name, u.password, u.extra))
            .collect();
        std::fs::write(d.join("users"), users_text).expect("users");
        // The auth process runs as "dovecot" (facts/dns-mail.md B4.1).
        sh(Command::new("chown")
            .arg("root:dovecot")
            .arg(d.join("users")));
        sh(Command::new("chmod").arg("640").arg(d.join("users")));
        let log = std::fs::File::create(d.join("foreground.out")).expect("log");
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start dovecot");
        let dc = Dovecot {
            dir,
            port,
            tls_port,
            tls,
            child: Some(child),
        };
        dc.wait_greeting(port);
        dc
    }

    fn wait_greeting(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 4];
                if s.read_exact(&mut buf).is_ok() && &buf == b"* OK" {
                    return;
                }
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.path().join("foreground.out"))
                    .unwrap_or_default();
                let log2 = std::fs::read_to_string(self.dir.path().join("dovecot.log"))
                    .unwrap_or_default();
                panic!("dovecot on port {port} did not greet within 20 s:\n{log}\n{log2}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn plain_url(&self) -> String {
        format!("imap+plain://127.0.0.1:{}", self.port)
    }

    /// Add a user while the server runs (passwd-file is re-read).
    pub fn add_user(&self, u: &User) {
        let p = self.dir.path().join("users");
        let mut text = std::fs::read_to_string(&p).expect("users");
        text.push_str(&format!(
            "{}:{{PLAIN}}{}::::::{}\n",
            u.name, u.password, u.extra
        ));
        std::fs::write(&p, text).expect("users");
    }

    /// Replace the passwd-file line of `name` (e.g. to raise a quota).
    pub fn set_user(&self, u: &User) {
        let p = self.dir.path().join("users");
        let text = std::fs::read_to_string(&p).expect("users");
        let out: String = text
            .lines()
            .map(|l| {
                if l.starts_with(&format!("{}:", u.name)) {
                    format!("{}:{{PLAIN}}{}::::::{}\n", u.name, u.password, u.extra)
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(&p, out).expect("users");
    }
}

fn make_certs(d: &Path) -> Tls {
    let ca = Ca::new(&d.join("tls"), "migrate test CA");
    let leaf = ca.leaf("localhost", "DNS:localhost,IP:127.0.0.1");
    sh(Command::new("chmod").arg("644").arg(&leaf.key));
    Tls {
        ca_pem: ca.pem(),
        fingerprint: leaf.fingerprint(),
    }
}

/// The independent IMAP client: seeds, changes and snapshots mailboxes.
pub const IMAP_TOOL: &str = r#"
import imaplib, json, sys, hashlib, re, base64, time, email.utils, random

def mutf7(s):
    out, buf = [], []
    def flush():
        if buf:
            b = "".join(buf).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode().rstrip("=").replace("/", ",") + "-")
            buf.clear()
    for ch in s:
        if 0x20 <= ord(ch) <= 0x7e:
            flush(); out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)

def q(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'

def login(port, user, pw):
    M = imaplib.IMAP4("127.0.0.1", port)
    M.login(user, pw)
    return M

def folders(M):
    out = []
    for line in M.list()[1]:
        m = re.match(rb'\((.*?)\) "(.)" (.*)$', line)
        if b"\\Noselect" in m.group(1):
            continue
        out.append(m.group(3).decode().strip('"'))
    return out

FETCH_RE = re.compile(rb'UID (\d+).*?FLAGS \(([^)]*)\).*?INTERNALDATE "([^"]+)"', re.S)

def snapshot(port, user, pw):
    M = login(port, user, pw)
    out = {}
    for name in folders(M):
        M.select(q(name), readonly=True)
        typ, data = M.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
        msgs = []
        for item in data:
            if isinstance(item, tuple):
                m = FETCH_RE.search(item[0])
                flags = sorted(f for f in m.group(2).decode().split() if f != "\\Recent")
                msgs.append([hashlib.sha256(item[1]).hexdigest(), flags, m.group(3).decode()])
        out[name] = sorted(msgs)
    M.logout()
    return out

def body(user, i, folder, with_id, kind):
    sub = "=?UTF-8?B?" + base64.b64encode(("Grüße %d aus %s – ünïcödé ✓" % (i, folder)).encode()).decode() + "?="
    date = email.utils.formatdate(1700000000 - 86400 * i)
    h = "From: Sender %d <s%d@example.org>\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n" % (i, i, user, sub, date)
    if with_id:
        h += "Message-ID: <m%d.%s@%s.example.org>\r\n" % (i, re.sub(r'[^a-z0-9]', '_', user), re.sub(r'[^a-z0-9]', '_', folder.lower()))
    h += "Received: from mx.example.org by old.example.test; %s\r\n" % date
    h += "X-Raw-8bit: Müller\r\n"
    h += "MIME-Version: 1.0\r\n"
    if kind == "attach":
        rnd = random.Random(i)
        blob = bytes(rnd.getrandbits(8) for _ in range(20000 + 997 * (i % 13)))
        b64 = base64.encodebytes(blob).decode().replace("\n", "\r\n")
        h += 'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % i
        h += "--b%d\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nAnbei die Datei. ÄÖÜ ß €\r\n" % i
        h += '--b%d\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="d%d.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s--b%d--\r\n' % (i, i, b64, i)
    else:
        h += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        h += ("Nachricht %d in %s. Grüße, ÄÖÜ ß € – utf-8.\r\n" % (i, folder)) + ("lorem ipsum dolor sit amet\r\n" * (5 + i % 40))
    return h.encode()

FLAGS = ["(\\Seen)", "(\\Seen \\Answered)", "(\\Flagged)", "()", "(\\Seen $Forwarded)", "(NonJunk $label1)", "(\\Seen \\Flagged Work)"]
FOLDERS = ["INBOX", "Sent", "Drafts", "Archive", "Archive/2023", "Entwürfe alt", "Projekte/Ärger & Co"]

def seed(port, user, pw, n, start=0):
    M = login(port, user, pw)
    for f in FOLDERS:
        if f not in ("INBOX", "Sent", "Drafts"):
            M.create(q(mutf7(f)))
            M.subscribe(q(mutf7(f)))
    count = 0
    for i in range(start, start + n):
        f = FOLDERS[i % len(FOLDERS)]
        with_id = not (f == "Sent" and i % 2 == 0)           # half of Sent lacks Message-ID
        kind = "attach" if i % 10 == 3 else "text"
        flags = "(\\Draft)" if f == "Drafts" else FLAGS[i % len(FLAGS)]
        idate = imaplib.Time2Internaldate(1700000000 - 86400 * i - 3600 * (i % 24))
        typ, data = M.append(q(mutf7(f)), flags, idate, body(user, i, f, with_id, kind))
        assert typ == "OK", (f, data)
        count += 1
    if start == 0:
        # a double delivery: byte-identical duplicate in INBOX
        M.append("INBOX", "(\\Seen)", imaplib.Time2Internaldate(1600000000), body(user, 0, "INBOX", True, "text"))
        M.append("INBOX", "(\\Seen)", imaplib.Time2Internaldate(1600000000), body(user, 0, "INBOX", True, "text"))
        count += 2
    M.logout()
    return count

def setflags(port, user, pw, folder, flags):
    M = login(port, user, pw)
    M.select(q(mutf7(folder)))
    typ, data = M.uid("SEARCH", "ALL")
    uid = data[0].split()[0].decode()
    M.uid("STORE", uid, "FLAGS", flags)
    M.logout()

def count(port, user, pw):
    M = login(port, user, pw)
    n = 0
    for name in folders(M):
        typ, data = M.select(q(name), readonly=True)
        n += int(data[0])
    M.logout()
    return n

def append_big(port, user, pw, size):
    M = login(port, user, pw)
    blob = ("x" * 76 + "\r\n") * (size // 78)
    msg = ("From: a@example.org\r\nTo: %s\r\nSubject: big\r\nMessage-ID: <big-%d@example.org>\r\n\r\n%s" % (user, size, blob)).encode()
    typ, data = M.append("INBOX", "()", imaplib.Time2Internaldate(1650000000), msg)
    assert typ == "OK", data
    M.logout()

def append_to(port, user, pw, folder, subject, epoch):
    M = login(port, user, pw)
    msg = ("From: x@example.org\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\nbody\r\n" % (user, subject, subject.replace(" ", "-"))).encode()
    typ, data = M.append(q(mutf7(folder)), "()", imaplib.Time2Internaldate(epoch), msg)
    assert typ == "OK", data
    M.logout()

def create(port, user, pw, folder):
    M = login(port, user, pw)
    typ, data = M.create(q(mutf7(folder)))
    assert typ == "OK", data
    M.logout()

def counts(port, user, pw):
    M = login(port, user, pw)
    out = {}
    for name in folders(M):
        typ, data = M.select(q(name), readonly=True)
        out[name] = int(data[0])
    M.logout()
    return out

cmd = sys.argv[1]
args = json.loads(sys.argv[2])
res = globals()[cmd](*args)
print(json.dumps(res))
"#;

pub fn imap_tool(dir: &Path, cmd: &str, args: serde_json::Value) -> serde_json::Value {
    let script = dir.join("imap_tool.py");
    if !script.exists() {
        std::fs::write(&script, IMAP_TOOL).expect("write tool");
    }
    let out = Command::new("python3")
        .arg(&script)
        .arg(cmd)
        .arg(args.to_string())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "imap_tool {cmd} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json from imap_tool")
}
