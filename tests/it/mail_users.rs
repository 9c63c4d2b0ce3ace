//! `migrate mail users` against a local stand-in for Mailu's REST API,
//! which cannot run here. The fake follows Mailu's published contract
//! (Mailu 2.0+/2024.06, `core/admin/mailu/api/common.py` and
//! `core/admin/mailu/api/v1/user.py`, docs/api.rst):
//! - `Authorization: Bearer <token>` (prefix optional); no header → 401
//!   `{"message": "A valid Authorization header is mandatory"}`, a wrong
//!   token → 403 `{"message": "Invalid API token"}`;
//! - `GET /api/v1/user/<email>` → 200 with the user, or 404
//!   `{"code": 404, "message": "User <email> cannot be found"}`;
//! - `POST /api/v1/user` `{"email", "raw_password", "quota_bytes"?}` → 200
//!   `{"code": 200, "message": "User <email> has been created"}`; 400 for an
//!   invalid email, 404 `Domain <d> does not exist`, 409 for a duplicate;
//! - `PATCH /api/v1/user/<email>` with `raw_password`/`quota_bytes` → 200.

use crate::support::cli;

use crate::support::http::{FakeHttp, Req, Resp};

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

const TOKEN: &str = "mailu-test-token-7f3a";

#[derive(Default)]
struct State {
    users: HashMap<String, (String, Option<u64>)>,
    /// (method, path, body) of every authorised request.
    log: Vec<(String, String, Value)>,
}

struct Fake {
    http: FakeHttp,
    state: Arc<Mutex<State>>,
}

/// Mailu closes the connection after each answer.
fn respond(status: u16, body: Value) -> Resp {
    let mut r = Resp::json(status, body);
    r.headers.push(("Connection".into(), "close".into()));
    r
}

/// Mailu's answer to one request, from the state the fake keeps.
fn handle(req: &Req, state: &Mutex<State>) -> Resp {
    let (method, path) = (req.method.clone(), req.path.clone());
    let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
    let Some(auth) = req.header("authorization") else {
        return respond(
            401,
            json!({"message": "A valid Authorization header is mandatory"}),
        );
    };
    if auth.strip_prefix("Bearer ").unwrap_or(auth) != TOKEN {
        return respond(403, json!({"message": "Invalid API token"}));
    }
    let mut st = state.lock().expect("state");
    st.log.push((method.clone(), path.clone(), body.clone()));
    let valid = |e: &str| {
        e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
    };
    match (method.as_str(), path.strip_prefix("/api/v1/user")) {
        ("POST", Some("")) => {
            let email = body["email"].as_str().unwrap_or("").to_string();
            let Some(pw) = body["raw_password"].as_str() else {
                return respond(
                    400,
                    json!({"errors": {"raw_password": "'raw_password' is a required property"}, "message": "Input payload validation failed"}),
                );
            };
            if !valid(&email) {
                return respond(
                    400,
                    json!({"code": 400, "message": format!("Provided email address {email} is not a valid email address")}),
                );
            }
            let domain = email
                .rsplit_once('@')
                .map(|(_, d)| d.to_lowercase())
                .unwrap_or_default();
            if domain != "example.test" {
                return respond(
                    404,
                    json!({"code": 404, "message": format!("Domain {domain} does not exist")}),
                );
            }
            if st.users.contains_key(&email) {
                return respond(409, json!({"code": 409, "message": "Duplicate user"}));
            }
            let quota = body["quota_bytes"].as_u64();
            st.users.insert(email.clone(), (pw.to_string(), quota));
            respond(
                200,
                json!({"code": 200, "message": format!("User {email} has been created")}),
            )
        }
        (m, Some(rest)) if rest.starts_with('/') => {
            let email = rest[1..].replace("%40", "@");
            if !valid(&email) {
                return respond(
                    400,
                    json!({"code": 400, "message": format!("Provided email address {email} is not a valid email address")}),
                );
            }
            let Some(u) = st.users.get_mut(&email) else {
                return respond(
                    404,
                    json!({"code": 404, "message": format!("User {email} cannot be found")}),
                );
            };
            match m {
                "GET" => {
                    let q = u.1;
                    respond(
                        200,
                        json!({"email": email, "password": "$bcrypt-sha256$v=2,t=2b,r=12$x$y", "quota_bytes": q, "enabled": true}),
                    )
                }
                "PATCH" => {
                    if let Some(p) = body["raw_password"].as_str() {
                        u.0 = p.to_string();
                    }
                    if let Some(q) = body["quota_bytes"].as_u64() {
                        u.1 = Some(q);
                    }
                    respond(
                        200,
                        json!({"code": 200, "message": format!("User {email} has been updated")}),
                    )
                }
                _ => respond(
                    405,
                    json!({"message": "The method is not allowed for the requested URL."}),
                ),
            }
        }
        _ => respond(404, json!({"message": "Not Found"})),
    }
}

