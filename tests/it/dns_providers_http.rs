//! Gandi LiveDNS v5 and deSEC cannot run here, so these tests run
//! `migrate dns` against local servers written to their published API
//! contracts:
//!
//! * Gandi LiveDNS v5 (https://api.gandi.net/docs/livedns/; client side as
//!   implemented by go-gandi `internal/client/gandi.go` and
//!   `livedns/domainrecord.go`): `GET /domains/{fqdn}/records` lists
//!   `{rrset_name, rrset_type, rrset_ttl, rrset_values, rrset_href}`;
//!   `PUT|DELETE /domains/{fqdn}/records/{name}/{type}` with
//!   `{"rrset_ttl", "rrset_values"}`; `Authorization: Bearer <PAT>`;
//!   `Dry-Run: 1` validates without changing; errors are
//!   `{"code","message","object","cause","errors":[{"location","name","description"}]}`;
//!   TTLs below 300 are refused (octodns/octodns#1234).
//! * deSEC (desec-stack docs/dns/domains.rst, docs/dns/rrsets.rst):
//!   `GET /domains/{name}/` has `minimum_ttl`; `GET /domains/{name}/rrsets/`;
//!   bulk `PATCH /domains/{name}/rrsets/` with `[{subname,type,ttl,records}]`,
//!   atomic, `records: []` deletes, apex subname `""`; `Authorization: Token <t>`;
//!   a refused bulk answers 400 with one error object per item, e.g.
//!   `[{"ttl": ["Ensure this value is greater than or equal to 3600."]}, {}]`
//!   (go-acme/lego#1361, acmesh-official/acme.sh#2925); 401 `{"detail": "Invalid token."}`.

use std::sync::{Arc, Mutex};

use crate::support::cli::{migrate, run, stderr, stdout};
use crate::support::fixtures::all_files_text;
use crate::support::http::{self, FakeHttp, Req, Resp};
use serde_json::{Value, json};

const GANDI_TOKEN: &str = "gandi-pat-0123456789abcdef";
const DESEC_TOKEN: &str = "desec-token-0123456789abcdef";

/// RRsets keyed by (relative name, type) -> (ttl, values).
type Zone = Arc<Mutex<Vec<(String, String, u64, Vec<String>)>>>;

fn zone() -> Zone {
    Arc::new(Mutex::new(vec![
        ("@".into(), "A".into(), 10800, vec!["192.0.2.10".into()]),
        (
            "@".into(),
            "MX".into(),
            10800,
            vec!["10 mail.example.test.".into()],
        ),
        (
            "@".into(),
            "TXT".into(),
            10800,
            vec!["\"v=spf1 mx -all\"".into()],
        ),
        ("cloud".into(), "A".into(), 86400, vec!["192.0.2.10".into()]),
        (
            "www".into(),
            "CNAME".into(),
            10800,
            vec!["example.test.".into()],
        ),
    ]))
}

