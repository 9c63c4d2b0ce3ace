//! The lab's Nextcloud stand-in (MariaDB) as a Co-op Cloud app on src: a
//! docker swarm stack deployed as abra does (examples/lab-nextcloud/stack,
//! an external versioned `db_password` secret, volumes `<stack>_<volume>`),
//! the app's files and database installed in it and answering; dst's swarm
//! has the stack file. Each server's dockerd becomes a swarm manager for
//! the test and leaves the swarm after, if it was not one before; the
//! stack, its secret, volumes and files are removed on drop.

use super::fixtures::workspace_root;
use super::lab::{self, ok, put};

pub struct NcStack {
    pub name: String,
    pub base: String,
    pub db: String,
    pub domain: String,
    pub port: u16,
    /// The `db_password` secret's value (never to be seen in any output).
    pub password: String,
    joined: Vec<&'static str>,
}

impl NcStack {
    /// `name` is the stack (and names the secret and volumes), `base` the
    /// test's directory on both servers.
    pub fn install(name: &str, base: &str, db: &str, domain: &str) -> NcStack {
        let mut st = NcStack {
            name: name.to_string(),
            base: base.to_string(),
            db: db.to_string(),
            domain: domain.to_string(),
            port: lab::port(),
            password: format!("pw-{}-secret", std::process::id()),
            joined: vec![],
        };
        for (h, addr) in [("src", "127.0.0.2"), ("dst", "127.0.0.3")] {
            let state = ok(h, "docker info -f '{{.Swarm.LocalNodeState}}'");
            if state.trim() != "active" {
                ok(
                    h,
                    &format!(
                        "docker swarm init --advertise-addr {addr} --listen-addr {addr}:2377 >/dev/null"
                    ),
                );
                st.joined.push(h);
            }
        }
        let ex = workspace_root().join("examples/lab-nextcloud");
        let read = |p: &str| std::fs::read(ex.join(p)).expect("example file");
        let dir = format!("{base}/stack");
        for h in ["src", "dst"] {
            put(
                h,
                &dir,
                &[
                    ("compose.yml", &read("stack/compose.yml"), "644"),
                    ("php", &read("php"), "755"),
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
        // The source: abra's secret, the deployed stack, then the app's
        // files and database in it.
        let password = st.password.clone();
        ok(
            "src",
            &format!(
                "printf %s {password} | docker secret create {name}_db_password_v1 - >/dev/null && {deploy}",
                deploy = st.deploy("127.0.0.2")
            ),
        );
        let vol = ok(
            "src",
            &format!(
                "for i in $(seq 120); do docker volume inspect {name}_html >/dev/null 2>&1 && break; sleep 0.5; done; docker volume inspect -f '{{{{.Mountpoint}}}}' {name}_html"
            ),
        )
        .trim()
        .to_string();
        lab::install(
            "src",
            &format!(
                "STACK={name} DB_ENGINE=mariadb DB_PASSWORD={password} APP_SRC={base}/app APP_DIR=/var/www/html bash -s -- {vol} {db} {domain}"
            ),
            &ex.join("install-source.sh"),
        );
        ok(
            "src",
            &format!(
                "for i in $(seq 1 240); do curl -s -o /dev/null -H 'Host: {domain}' http://127.0.0.2:{p}/status.php && exit 0; sleep 0.5; done; exit 1",
                p = st.port
            ),
        );
        st
    }

    /// What abra would run: the stack file with the app's settings, web
    /// listening on `addr`.
    pub fn deploy(&self, addr: &str) -> String {
        format!(
            "cd {b}/stack && STACK_NAME={s} STACK_DIR={b}/stack NC_DB={db} NC_DB_USER=nc_{db} NC_LISTEN={addr}:{p} docker stack deploy -c compose.yml {s} >/dev/null",
            b = self.base,
            s = self.name,
            db = self.db,
            p = self.port
        )
    }
}

impl Drop for NcStack {
    fn drop(&mut self) {
        let s = &self.name;
        for h in ["src", "dst"] {
            let _ = lab::sh(
                h,
                &format!(
                    "docker stack rm {s} >/dev/null 2>&1; for i in $(seq 60); do [ -z \"$(docker ps -aq -f label=com.docker.stack.namespace={s})\" ] && break; sleep 0.5; done; \
                     docker secret rm {s}_db_password_v1 >/dev/null 2>&1; docker volume rm {s}_db {s}_html {s}_mysqlrun >/dev/null 2>&1; rm -rf {b}; true",
                    b = self.base
                ),
            );
        }
        for h in &self.joined {
            let _ = lab::sh(h, "docker swarm leave --force >/dev/null 2>&1; true");
        }
    }
}
