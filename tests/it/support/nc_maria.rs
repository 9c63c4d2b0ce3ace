//! The lab's Nextcloud stand-in with MariaDB as a compose project on src
//! (examples/lab-nextcloud/compose-mariadb: the app's files in its `html`
//! volume, MariaDB in its `db` container), running; the same project
//! directory, never started, on dst. Removed from both servers on drop.
//! Also the MariaDB query that fingerprints the app's rows, which the stack
//! tests read in their own `db` service.

use super::fixtures::workspace_root;
use super::lab::{self, ok, put, sq};

/// Per table: row count and a digest of every row (MariaDB).
pub const ROWS_SQL: &str = "SET SESSION group_concat_max_len = 10000000; \
    SELECT 'oc_users', count(*), md5(group_concat(concat_ws(',', uid, displayname, password) ORDER BY uid)) FROM oc_users; \
    SELECT 'oc_storages', count(*), md5(group_concat(concat_ws(',', numeric_id, id) ORDER BY numeric_id)) FROM oc_storages; \
    SELECT 'oc_filecache', count(*), md5(group_concat(concat_ws(',', fileid, storage, path, size, mtime, etag) ORDER BY fileid)) FROM oc_filecache; \
    SELECT 'oc_appconfig', count(*), md5(group_concat(concat_ws(',', appid, configkey, configvalue) ORDER BY appid, configkey)) FROM oc_appconfig;";

pub struct NcMaria {
    pub base: String,
    pub db: String,
    pub project: String,
    pub domain: String,
    pub port: u16,
}

impl NcMaria {
    pub fn install(base: &str, db: &str, project: &str, domain: &str) -> NcMaria {
        let c = NcMaria {
            base: base.to_string(),
            db: db.to_string(),
            project: project.to_string(),
            domain: domain.to_string(),
            port: lab::port(),
        };
        let ex = workspace_root().join("examples/lab-nextcloud");
        let read = |p: &str| std::fs::read(ex.join(p)).expect("example file");
        let port = c.port;
        let compose = c.compose_dir();
        for (h, addr) in [("src", "127.0.0.2"), ("dst", "127.0.0.3")] {
            put(
                h,
                &compose,
                &[
                    (
                        "docker-compose.yml",
                        &read("compose-mariadb/docker-compose.yml"),
                        "644",
                    ),
                    ("php", &read("php"), "755"),
                    (
                        ".env",
                        format!("NC_LISTEN={addr}:{port}\n").as_bytes(),
                        "644",
                    ),
                ],
            );
        }
        put(
            "src",
            &format!("{base}/app"),
            &[
                ("status.py", &read("app/status.py"), "755"),
                ("occ", &read("app/occ"), "755"),
            ],
        );
        ok(
            "src",
            &format!("cd {compose} && docker-compose -p {project} up -d db >/dev/null 2>&1"),
        );
        let vol = c.volume("src");
        lab::install(
            "src",
            &format!(
                "DB_ENGINE=mariadb COMPOSE_DIR={compose} COMPOSE_PROJECT={project} APP_SRC={base}/app APP_DIR=/var/www/html bash -s -- {vol} {db} {domain}"
            ),
            &ex.join("install-source.sh"),
        );
        ok(
            "src",
            &format!(
                "cd {compose} && docker-compose -p {project} up -d >/dev/null 2>&1 && for i in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.2:{port}/ && exit 0; sleep 0.1; done; exit 1"
            ),
        );
        c
    }

    pub fn compose_dir(&self) -> String {
        format!("{}/compose", self.base)
    }

    /// Where the project's `html` volume lives on `host`.
    pub fn volume(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "docker volume inspect -f '{{{{.Mountpoint}}}}' {}_html",
                self.project
            ),
        )
        .trim()
        .to_string()
    }

    /// [`ROWS_SQL`] with the server's own client in the db container.
    pub fn rows(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "cd {} && docker-compose -p {} exec -T db mysql -N -B -D {} -e {}",
                self.compose_dir(),
                self.project,
                self.db,
                sq(ROWS_SQL)
            ),
        )
    }
}

impl Drop for NcMaria {
    fn drop(&mut self) {
        let script = format!(
            "cd {b}/compose 2>/dev/null && docker-compose -p {p} down -v -t 1 >/dev/null 2>&1; rm -rf {b}; true",
            b = self.base,
            p = self.project
        );
        for h in ["src", "dst"] {
            let _ = lab::sh(h, &script);
        }
    }
}
