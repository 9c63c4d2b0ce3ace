//! The lab's Nextcloud stand-in (examples/lab-nextcloud) installed plainly
//! on src, running, and an empty compose project directory on dst
//! (examples/lab-nextcloud/compose, never started), with the migration file
//! moving one into the other. Shared by the tests that move Nextcloud into a
//! compose project; everything it made is removed on drop, on both servers
//! (the src database and its role too).

use super::cli::Operator;
use super::fixtures::workspace_root;
use super::lab::{self, ok, put};

pub const DOMAIN: &str = "cloud.example.test";

pub struct NcCompose {
    pub base: String,
    pub root: String,
    pub db: String,
    pub project: String,
    pub compose_dir: String,
    pub port: u16,
    pub run: Operator,
}

impl NcCompose {
    /// `stem` names the test's paths and database, `project_stem` the
    /// compose project (each with the PID); `comment` heads the migration
    /// file.
    pub fn install(stem: &str, project_stem: &str, comment: &str) -> NcCompose {
        let pid = std::process::id();
        let name = format!("{stem}-{pid}");
        let base = format!("/srv/{name}");
        let root = format!("{base}/nextcloud");
        let db = name.replace('-', "_");
        let project = format!("{project_stem}{pid}");
        let compose_dir = format!("{base}/compose");
        let port = lab::port();
        let ex = workspace_root().join("examples/lab-nextcloud");
        let read = |p: &str| std::fs::read(ex.join(p)).expect("example file");
        let f = NcCompose {
            base: base.clone(),
            root: root.clone(),
            db: db.clone(),
            project: project.clone(),
            compose_dir: compose_dir.clone(),
            port,
            run: Operator::new(),
        };
        // The source: the stand-in app next to a plain install.
        put(
            "src",
            &format!("{base}/app"),
            &[
                ("status.py", &read("app/status.py"), "755"),
                ("occ", &read("app/occ"), "755"),
            ],
        );
        put(
            "src",
            &format!("{base}/bin"),
            &[("php", &read("php"), "755")],
        );
        lab::install(
            "src",
            &format!("bash -s -- {root} {db} {DOMAIN}"),
            &ex.join("install-source.sh"),
        );
        ok("src", &f.start_src());
        // The destination: a compose project that has never run.
        put(
            "dst",
            &compose_dir,
            &[
                (
                    "docker-compose.yml",
                    &read("compose/docker-compose.yml"),
                    "644",
                ),
                ("php", &read("php"), "755"),
                (
                    ".env",
                    format!("NC_LISTEN=127.0.0.3:{port}\n").as_bytes(),
                    "644",
                ),
            ],
        );
        ok("dst", "docker image inspect lab/debian:1 >/dev/null");
        let toml = format!(
            r#"# {comment}
app = "nextcloud"
domain = "{DOMAIN}"
backup_dir = "{base}/backup"
skip_steps = ["nextcloud-wait-for-sync-clients", "nextcloud-stop-web"]

[source]
host = "{src}"
root = "{root}"
http = "127.0.0.2:{port}"
path = ["{base}/bin"]
stop = "kill $(cat {base}/app.pid) && rm -f {base}/app.pid"
start = {start:?}
databases = {{ nextcloud = "{db}" }}

[destination]
host = "{dst}"
compose = "{compose_dir}"
project = "{project}"
volume = "html"
http = "127.0.0.3:{port}"
databases = {{ nextcloud = "{db}" }}
"#,
            src = lab::src_url(),
            dst = lab::dst_url(),
            start = f.start_src(),
        );
        std::fs::write(&f.run.file, toml).expect("write migration file");
        f
    }

    /// Starts the stand-in on src and waits until it answers.
    pub fn start_src(&self) -> String {
        let (b, r, p) = (&self.base, &self.root, self.port);
        format!(
            "cd {r} && (python3 status.py 127.0.0.2:{p} >> {b}/app.log 2>&1 < /dev/null & echo $! > {b}/app.pid) && for i in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.2:{p}/ && exit 0; sleep 0.1; done; exit 1"
        )
    }
}

impl Drop for NcCompose {
    fn drop(&mut self) {
        let _ = lab::sh(
            "dst",
            &format!(
                "cd {c} 2>/dev/null && docker-compose -p {p} down -v -t 1 >/dev/null 2>&1; docker volume rm {p}_html {p}_db {p}_pgrun >/dev/null 2>&1; rm -rf {b}; true",
                c = self.compose_dir,
                p = self.project,
                b = self.base
            ),
        );
        let _ = lab::sh(
            "src",
            &format!(
                "test -f {b}/app.pid && kill $(cat {b}/app.pid) 2>/dev/null; rm -rf {b}; cd / && runuser -u postgres -- psql -X -q -c 'DROP DATABASE IF EXISTS \"{d}\"' -c 'DROP ROLE IF EXISTS \"nc_{d}\"' >/dev/null 2>&1; true",
                b = self.base,
                d = self.db
            ),
        );
    }
}
