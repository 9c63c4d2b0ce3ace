//! The lab's Mastodon stand-in (examples/lab-mastodon) as a compose project
//! on src, and the migration file moving it to the same project on dst:
//! what the Mastodon and Hometown compose tests share. Everything it made
//! is removed on drop, on both servers.

use super::cli::Operator;
use super::fixtures::workspace_root;
use super::lab::{self, ok, put};

/// The image web, streaming and sidekiq run (the lab's Debian, tagged).
pub const IMAGE: &str = "ghcr.io/mastodon/mastodon:v4.3.2";

/// What differs between the apps built on the stand-in.
pub struct Spec<'a> {
    /// Names the test's paths, database and project (with the PID).
    pub stem: &'a str,
    pub domain: &'a str,
    /// Variables for examples/lab-mastodon/install-source.sh, e.g. the
    /// version it writes (`VERSION=4.0.10 HOMETOWN=1.1.1`).
    pub install_env: &'a str,
    /// The migration file's top keys: `app`, and `target_version` if any.
    pub head: &'a str,
    /// More of the migration file after both sides (a [dns] section).
    pub tail: &'a str,
}

pub struct MastoCompose {
    pub base: String,
    pub root: String,
    pub db: String,
    pub project: String,
    pub port: u16,
    pub domain: String,
    pub run: Operator,
}

impl MastoCompose {
    pub fn install(spec: &Spec) -> MastoCompose {
        let pid = std::process::id();
        let base = format!("/srv/test-app-{}-{pid}", spec.stem);
        let root = format!("{base}/live");
        let db = format!("test_app_{}_{pid}", spec.stem);
        let project = format!("{}{pid}", spec.stem);
        let ex = workspace_root().join("examples/lab-mastodon");
        let read = |p: &str| std::fs::read(ex.join(p)).expect("example file");
        let f = MastoCompose {
            base: base.clone(),
            root: root.clone(),
            db: db.clone(),
            project: project.clone(),
            port: lab::port(),
            domain: spec.domain.to_string(),
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
                "COMPOSE_PROJECT={project} REDIS_SOCKET=/run/redis/redis.sock {} bash -s -- {root} {db} {}",
                spec.install_env, spec.domain
            ),
            &ex.join("install-source.sh"),
        );
        // The image has no Ruby: the stand-in `bundle` sits in the app's bin/.
        put(
            "src",
            &format!("{root}/bin"),
            &[("bundle", &read("bundle"), "755")],
        );
        ok("src", &f.up("127.0.0.2"));
        let toml = format!(
            r#"{head}
domain = "{domain}"
backup_dir = "{base}/backup"
# There is no nginx page to edit; compose stops web, streaming and sidekiq.
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
# Both lab servers share one network namespace: web listens on dst's address.
start = {start_dst:?}
databases = {{ mastodon_production = "{db}" }}
{tail}"#,
            head = spec.head,
            domain = spec.domain,
            tail = spec.tail,
            port = f.port,
            src = lab::src_url(),
            dst = lab::dst_url(),
            start_src = f.up("127.0.0.2"),
            start_dst = f.up("127.0.0.3"),
        );
        std::fs::write(&f.run.file, toml).expect("write migration file");
        f
    }

    /// Starts the project on the server owning `addr`, web listening there,
    /// and waits until it answers.
    pub fn up(&self, addr: &str) -> String {
        format!(
            "cd {r} && MASTODON_LISTEN={addr}:{p} docker-compose -p {pr} up -d >/dev/null 2>&1 && for i in $(seq 1 100); do curl -s -o /dev/null http://{addr}:{p}/ && exit 0; sleep 0.1; done; exit 1",
            r = self.root,
            p = self.port,
            pr = self.project
        )
    }

    /// `docker-compose ARGS` of the project on `host`; its output.
    pub fn dc(&self, host: &str, args: &str) -> String {
        ok(
            host,
            &format!(
                "cd {} && docker-compose -p {} {args} </dev/null",
                self.root, self.project
            ),
        )
    }
}

impl Drop for MastoCompose {
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