impl Fake {
    fn start() -> Fake {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let http = FakeHttp::start(move |req| handle(req, &st));
        Fake { http, state }
    }
    fn url(&self) -> String {
        format!("{}/api/v1", self.http.url())
    }
}

fn users_cmd(home: &Path, users: &Path) -> Command {
    let mut c = cli::migrate(home);
    c.args(["mail", "users", "--users"]).arg(users);
    c
}

fn run(c: &mut Command) -> (i32, String, String) {
    let o = cli::run_with_guard(c, Duration::from_secs(120));
    (
        o.status.code().unwrap_or(-1),
        cli::stdout(&o),
        cli::stderr(&o),
    )
}

const PASSWORDS: [&str; 3] = ["Alice-pw-ÄÖ-1", "bob pw \"quoted\"", "carol-pw-3"];

fn users_file(dir: &Path, carol_quota: &str) -> std::path::PathBuf {
    let p = dir.join("users.toml");
    std::fs::write(
        &p,
        format!(
            r#"
[[account]]
src_user = "alice@old.example"
dst_user = "alice@example.test"
dst_password = "{a}"
quota = "1G"

[[account]]
src_user = "bob@old.example"
dst_user = "bob@example.test"
dst_password_env = "BOB_PW"

[[account]]
src_user = "carol@old.example"
dst_user = "carol@example.test"
dst_password_command = "printf '%s\n' {c}"
quota = "{carol_quota}"

[[account]]
src_user = "dave@old.example"
dst_user = "dave@nowhere.test"
dst_password = "dave-pw-4"
"#,
            a = PASSWORDS[0],
            c = PASSWORDS[2]
        ),
    )
    .expect("users file");
    p
}

fn no_secrets(out: &str, err: &str) {
    for s in PASSWORDS.iter().chain([&"dave-pw-4", &TOKEN]) {
        assert!(
            !out.contains(s) && !err.contains(s),
            "secret {s:?} appeared in the output"
        );
    }
}