fn gandi_fake(zone: Zone) -> FakeHttp {
    FakeHttp::start(move |r: &Req| {
        if r.header("Authorization") != Some(&format!("Bearer {GANDI_TOKEN}")) {
            return Resp::json(
                401,
                json!({"code": 401, "message": "The server could not verify that you are authorized to access the URL requested.", "object": "HTTPUnauthorized", "cause": "Unauthorized"}),
            );
        }
        let path = r.path.split('?').next().unwrap_or_default();
        let Some(rest) = path.strip_prefix("/domains/example.test/records") else {
            return Resp::json(
                404,
                json!({"code": 404, "message": "The resource could not be found.", "object": "HTTPNotFound", "cause": "Not Found"}),
            );
        };
        let mut z = zone.lock().unwrap();
        let parts: Vec<&str> = rest
            .trim_start_matches('/')
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        match (r.method.as_str(), parts.as_slice()) {
            ("GET", []) => Resp::json(
                200,
                Value::Array(
                    z.iter()
                        .map(|(n, t, ttl, v)| json!({"rrset_name": n, "rrset_type": t, "rrset_ttl": ttl, "rrset_values": v, "rrset_href": format!("/v5/livedns/domains/example.test/records/{n}/{t}")}))
                        .collect(),
                ),
            ),
            ("PUT", [name, rtype]) => {
                let b: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
                let ttl = b["rrset_ttl"].as_u64().unwrap_or(0);
                if ttl < 300 {
                    return Resp::json(400, json!({"code": 400, "message": "Bad Request", "object": "HTTPBadRequest", "cause": "Bad Request",
                        "errors": [{"location": "body", "name": "rrset_ttl", "description": "Must be greater than or equal to 300."}]}));
                }
                if r.header("Dry-Run") == Some("1") {
                    return Resp::json(200, json!({"status": "success"}));
                }
                let values: Vec<String> = b["rrset_values"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
                z.retain(|(n, t, _, _)| !(n == name && t == rtype));
                z.push((name.to_string(), rtype.to_string(), ttl, values));
                Resp::json(201, json!({"message": "DNS Record Created"}))
            }
            ("DELETE", [name, rtype]) => {
                if r.header("Dry-Run") != Some("1") {
                    z.retain(|(n, t, _, _)| !(n == name && t == rtype));
                }
                Resp::empty(204)
            }
            _ => Resp::json(405, json!({"code": 405, "message": "Method Not Allowed", "object": "HTTPMethodNotAllowed", "cause": "Method Not Allowed"})),
        }
    })
}

fn desec_fake(zone: Zone, minimum_ttl: u64) -> FakeHttp {
    FakeHttp::start(move |r: &Req| {
        if r.header("Authorization") != Some(&format!("Token {DESEC_TOKEN}")) {
            return Resp::json(401, json!({"detail": "Invalid token."}));
        }
        let path = r.path.split('?').next().unwrap_or_default();
        let mut z = zone.lock().unwrap();
        let sub = |n: &str| {
            if n == "@" {
                String::new()
            } else {
                n.to_string()
            }
        };
        match (r.method.as_str(), path) {
            ("GET", "/domains/example.test/") => Resp::json(200, json!({"name": "example.test", "minimum_ttl": minimum_ttl, "created": "2024-01-01T00:00:00Z", "published": "2024-01-01T00:00:00Z", "touched": "2024-01-01T00:00:00Z"})),
            ("GET", "/domains/example.test/rrsets/") => Resp::json(
                200,
                Value::Array(
                    z.iter()
                        .map(|(n, t, ttl, v)| {
                            let s = sub(n);
                            let name = if s.is_empty() { "example.test.".to_string() } else { format!("{s}.example.test.") };
                            json!({"domain": "example.test", "subname": s, "name": name, "type": t, "ttl": ttl, "records": v})
                        })
                        .collect(),
                ),
            ),
            ("PATCH", "/domains/example.test/rrsets/") => {
                let items: Vec<Value> = serde_json::from_str(&r.body).unwrap_or_default();
                // Stage 1 validation; any error aborts the whole bulk (atomic).
                let errors: Vec<Value> = items
                    .iter()
                    .map(|i| match i["ttl"].as_u64() {
                        Some(t) if t < minimum_ttl => json!({"ttl": [format!("Ensure this value is greater than or equal to {minimum_ttl}.")]}),
                        _ => json!({}),
                    })
                    .collect();
                if errors.iter().any(|e| e.as_object().is_some_and(|o| !o.is_empty())) {
                    return Resp::json(400, Value::Array(errors));
                }
                for i in &items {
                    let s = i["subname"].as_str().unwrap_or_default();
                    let n = if s.is_empty() { "@".to_string() } else { s.to_string() };
                    let t = i["type"].as_str().unwrap_or_default().to_string();
                    let recs: Vec<String> = i["records"].as_array().map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect()).unwrap_or_default();
                    let old_ttl = z.iter().find(|(zn, zt, _, _)| *zn == n && *zt == t).map(|x| x.2);
                    z.retain(|(zn, zt, _, _)| !(*zn == n && *zt == t));
                    if !recs.is_empty() {
                        z.push((n, t, i["ttl"].as_u64().or(old_ttl).unwrap_or(3600), recs));
                    }
                }
                Resp::json(200, json!([]))
            }
            _ => Resp::json(404, json!({"detail": "Not found."})),
        }
    })
}

