//! `migrate app` for Hometown (the Mastodon fork) in the two-server lab,
//! compose project to compose project: the lab's Mastodon stand-in with
//! Hometown's version.rb (4.0.10 with `hometown_version` 1.1.1, so the web
//! stand-in reports `4.0.10+hometown-1.1.1`), its database in the `db`
//! container and Sidekiq's queued jobs in the `redis` service's volume.
//! The migration names the target in the `v`-prefixed form Hometown's tags
//! use (`v4.0.10+hometown-1.1.1`); the plugin reads both as one version.

use crate::support::cli::{Operator, stderr, stdout};
use crate::support::fixtures::workspace_root;
use crate::support::http;
use crate::support::lab::{self, Need, ok, put};

const DOMAIN: &str = "town.example.test";
const IMAGE: &str = "ghcr.io/mastodon/mastodon:v4.3.2";

struct Town {
    base: String,
    root: String,
    db: String,
    project: String,
    port: u16,
    run: Operator,
}

impl Town {
    fn new() -> Town {
        let pid = std::process::id();
        let base = format!("/srv/test-app-town-{pid}");
        let root = format!("{base}/live");
        let db = format!("test_app_town_{pid}");
        let project = format!("town{pid}");
        let port = lab::port();
        let ex = workspace_root().join("examples/lab-mastodon");
        let read = |p: &str| std::fs::read(ex.join(p)).expect("example file");
        let f = Town {
            base: base.clone(),
            root: root.clone(),
            db: db.clone(),
            project: project.clone(),
            port,
            run: Operator::new(),
        };
        for h in ["src", "dst"] {
            ok(h, &format!("docker tag lab/debian:1 {IMAGE}"));
        }
        put(
            "src",
            &format!("{base}/app"),
            &[
                ("server.py", &read("app/server.py"), "755"),
                ("worker.py", &read("app/worker.py"), "755"),
            ],
        );
        put(
            "src",
            &format!("{base}/app/bin"),
            &[("tootctl", &read("app/bin/tootctl"), "755")],
        );
        put(
            "src",
            &format!("{base}/compose"),
            &[(
                "docker-compose.yml",
                &read("compose/docker-compose.yml"),
                "644",
            )],
        );
        lab::install(
            "src",
            &format!(
                "COMPOSE_PROJECT={project} REDIS_SOCKET=/run/redis/redis.sock VERSION=4.0.10 HOMETOWN=1.1.1 bash -s -- {root} {db} {DOMAIN}"
            ),
            &ex.join("install-source.sh"),
        );
        ok("src", &f.up("127.0.0.2"));
        let toml = format!(
            r#"app = "hometown"
domain = "{DOMAIN}"
target_version = "v4.0.10+hometown-1.1.1"
backup_dir = "{base}/backup"
skip_steps = ["maintenance-page", "stop-app"]

[source]
host = "{src}"
root = "{root}"
compose = "{root}"
project = "{project}"
http = "127.0.0.2:{port}"
start = {start_src:?}
databases = {{ mastodon_production = "{db}" }}

[destination]
host = "{dst}"
root = "{root}"
compose = "{root}"
project = "{project}"
http = "127.0.0.3:{port}"
start = {start_dst:?}
databases = {{ mastodon_production = "{db}" }}
"#,
            src = lab::src_url(),
            dst = lab::dst_url(),
            start_src = f.up("127.0.0.2"),
            start_dst = f.up("127.0.0.3"),
        );
        std::fs::write(&f.run.file, toml).expect("write migration file");
        f
    }

    fn up(&self, addr: &str) -> String {
        format!(
            "cd {r} && MASTODON_LISTEN={addr}:{p} docker-compose -p {pr} up -d >/dev/null 2>&1 && for i in $(seq 1 100); do curl -s -o /dev/null http://{addr}:{p}/ && exit 0; sleep 0.1; done; exit 1",
            r = self.root,
            p = self.port,
            pr = self.project
        )
    }

    fn dc(&self, host: &str, args: &str) -> String {
        ok(
            host,
            &format!(
                "cd {} && docker-compose -p {} {args} </dev/null",
                self.root, self.project
            ),
        )
    }

    fn tree(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "cd {} && find . ! -path ./public -printf '%P %y %s %m %U:%G\\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum",
                self.root
            ),
        )
    }

    fn rows(&self, host: &str) -> String {
        self.dc(
            host,
            &format!(
                "exec -T -u postgres db psql -X -Atqd {} -c 'select count(*), md5(string_agg(t::text, $$,$$ order by t::text)) from accounts t'",
                self.db
            ),
        )
    }

    fn version(&self, addr: &str) -> String {
        let (code, body) = http::get(addr, self.port, DOMAIN, "/api/v1/instance");
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        v["version"].as_str().unwrap_or("").to_string()
    }
}

impl Drop for Town {
    fn drop(&mut self) {
        let script = format!(
            "test -f {r}/docker-compose.yml && cd {r} && docker-compose -p {p} down -v -t 1 >/dev/null 2>&1; rm -rf {b}; true",
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
fn hometown_moves_from_one_compose_project_to_another() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let f = Town::new();
    assert_eq!(f.version("127.0.0.2"), "4.0.10+hometown-1.1.1");
    f.dc(
        "src",
        "exec -T sidekiq python3 /mastodon/worker.py enqueue 50",
    );
    let src_tree = f.tree("src");
    let src_rows = f.rows("src");
    assert!(src_rows.starts_with("65|"), "{src_rows}");

    let o = f
        .run
        .migrate()
        .args(["plan", "--file"])
        .arg(&f.run.file)
        .output()
        .expect("plan");
    let plan = stdout(&o);
    assert!(o.status.success(), "{plan}{}", stderr(&o));
    // The instance API's form and the tag's `v` form are the same release.
    assert!(plan.contains("Source runs Hometown"), "{plan}");
    assert!(plan.contains("hometown-1.1.1"), "{plan}");
    assert!(plan.contains("Upgrade hops: none (same version)"), "{plan}");
    assert!(
        plan.contains("Sidekiq queues: default 50; schedule 0, retry 0, dead 0"),
        "{plan}"
    );

    let o = f.run.app(&[]);
    let report = stdout(&o);
    assert!(o.status.success(), "{report}{}", stderr(&o));
    assert_eq!(f.tree("dst"), src_tree);
    assert_eq!(f.rows("dst"), src_rows);
    assert_eq!(f.version("127.0.0.3"), "4.0.10+hometown-1.1.1");
    assert_eq!(
        f.dc("dst", "exec -T redis redis-cli llen queue:default")
            .trim(),
        "50"
    );
    assert!(report.contains("VERDICT: PASS"), "{report}");
}
