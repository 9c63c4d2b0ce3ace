//! Real DNS servers for the dns and app tests: Knot (primary + secondary
//! that follows by NOTIFY/IXFR, optionally a stale third server), PowerDNS
//! with the sqlite3 backend and its HTTP API, each in its own temp dir on
//! loopback ports, stopped by PID when the test ends.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::fixtures::free_port;

/// Test-only TSIG secret (hmac-sha256), generated for this suite.
pub const TSIG_SECRET: &str = "f5vfslF9IWHSNxQEKQ+FqzYPteGcgIL9aBE1zVt/bNE=";
pub const TSIG_LINE: &str = "hmac-sha256:migrate-key.:f5vfslF9IWHSNxQEKQ+FqzYPteGcgIL9aBE1zVt/bNE=";
pub const WRONG_TSIG_LINE: &str =
    "hmac-sha256:migrate-key.:AAAAslF9IWHSNxQEKQ+FqzYPteGcgIL9aBE1zVt/bNE=";

struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Only the process this test started, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const ZONE: &str = "example.test";

/// The zone every Knot test starts from; `{extra}` adds lines.
pub fn zone_text(extra: &str) -> String {
    format!(
        r#"$ORIGIN example.test.
$TTL 3600
@       3600  IN SOA ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 300
@       3600  IN NS    ns1.example.test.
@       3600  IN NS    ns2.example.test.
ns1     3600  IN A     127.0.0.1
ns2     3600  IN A     127.0.0.2
@       3600  IN A     192.0.2.10
@       3600  IN AAAA  2001:db8::10
www     3600  IN CNAME example.test.
cloud   3600  IN A     192.0.2.10
mail    3600  IN A     192.0.2.25
@       3600  IN MX    10 mail.example.test.
@       3600  IN TXT   "v=spf1 mx -all"
_dmarc  3600  IN TXT   "v=DMARC1; p=quarantine"
{extra}
"#
    )
}

pub struct KnotLab {
    pub dir: tempfile::TempDir,
    pub port: u16,
    procs: Vec<Proc>,
}

impl KnotLab {
    /// Primary on 127.0.0.1:port, secondary on 127.0.0.2:port.
    pub fn start(zone: &str) -> Self {
        Self::start_with(zone, None)
    }

    /// Also a third server on 127.0.0.3 that serves its own copy of the zone
    /// and never hears of changes: a lagging authoritative server.
    pub fn start_with_stale(zone: &str) -> Self {
        Self::start_with(zone, Some("127.0.0.3"))
    }

    fn start_with(zone: &str, stale: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut addrs = vec!["127.0.0.1", "127.0.0.2"];
        if let Some(s) = stale {
            addrs.push(s);
        }
        let port = free_port(&addrs);
        let p = dir.path().join("primary");
        let s = dir.path().join("secondary");
        for d in [&p, &s] {
            for sub in ["run", "db", "zones"] {
                std::fs::create_dir_all(d.join(sub)).expect("mkdir");
            }
        }
        std::fs::write(p.join("zones/example.test.zone"), zone).expect("zone");
        std::fs::write(
            p.join("zones/100.51.198.in-addr.arpa.zone"),
            "$ORIGIN 100.51.198.in-addr.arpa.\n$TTL 3600\n@ IN SOA ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 300\n@ IN NS ns1.example.test.\n20 IN PTR mail.example.test.\n",
        )
        .expect("reverse zone");
        let common = |d: &Path, listen: &str| {
            format!(
                "server:\n    rundir: \"{run}\"\n    listen: {listen}\ncontrol:\n    listen: \"{run}/knot.sock\"\nlog:\n  - target: stderr\n    any: info\ndatabase:\n    storage: \"{db}\"\nkey:\n  - id: migrate-key.\n    algorithm: hmac-sha256\n    secret: {TSIG_SECRET}\n",
                run = d.join("run").display(),
                db = d.join("db").display(),
            )
        };
        let primary_conf = format!(
            "{}acl:\n  - id: ddns\n    address: 127.0.0.0/8\n    key: migrate-key.\n    action: [update, transfer]\nremote:\n  - id: secondary\n    address: 127.0.0.2@{port}\n    key: migrate-key.\ntemplate:\n  - id: default\n    storage: \"{zones}\"\n    file: \"%s.zone\"\n    zonefile-sync: -1\n    serial-policy: increment\n    journal-content: changes\nzone:\n  - domain: example.test\n    notify: secondary\n    acl: ddns\n  - domain: 100.51.198.in-addr.arpa\n    acl: ddns\n",
            common(&p, &format!("127.0.0.1@{port}")),
            zones = p.join("zones").display()
        );
        let secondary_conf = format!(
            "{}remote:\n  - id: primary\n    address: 127.0.0.1@{port}\n    key: migrate-key.\nacl:\n  - id: notify_from_primary\n    address: 127.0.0.1\n    key: migrate-key.\n    action: notify\ntemplate:\n  - id: default\n    storage: \"{zones}\"\n    file: \"%s.zone\"\n    zonefile-sync: -1\nzone:\n  - domain: example.test\n    master: primary\n    acl: notify_from_primary\n",
            common(&s, &format!("127.0.0.2@{port}")),
            zones = s.join("zones").display()
        );
        std::fs::write(p.join("knot.conf"), primary_conf).expect("conf");
        std::fs::write(s.join("knot.conf"), secondary_conf).expect("conf");
        let mut confs = vec![p.join("knot.conf"), s.join("knot.conf")];
        if let Some(addr) = stale {
            let t = dir.path().join("stale");
            for sub in ["run", "db", "zones"] {
                std::fs::create_dir_all(t.join(sub)).expect("mkdir");
            }
            std::fs::write(t.join("zones/example.test.zone"), zone).expect("zone");
            let conf = format!(
                "{}template:\n  - id: default\n    storage: \"{zones}\"\n    file: \"%s.zone\"\n    zonefile-sync: -1\nzone:\n  - domain: example.test\n",
                common(&t, &format!("{addr}@{port}")),
                zones = t.join("zones").display()
            );
            std::fs::write(t.join("knot.conf"), conf).expect("conf");
            confs.push(t.join("knot.conf"));
        }
        let mut procs = Vec::new();
        for conf in &confs {
            let log = std::fs::File::create(conf.with_extension("log")).expect("log");
            let child = Command::new("knotd")
                .arg("-c")
                .arg(conf)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("knotd must be installed (.ci/setup-dns.sh)");
            procs.push(Proc { child });
            wait_zone(conf);
        }
        KnotLab { dir, port, procs }
    }