fn get(zone: &Zone, name: &str, rtype: &str) -> (u64, Vec<String>) {
    let z = zone.lock().unwrap();
    z.iter()
        .find(|(n, t, _, _)| n == name && t == rtype)
        .map(|(_, _, ttl, v)| (*ttl, v.clone()))
        .unwrap_or_default()
}

fn writes(fake: &FakeHttp) -> Vec<Req> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.header("Dry-Run").is_none())
        .collect()
}

#[test]
fn gandi_lower_and_restore_through_the_livedns_api() {
    let z = zone();
    let fake = gandi_fake(z.clone());
    let home = tempfile::tempdir().unwrap();
    let dns = |args: &[&str]| {
        let mut c = migrate(home.path());
        c.arg("dns")
            .args(args)
            .env("MIGRATE_GANDI_TOKEN", GANDI_TOKEN);
        run(&mut c)
    };
    let api = fake.url();
    let o = dns(&[
        "plan",
        "--domain",
        "example.test",
        "--name",
        "cloud.example.test",
        "--to",
        "198.51.100.20",
        "--provider",
        "gandi",
        "--api-url",
        &api,
        "--source",
        "provider",
    ]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("lowered TTL: 300s (provider minimum 300s)"),
        "{}",
        stdout(&o)
    );

    let o = dns(&["lower", "--domain", "example.test"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(get(&z, "@", "A"), (300, vec!["192.0.2.10".into()]));
    assert_eq!(
        get(&z, "@", "TXT"),
        (300, vec!["\"v=spf1 mx -all\"".into()])
    );
    assert_eq!(get(&z, "cloud", "A").0, 300);
    // Every write was validated with Dry-Run first and sent with the bearer token.
    let reqs = fake.requests();
    let dry = reqs
        .iter()
        .filter(|r| r.header("Dry-Run") == Some("1"))
        .count();
    assert_eq!(dry, writes(&fake).len(), "one dry run per write");
    assert!(
        reqs.iter()
            .all(|r| r.header("Authorization") == Some(&format!("Bearer {GANDI_TOKEN}")))
    );

    let o = dns(&["cutover", "--domain", "example.test", "--now"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(get(&z, "@", "A"), (300, vec!["198.51.100.20".into()]));

    let o = dns(&["restore", "--domain", "example.test"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(get(&z, "@", "A"), (10800, vec!["198.51.100.20".into()]));
    assert_eq!(get(&z, "cloud", "A").0, 86400);
    assert_eq!(get(&z, "@", "MX").0, 10800);
    assert!(
        !all_files_text(&home.path().join("data")).contains(GANDI_TOKEN),
        "token not stored"
    );
}

#[test]
fn gandi_minimum_ttl_is_explained_locally_and_when_the_api_refuses() {
    let z = zone();
    let fake = gandi_fake(z.clone());
    let home = tempfile::tempdir().unwrap();
    let api = fake.url();
    let dns = |args: &[&str]| {
        let mut c = migrate(home.path());
        c.arg("dns")
            .args(args)
            .args([
                "--provider",
                "gandi",
                "--api-url",
                &api,
                "--source",
                "provider",
            ])
            .env("MIGRATE_GANDI_TOKEN", GANDI_TOKEN);
        run(&mut c)
    };
    // Asked below Gandi's documented minimum: refused before any request that writes.
    let o = dns(&["lower", "--domain", "example.test", "--lowered-ttl", "60"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("refuses TTL 60s: its minimum for this zone is 300s"),
        "{err}"
    );
    assert!(
        err.contains("use --lowered-ttl 300")
            && err.contains("up to 300s (5 min) after the cutover"),
        "{err}"
    );
    assert!(writes(&fake).is_empty());

    // The operator claims a lower minimum; Gandi itself refuses (HTTP 400 on
    // the Dry-Run pass): explained, and the zone is unchanged.
    let o = dns(&[
        "lower",
        "--domain",
        "example.test",
        "--lowered-ttl",
        "60",
        "--provider-min-ttl",
        "60",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}\n{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("minimum for this zone is 300s")
            && err.contains("Must be greater than or equal to 300"),
        "{err}"
    );
    assert!(writes(&fake).is_empty(), "nothing written");
    assert_eq!(get(&z, "@", "A").0, 10800);

    // A wrong token: named as such, token not echoed.
    let mut c = migrate(home.path());
    c.args([
        "dns",
        "plan",
        "--domain",
        "example.test",
        "--provider",
        "gandi",
        "--api-url",
        &api,
        "--source",
        "provider",
    ])
    .env("MIGRATE_GANDI_TOKEN", "wrong-token");
    let o = run(&mut c);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("401") && !stderr(&o).contains("wrong-token"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn desec_minimum_ttl_from_the_domain_and_atomic_bulk_patch() {
    let z = zone();
    let fake = desec_fake(z.clone(), 3600);
    let home = tempfile::tempdir().unwrap();
    let api = fake.url();
    let dns = |args: &[&str]| {
        let mut c = migrate(home.path());
        c.arg("dns")
            .args(args)
            .env("MIGRATE_DESEC_TOKEN", DESEC_TOKEN);
        run(&mut c)
    };
    // Asking for 300 on a domain whose minimum_ttl is 3600: refused, explained.
    let o = dns(&[
        "plan",
        "--domain",
        "example.test",
        "--name",
        "cloud.example.test",
        "--to",
        "198.51.100.20",
        "--provider",
        "desec",
        "--api-url",
        &api,
        "--source",
        "provider",
        "--lowered-ttl",
        "300",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("desec refuses TTL 300s: its minimum for this zone is 3600s"),
        "{err}"
    );
    assert!(
        err.contains("use --lowered-ttl 3600") && err.contains("(60 min)"),
        "{err}"
    );

    // Default: lowered to deSEC's minimum with a note.
    let o = dns(&[
        "plan",
        "--domain",
        "example.test",
        "--name",
        "cloud.example.test",
        "--to",
        "198.51.100.20",
        "--provider",
        "desec",
        "--api-url",
        &api,
        "--source",
        "provider",
    ]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("lowered TTL: 3600s (provider minimum 3600s)")
            && stdout(&o).contains("does not accept TTLs below 3600s"),
        "{}",
        stdout(&o)
    );

    let o = dns(&["lower", "--domain", "example.test"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(get(&z, "@", "A").0, 3600);
    assert_eq!(get(&z, "cloud", "A").0, 3600);
    // One bulk request (deSEC rate-limits RRset writes), apex as "".
    let w = writes(&fake);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].method, "PATCH");
    assert!(w[0].body.contains("\"subname\":\"\""), "{}", w[0].body);

    let o = dns(&["restore", "--domain", "example.test"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(get(&z, "@", "A").0, 10800);
    assert_eq!(get(&z, "cloud", "A").0, 86400);
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.header("Authorization") == Some(&format!("Token {DESEC_TOKEN}")))
    );
}

#[test]
fn desec_refusal_of_the_bulk_leaves_the_zone_unchanged() {
    // The domain endpoint says 300 (support lowered it) but the RRset
    // validation still enforces 3600: the API's 400 is explained.
    let z = zone();
    let fake = FakeHttp::start({
        let inner = desec_fake(z.clone(), 3600);
        let url = inner.url();
        let keep = Arc::new(Mutex::new(Some(inner)));
        move |r: &Req| {
            let _ = &keep;
            if r.method == "GET" && r.path == "/domains/example.test/" {
                return Resp::json(200, json!({"name": "example.test", "minimum_ttl": 300}));
            }
            let addr = url.trim_start_matches("http://");
            let headers: Vec<(&str, &str)> = r
                .headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let (status, body) = http::request(addr, &r.method, &r.path, &headers, Some(&r.body));
            Resp {
                status,
                body,
                headers: vec![],
            }
        }
    });
    let home = tempfile::tempdir().unwrap();
    let mut c = migrate(home.path());
    c.args([
        "dns",
        "lower",
        "--domain",
        "example.test",
        "--provider",
        "desec",
        "--api-url",
        &fake.url(),
        "--source",
        "provider",
    ])
    .env("MIGRATE_DESEC_TOKEN", DESEC_TOKEN);
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(3), "{}\n{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("Ensure this value is greater than or equal to 3600.")
            && err.contains("Nothing was changed"),
        "{err}"
    );
    assert_eq!(get(&z, "@", "A").0, 10800);
    assert_eq!(get(&z, "cloud", "A").0, 86400);
}
