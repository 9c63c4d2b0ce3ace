//! `migrate dns` with the PowerDNS Authoritative HTTP API provider against
//! a real pdns_server (sqlite3 backend, API on loopback). Changes go
//! through `PATCH /api/v1/servers/localhost/zones/{zone}`; verification
//! asks pdns's DNS port directly.

use crate::support::cli::{migrate, run, stderr, stdout};
use crate::support::dns::Pdns;
use crate::support::fixtures::all_files_text;
use serde_json::{Value, json};

fn create_zone(p: &Pdns) {
    let zone = json!({
        "name": "example.test.", "kind": "Native", "soa_edit_api": "INCREASE",
        "nameservers": [],
        "rrsets": [
            {"name": "example.test.", "type": "SOA", "ttl": 3600, "records": [{"content": "ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 300", "disabled": false}]},
            {"name": "example.test.", "type": "NS", "ttl": 3600, "records": [{"content": "ns1.example.test.", "disabled": false}]},
            {"name": "example.test.", "type": "A", "ttl": 7200, "records": [{"content": "192.0.2.10", "disabled": false}]},
            {"name": "example.test.", "type": "MX", "ttl": 7200, "records": [{"content": "10 mail.example.test.", "disabled": false}]},
            {"name": "cloud.example.test.", "type": "A", "ttl": 3600, "records": [{"content": "192.0.2.10", "disabled": false}]},
            {"name": "www.example.test.", "type": "CNAME", "ttl": 3600, "records": [{"content": "example.test.", "disabled": false}]}
        ]
    });
    let (status, body) = p.api(
        "POST",
        "/api/v1/servers/localhost/zones",
        Some(&zone.to_string()),
    );
    assert_eq!(status, 201, "zone create: {body}");
}

fn api_rrset(p: &Pdns, name: &str, rtype: &str) -> Option<(u64, Vec<String>)> {
    let (status, body) = p.api("GET", "/api/v1/servers/localhost/zones/example.test.", None);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("zone json");
    v["rrsets"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == name && r["type"] == rtype)
        .map(|r| {
            (
                r["ttl"].as_u64().unwrap_or(0),
                r["records"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["content"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
}

fn serial(p: &Pdns) -> u64 {
    let (_, body) = p.api("GET", "/api/v1/servers/localhost/zones/example.test.", None);
    let v: Value = serde_json::from_str(&body).unwrap();
    v["serial"].as_u64().unwrap_or(0)
}

#[test]
fn powerdns_lower_cutover_restore_verified_on_its_dns_port() {
    let p = Pdns::start();
    create_zone(&p);
    let home = tempfile::tempdir().unwrap();
    let api = format!("http://127.0.0.1:{}", p.api_port);
    let dns = |args: &[&str]| {
        let mut c = migrate(home.path());
        c.arg("dns")
            .args(args)
            .args(["--authoritative", &p.dns(), "--timeout", "20"])
            .env("MIGRATE_PDNS_API_KEY", &p.api_key);
        run(&mut c)
    };
    let o = dns(&[
        "plan",
        "--domain",
        "example.test",
        "--to",
        "198.51.100.20",
        "--provider",
        "powerdns",
        "--api-url",
        &api,
    ]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("example.test. 7200 A 192.0.2.10"),
        "{}",
        stdout(&o)
    );
    let s0 = serial(&p);

    let o = dns(&["lower", "--domain", "example.test"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(
        api_rrset(&p, "example.test.", "A"),
        Some((300, vec!["192.0.2.10".into()]))
    );
    assert_eq!(api_rrset(&p, "example.test.", "MX").unwrap().0, 300);
    assert!(serial(&p) > s0, "SOA-EDIT-API bumps the serial");
    assert!(
        stdout(&o).contains("every authoritative server serves it"),
        "{}",
        stdout(&o)
    );

    let o = dns(&["cutover", "--domain", "example.test", "--now"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(
        api_rrset(&p, "example.test.", "A"),
        Some((300, vec!["198.51.100.20".into()]))
    );

    let o = dns(&["restore", "--domain", "example.test"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(
        api_rrset(&p, "example.test.", "A"),
        Some((7200, vec!["198.51.100.20".into()]))
    );
    assert_eq!(api_rrset(&p, "example.test.", "MX").unwrap().0, 7200);
    let stored = all_files_text(&home.path().join("data"));
    assert!(
        !stored.contains(&p.api_key),
        "the API key must not be stored"
    );
}

#[test]
fn powerdns_wrong_api_key_is_refused_and_nothing_changes() {
    let p = Pdns::start();
    create_zone(&p);
    let home = tempfile::tempdir().unwrap();
    let api = format!("http://127.0.0.1:{}", p.api_port);
    let mut c = migrate(home.path());
    c.args([
        "dns",
        "lower",
        "--domain",
        "cloud.example.test",
        "--provider",
        "powerdns",
        "--api-url",
        &api,
        "--authoritative",
        &p.dns(),
    ])
    .env("MIGRATE_PDNS_API_KEY", "wrong-key");
    let o = run(&mut c);
    assert_ne!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(
        err.contains("401") && err.contains("token was rejected"),
        "{err}"
    );
    assert!(!err.contains("wrong-key"), "no secret in errors: {err}");
    assert_eq!(api_rrset(&p, "cloud.example.test.", "A").unwrap().0, 3600);
}
