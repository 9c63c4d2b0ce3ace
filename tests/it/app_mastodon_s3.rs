//! `migrate app` for a Mastodon whose media live in object storage
//! (`S3_ENABLED=true` in .env.production), in the two-server lab: the
//! copy leaves public/system where it is, the plan says why, and the move
//! stops before anything is stopped when the destination cannot reach the
//! bucket. The bucket's endpoint is a python3 http.server serving one
//! object's path (a public-read object needs no credentials).

use crate::app_mastodon::Fixture;
use crate::support::cli::{stderr, stdout};
use crate::support::lab::{self, Need, ok};

const BUCKET: &str = "lab-media";
/// The first media row of examples/lab-mastodon's database (id 1,
/// file1.png) under paperclip's key.
const OBJECT: &str = "media_attachments/files/000/000/001/original/file1.png";
/// Stands in for the bucket's credentials: never in a plan, log or journal.
const SECRET: &str = "lab-s3-secret-7f3c9a1e";

/// The bucket's endpoint on the destination, stopped by its PID.
struct Bucket {
    dir: String,
    port: u16,
}

impl Bucket {
    fn pidfile(&self) -> String {
        format!("{}.pid", self.dir)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.3:{}", self.port)
    }

    fn start(&self) {
        ok(
            "dst",
            &format!(
                "mkdir -p {d}/{BUCKET}/$(dirname {OBJECT}) && head -c 2000 /dev/urandom > {d}/{BUCKET}/{OBJECT} && cd {d} && (setsid python3 -m http.server {p} --bind 127.0.0.3 >> {d}.log 2>&1 < /dev/null & echo $! > {pid}) && for i in $(seq 1 100); do curl -sf -I -o /dev/null {u}/{BUCKET}/{OBJECT} && exit 0; sleep 0.1; done; exit 1",
                d = self.dir,
                p = self.port,
                pid = self.pidfile(),
                u = self.url(),
            ),
        );
    }

    fn stop(&self) {
        let _ = lab::sh(
            "dst",
            &format!(
                "test -f {pid} && kill $(cat {pid}) && rm -f {pid}; for i in $(seq 1 50); do curl -s -o /dev/null {u}/ || exit 0; sleep 0.1; done; exit 1",
                pid = self.pidfile(),
                u = self.url()
            ),
        );
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn media_in_object_storage_stay_there_and_the_destination_must_reach_them() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let f = Fixture::new("-s3");
    let bucket = Bucket {
        dir: format!("{}/bucket", f.base),
        port: lab::port(),
    };
    ok(
        "src",
        &format!(
            "cat >> {}/.env.production <<'ENV'\nS3_ENABLED=true\nS3_BUCKET={BUCKET}\nS3_ENDPOINT={}\nS3_PROTOCOL=http\nS3_HOSTNAME=127.0.0.3:{}\nAWS_ACCESS_KEY_ID=LABKEY\nAWS_SECRET_ACCESS_KEY={SECRET}\nENV",
            f.root,
            bucket.url(),
            bucket.port
        ),
    );
    let env_src = ok("src", &format!("cat {}/.env.production", f.root));
    let media_src = ok(
        "src",
        &format!("cd {}/public/system && find . -type f | wc -l", f.root),
    );
    assert_ne!(media_src.trim(), "0", "the fixture has no media");
    let place = format!("{}/{BUCKET}", bucket.url());

    let o = f
        .migrate()
        .args(["plan", "--file"])
        .arg(&f.op.file)
        .output()
        .expect("plan");
    let plan = stdout(&o);
    assert!(o.status.success(), "{plan}{}", stderr(&o));
    assert!(
        plan.contains(&format!(
            "Media stay in object storage at {place}; public/system is not copied."
        )),
        "{plan}"
    );
    assert!(
        plan.contains(&format!("{place}/{OBJECT}")),
        "the plan does not show the object it asks for: {plan}"
    );
    assert!(!plan.contains(SECRET), "a secret leaked into the plan");

    // The endpoint down: the move stops at the check, before the source
    // is stopped and long before DNS would move.
    let o = f
        .migrate()
        .args(["app", "--yes", "--file"])
        .arg(&f.op.file)
        .output()
        .expect("app");
    let out = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("the destination cannot reach the media in object storage")
            && out.contains(&format!("HEAD {place}/{OBJECT}")),
        "{out}"
    );
    let journal = std::fs::read_to_string(f.journal()).expect("journal");
    assert!(
        !journal.contains("\"step\":\"stop-source\"") && !journal.contains("\"step\":\"pre-sync\""),
        "{journal}"
    );
    assert_eq!(f.get("127.0.0.2", "/health"), (200, "OK".to_string()));
    ok("dst", &format!("test ! -e {}/public", f.root));

    // The endpoint up: the rerun moves the app without its media.
    bucket.start();
    let o = f
        .migrate()
        .args(["app", "--yes", "--file"])
        .arg(&f.op.file)
        .output()
        .expect("app");
    let report = stdout(&o);
    assert!(o.status.success(), "{report}{}", stderr(&o));
    ok("dst", &format!("test ! -e {}/public/system", f.root));
    assert_eq!(
        ok(
            "src",
            &format!("cd {}/public/system && find . -type f | wc -l", f.root)
        ),
        media_src,
        "the source's media changed"
    );
    assert_eq!(
        ok("dst", &format!("cat {}/.env.production", f.root)),
        env_src
    );
    assert_eq!(f.get("127.0.0.3", "/health"), (200, "OK".to_string()));
    let journal = std::fs::read_to_string(f.journal()).expect("journal");
    assert!(
        !journal.contains(SECRET) && !report.contains(SECRET),
        "a secret leaked"
    );
}