    pub fn primary(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    pub fn secondary(&self) -> String {
        format!("127.0.0.2:{}", self.port)
    }

    /// `dig`-style answer lines straight from one server (kdig, no recursion).
    pub fn dig(&self, server: &str, name: &str, rtype: &str) -> Vec<String> {
        let (ip, port) = server.split_once(':').expect("ip:port");
        let out = Command::new("kdig")
            .args([
                &format!("@{ip}"),
                "-p",
                port,
                "+norec",
                "+noall",
                "+answer",
                "+timeout=2",
                name,
                rtype,
            ])
            .output()
            .expect("kdig (knot-dnsutils)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    /// (ttl, values) of one RRset.
    pub fn rrset(&self, server: &str, name: &str, rtype: &str) -> (u32, Vec<String>) {
        let lines = self.dig(server, name, rtype);
        let mut ttl = 0;
        let mut vals = Vec::new();
        for l in lines {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() >= 5 && f[3] == rtype {
                ttl = f[1].parse().unwrap_or(0);
                vals.push(f[4..].join(" "));
            }
        }
        vals.sort();
        (ttl, vals)
    }

    pub fn serial(&self, server: &str) -> u32 {
        let lines = self.dig(server, "example.test", "SOA");
        lines
            .iter()
            .find_map(|l| l.split_whitespace().nth(6).and_then(|s| s.parse().ok()))
            .unwrap_or(0)
    }

    /// Waits until both primary and secondary serve `serial`.
    pub fn wait_serial(&self, serial: u32) {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if self.serial(&self.primary()) == serial && self.serial(&self.secondary()) == serial {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("servers did not reach serial {serial}");
    }
}

fn wait_zone(conf: &Path) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        let out = Command::new("knotc")
            .arg("-c")
            .arg(conf)
            .args(["zone-status", "example.test"])
            .output();
        if let Ok(o) = out
            && String::from_utf8_lossy(&o.stdout).contains("serial: 20")
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(conf.with_extension("log")).unwrap_or_default();
    panic!("knotd ({}) did not serve the zone: {log}", conf.display());
}

/// PowerDNS Authoritative with the sqlite3 backend and its HTTP API.
pub struct Pdns {
    pub dir: tempfile::TempDir,
    pub dns_port: u16,
    pub api_port: u16,
    pub api_key: String,
    _proc: Proc,
}

impl Pdns {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let dns_port = free_port(&["127.0.0.1"]);
        let api_port = free_port(&["127.0.0.1"]);
        let api_key = "test-pdns-api-key-0123456789".to_string();
        let db = dir.path().join("pdns.sqlite3");
        let schema =
            std::fs::read_to_string("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")
                .expect("pdns-backend-sqlite3 must be installed (.ci/setup-dns.sh)");
        let mut sq = Command::new("sqlite3")
            .arg(&db)
            .stdin(Stdio::piped())
            .spawn()
            .expect("sqlite3");
        sq.stdin
            .take()
            .expect("stdin")
            .write_all(schema.as_bytes())
            .expect("schema");
        assert!(sq.wait().expect("sqlite3").success());
        let conf = format!(
            "launch=gsqlite3\ngsqlite3-database={db}\nlocal-address=127.0.0.1\nlocal-port={dns_port}\nsocket-dir={dir}\napi=yes\napi-key={api_key}\nwebserver=yes\nwebserver-address=127.0.0.1\nwebserver-port={api_port}\nwebserver-allow-from=127.0.0.0/8\ncache-ttl=0\nquery-cache-ttl=0\nnegquery-cache-ttl=0\nzone-cache-refresh-interval=0\n",
            db = db.display(),
            dir = dir.path().display()
        );
        std::fs::write(dir.path().join("pdns.conf"), conf).expect("conf");
        let log = std::fs::File::create(dir.path().join("pdns.log")).expect("log");
        let child = Command::new("pdns_server")
            .arg(format!("--config-dir={}", dir.path().display()))
            .args([
                "--daemon=no",
                "--guardian=no",
                "--disable-syslog",
                "--write-pid=no",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("pdns_server must be installed (.ci/setup-dns.sh)");
        let me = Pdns {
            dir,
            dns_port,
            api_port,
            api_key,
            _proc: Proc { child },
        };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(15) {
            if me.api("GET", "/api/v1/servers/localhost", None).0 == 200 {
                return me;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(me.dir.path().join("pdns.log")).unwrap_or_default();
        panic!("pdns_server did not start: {log}");
    }

    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        super::http::request(
            &format!("127.0.0.1:{}", self.api_port),
            method,
            path,
            &[("X-API-Key", self.api_key.as_str())],
            body,
        )
    }

    pub fn dns(&self) -> String {
        format!("127.0.0.1:{}", self.dns_port)
    }
}