#[test]
fn provisions_users_through_the_mailu_api() {
    let fake = Fake::start();
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let home = dir.join("home");
    let users = users_file(dir, "500M");

    // First run: three created with password and quota; the user of an
    // unknown domain fails with Mailu's reason, the others went on.
    let mut c = users_cmd(&home, &users);
    c.args(["--mailu-api", &fake.url()])
        .env("MAILU_API_TOKEN", TOKEN)
        .env("BOB_PW", PASSWORDS[1]);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 1, "one user failed: {out}\n{err}");
    assert!(
        out.contains("alice@example.test: created with its password, quota 1073741824 bytes"),
        "{out}"
    );
    assert!(
        out.contains("dave@nowhere.test: error:")
            && out.contains("Domain nowhere.test does not exist"),
        "{out}"
    );
    assert!(
        out.contains("create the mail domain in Mailu first"),
        "{out}"
    );
    no_secrets(&out, &err);
    {
        let st = fake.state.lock().expect("state");
        assert_eq!(
            st.users["alice@example.test"],
            (PASSWORDS[0].to_string(), Some(1 << 30))
        );
        assert_eq!(
            st.users["bob@example.test"],
            (PASSWORDS[1].to_string(), None)
        );
        assert_eq!(
            st.users["carol@example.test"],
            (PASSWORDS[2].to_string(), Some(500 << 20))
        );
        assert!(!st.users.contains_key("dave@nowhere.test"));
    }

    // Second run: nothing to change, nothing posted or patched.
    let n_before = fake.state.lock().expect("state").log.len();
    let mut c = users_cmd(&home, &users);
    c.args(["--mailu-api", &fake.url()])
        .env("MAILU_API_TOKEN", TOKEN)
        .env("BOB_PW", PASSWORDS[1]);
    let (_, out, err) = run(&mut c);
    assert!(
        out.contains("alice@example.test: exists, unchanged"),
        "{out}"
    );
    no_secrets(&out, &err);
    {
        let st = fake.state.lock().expect("state");
        // Only reads, and the retry of the user whose domain is missing.
        assert!(
            st.log[n_before..]
                .iter()
                .all(|(m, _, b)| m == "GET" || b["email"] == "dave@nowhere.test"),
            "only reads on a rerun: {:?}",
            &st.log[n_before..]
                .iter()
                .map(|(m, p, _)| format!("{m} {p}"))
                .collect::<Vec<_>>()
        );
    }

    // A new quota is set without touching the password; --reset-passwords
    // sets the password of existing users.
    std::fs::write(dir.join("bob-new"), "bob-new-pw\n").expect("pw");
    let users = users_file(dir, "2G");
    let mut c = users_cmd(&home, &users);
    c.args(["--mailu-api", &fake.url()])
        .env("MAILU_API_TOKEN", TOKEN)
        .env("BOB_PW", "bob-changed-pw");
    let (_, out, _) = run(&mut c);
    assert!(
        out.contains("carol@example.test: updated:, quota 2147483648 bytes"),
        "{out}"
    );
    assert_eq!(
        fake.state.lock().expect("state").users["bob@example.test"].0,
        PASSWORDS[1],
        "no reset without the flag"
    );
    let mut c = users_cmd(&home, &users);
    c.args(["--mailu-api", &fake.url(), "--reset-passwords"])
        .env("MAILU_API_TOKEN", TOKEN)
        .env("BOB_PW", "bob-changed-pw");
    let (_, out, err) = run(&mut c);
    assert!(
        out.contains("bob@example.test: updated: password set"),
        "{out}"
    );
    assert!(!out.contains("bob-changed-pw") && !err.contains("bob-changed-pw"));
    assert_eq!(
        fake.state.lock().expect("state").users["bob@example.test"].0,
        "bob-changed-pw"
    );

    // A wrong token: the auth exit code, Mailu's message, and it stops.
    let n_before = fake.state.lock().expect("state").log.len();
    let mut c = users_cmd(&home, &users);
    c.args(["--mailu-api", &fake.url()])
        .env("MAILU_API_TOKEN", "wrong-token-0000")
        .env("BOB_PW", "x");
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 16, "wrong token: {out}\n{err}");
    assert!(
        out.contains("token refused (HTTP 403): Invalid API token"),
        "{out}"
    );
    assert!(!out.contains("wrong-token-0000") && !err.contains("wrong-token-0000"));
    assert_eq!(
        fake.state.lock().expect("state").log.len(),
        n_before,
        "nothing done with a wrong token"
    );

    // A token from a file works too; no token at all is bad input.
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).expect("token");
    let mut c = users_cmd(&home, &users);
    c.args(["--mailu-api", &fake.url(), "--token-file"])
        .arg(dir.join("token"))
        .env("BOB_PW", "x")
        .env_remove("MAILU_API_TOKEN");
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 1, "only dave fails: {out}\n{err}");
    // (`--token-file` is the old spelling of `--secret-file`: it still works, with a note.)
    assert!(
        err.contains("`--token-file` is deprecated") && err.contains("use `--secret-file`"),
        "{err}"
    );
    let mut c = users_cmd(&home, &users);
    c.args(["--mailu-api", &fake.url()])
        .env("BOB_PW", "x")
        .env_remove("MAILU_API_TOKEN")
        .env_remove("MIGRATE_MAILU_TOKEN");
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 2);
    assert!(
        err.contains("set MIGRATE_MAILU_TOKEN or pass --secret-file"),
        "{err}"
    );

    // Plain HTTP to a non-loopback host is refused before anything is sent.
    let mut c = users_cmd(&home, &users);
    c.args(["--mailu-api", "http://mail.example.org/api/v1"])
        .env("MAILU_API_TOKEN", TOKEN)
        .env("BOB_PW", "x");
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 2);
    assert!(err.contains("in clear"), "{err}");
}

#[test]
fn writes_mailu_config_import_yaml() {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let home = dir.join("home");
    let users = users_file(dir, "500M");
    let out_file = dir.join("import.yml");
    let mut c = users_cmd(&home, &users);
    c.arg("--config-import")
        .arg(&out_file)
        .env("BOB_PW", PASSWORDS[1]);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("wrote 4 users"), "{out}");
    assert!(out.contains("config-import --update"), "{out}");
    no_secrets(&out, &err);
    let yaml = std::fs::read_to_string(&out_file).expect("yaml");
    assert!(yaml.contains("  - email: \"bob@example.test\"\n    password: \"bob pw \\\"quoted\\\"\"\n    hash_password: true\n"), "{yaml}");
    assert!(yaml.contains("    quota_bytes: 524288000\n"), "{yaml}");
    assert!(yaml.contains("  - name: \"nowhere.test\"\n"), "{yaml}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out_file)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // Never overwritten silently.
    let mut c = users_cmd(&home, &users);
    c.arg("--config-import")
        .arg(&out_file)
        .env("BOB_PW", PASSWORDS[1]);
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 2);
    assert!(err.contains("pass --force"), "{err}");
    // A missing password source: nothing written, the reason named.
    let mut c = users_cmd(&home, &users);
    c.arg("--config-import")
        .arg(dir.join("other.yml"))
        .env_remove("BOB_PW");
    let (code, out, _) = run(&mut c);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("environment variable BOB_PW is not set"),
        "{out}"
    );
    assert!(!dir.join("other.yml").exists());
}
