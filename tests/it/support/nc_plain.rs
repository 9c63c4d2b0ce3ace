//! The lab's Nextcloud stand-in installed plainly on src at a path of the
//! test's own (`/var/www/...`, where discovery looks), answering on a port
//! of its own, and the migration file that names no root and no database
//! (discovery supplies them). Removed (files, databases, process) from both
//! servers on drop. Also the `php` shim the stand-in's occ needs on PATH.

use super::cli::Operator;
use super::fixtures::workspace_root;
use super::lab::{self, ok};

pub struct PlainNc {
    pub base: String,
    pub root: String,
    pub db: String,
    pub domain: String,
    pub port: u16,
}

impl PlainNc {
    pub fn install(base: &str, db: &str, domain: &str) -> PlainNc {
        let root = format!("{base}/nextcloud");
        let ex = workspace_root().join("examples/lab-nextcloud");
        lab::put_tree(&["src", "dst"], &ex, &["app"], base, "true");
        lab::install(
            "src",
            &format!("bash -s -- {root} {db} {domain}"),
            &ex.join("install-source.sh"),
        );
        let i = PlainNc {
            base: base.to_string(),
            root,
            db: db.to_string(),
            domain: domain.to_string(),
            port: lab::port(),
        };
        ok("src", &i.start_cmd("127.0.0.2"));
        i
    }

    /// Starts the stand-in's web front on the server owning `addr`.
    pub fn start_cmd(&self, addr: &str) -> String {
        let (b, r, p) = (&self.base, &self.root, self.port);
        format!(
            "cd {r} && (python3 status.py {addr}:{p} >> {b}/app.log 2>&1 < /dev/null & echo $! > {b}/app.pid) && for i in $(seq 1 100); do curl -s -o /dev/null http://{addr}:{p}/ && exit 0; sleep 0.1; done; exit 1"
        )
    }

    /// What the layout cannot tell (addresses, how the stand-in web front
    /// stops and starts, the 7-minute wait for sync clients left out):
    /// the file names no root and no database, discovery supplies them.
    pub fn file(&self, op: &Operator) {
        let toml = format!(
            r#"app = "nextcloud"
domain = "{domain}"
backup_dir = "{base}/backup"
skip_steps = ["nextcloud-wait-for-sync-clients", "nextcloud-stop-web"]

[source]
host = "{src}"
http = "127.0.0.2:{port}"
stop = "kill $(cat {base}/app.pid) && rm -f {base}/app.pid"
start = {start_src:?}

[destination]
host = "{dst}"
http = "127.0.0.3:{port}"
start = {start_dst:?}
"#,
            domain = self.domain,
            base = self.base,
            port = self.port,
            src = lab::src_url(),
            dst = lab::dst_url(),
            start_src = self.start_cmd("127.0.0.2"),
            start_dst = self.start_cmd("127.0.0.3"),
        );
        std::fs::write(&op.file, toml).expect("write migration file");
    }

    /// Per table: row count and a digest of every row, on `host`.
    pub fn rows(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "cd / && for t in oc_users oc_filecache oc_appconfig; do printf '%s ' $t; runuser -u postgres -- psql -X -Atqd {} -c \"select count(*), md5(string_agg(t::text, ',' order by t::text)) from $t t\"; done",
                self.db
            ),
        )
    }

    /// Every file's sha256 (config.php left out: the move edits it).
    pub fn tree(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "cd {} && find . -type f ! -path ./config/config.php -print0 | sort -z | xargs -0 sha256sum",
                self.root
            ),
        )
    }
}

impl Drop for PlainNc {
    fn drop(&mut self) {
        let script = format!(
            "test -f {b}/app.pid && kill $(cat {b}/app.pid) 2>/dev/null; rm -rf {b} {b}.before-* {r}.before-*; cd / && runuser -u postgres -- psql -X -q -c 'DROP DATABASE IF EXISTS \"{d}\"' -c 'DROP DATABASE IF EXISTS \"{d}_before_migrate\"' -c 'DROP ROLE IF EXISTS \"nc_{d}\"' >/dev/null 2>&1; rmdir /var/www 2>/dev/null; true",
            b = self.base,
            r = self.root,
            d = self.db
        );
        for h in ["src", "dst"] {
            let _ = lab::sh(h, &script);
        }
    }
}

/// A `php` on both servers' PATH for the stand-in's occ (python behind
/// it), when the server has none; removed afterwards only if it was put
/// there, which `marker` (a file name in /usr/local/bin) records.
pub struct PhpShim {
    marker: &'static str,
}

impl PhpShim {
    pub fn install(marker: &'static str) -> PhpShim {
        for h in ["src", "dst"] {
            ok(
                h,
                &format!(
                    "test -e /usr/local/bin/php || {{ printf '#!/bin/sh\\nexec python3 \"$@\"\\n' > /usr/local/bin/php && chmod 755 /usr/local/bin/php && touch /usr/local/bin/{marker}; }}"
                ),
            );
        }
        PhpShim { marker }
    }
}

impl Drop for PhpShim {
    fn drop(&mut self) {
        for h in ["src", "dst"] {
            let _ = lab::sh(
                h,
                &format!(
                    "test -e /usr/local/bin/{m} && rm -f /usr/local/bin/php /usr/local/bin/{m}; true",
                    m = self.marker
                ),
            );
        }
    }
}
