//! Nextcloud found where a compose project or a Co-op Cloud stack runs it:
//! `migrate app plan nextcloud --from src --to dst --domain …` with no
//! layout flags names the project (or stack), its volume and database, and
//! the move (a migration file that names no layout either, only what
//! discovery cannot know: addresses, the stack's deploy command, the
//! stand-in's skipped waits) lands the files and rows on dst, checked there
//! with the servers' own tools.

use crate::support::cli::{Operator, stderr, stdout};
use crate::support::fixtures::workspace_root;
use crate::support::http;
use crate::support::lab::{self, Need, ok, put, sq};

/// The tests here look at whole servers: one at a time.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|p| p.into_inner())
}

const ROWS_SQL: &str = "SET SESSION group_concat_max_len = 10000000; \
    SELECT 'oc_users', count(*), md5(group_concat(concat_ws(',', uid, displayname, password) ORDER BY uid)) FROM oc_users; \
    SELECT 'oc_filecache', count(*), md5(group_concat(concat_ws(',', fileid, storage, path, size, mtime, etag) ORDER BY fileid)) FROM oc_filecache;";

fn tree(host: &str, dir: &str) -> String {
    ok(
        host,
        &format!(
            "cd {dir} && find . -printf '%P %y %s %m %U:%G\\n' | grep -v '^config/config.php ' | sort && find . -type f ! -path ./config/config.php -print0 | sort -z | xargs -0 sha256sum"
        ),
    )
}

fn volume(host: &str, name: &str) -> String {
    ok(
        host,
        &format!("docker volume inspect -f '{{{{.Mountpoint}}}}' {name}"),
    )
    .trim()
    .to_string()
}

fn plan(op: &Operator, domain: &str, port: u16) -> std::process::Output {
    op.migrate()
        .args([
            "app",
            "plan",
            "nextcloud",
            "--from",
            &lab::src_url(),
            "--to",
            &lab::dst_url(),
            "--domain",
            domain,
            "--src-http",
            &format!("127.0.0.2:{port}"),
            "--dst-http",
            &format!("127.0.0.3:{port}"),
        ])
        .output()
        .expect("plan")
}

/// The migration file: no root, compose project or stack on either side.
fn file(op: &Operator, domain: &str, base: &str, port: u16, dst_extra: &str) {
    let toml = format!(
        "app = \"nextcloud\"\ndomain = \"{domain}\"\nbackup_dir = \"{base}/backup\"\nskip_steps = [\"nextcloud-wait-for-sync-clients\", \"nextcloud-stop-web\"]\n\n[source]\nhost = \"{}\"\nhttp = \"127.0.0.2:{port}\"\n\n[destination]\nhost = \"{}\"\nhttp = \"127.0.0.3:{port}\"\n{dst_extra}",
        lab::src_url(),
        lab::dst_url(),
    );
    std::fs::write(&op.file, toml).expect("write migration file");
}

/// Nextcloud (MariaDB) as a compose project on src; the same project
/// directory, never started, on dst.
struct Compose {
    base: String,
    db: String,
    project: String,
    domain: String,
    port: u16,
}

impl Compose {
    fn new() -> Compose {
        let pid = std::process::id();
        let c = Compose {
            base: format!("/srv/disco-ncc-{pid}"),
            db: format!("disco_ncc_{pid}"),
            project: format!("discoc{pid}"),
            domain: format!("c{pid}.discovery.test"),
            port: lab::port(),
        };
        let ex = workspace_root().join("examples/lab-nextcloud");
        let read = |p: &str| std::fs::read(ex.join(p)).expect("example file");
        let (base, project, port) = (&c.base, &c.project, c.port);
        let compose = format!("{base}/compose");
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
        let vol = volume("src", &format!("{project}_html"));
        lab::install(
            "src",
            &format!(
                "DB_ENGINE=mariadb COMPOSE_DIR={compose} COMPOSE_PROJECT={project} APP_SRC={base}/app APP_DIR=/var/www/html bash -s -- {vol} {} {}",
                c.db, c.domain
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

    fn rows(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "cd {}/compose && docker-compose -p {} exec -T db mysql -N -B -D {} -e {}",
                self.base,
                self.project,
                self.db,
                sq(ROWS_SQL)
            ),
        )
    }
}

impl Drop for Compose {
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

#[test]
fn a_compose_project_is_found_planned_and_moved_without_layout_flags() {
    let _lab = lab::enter(module_path!(), Need::Docker);
    let _alone = alone();
    let c = Compose::new();
    let op = Operator::new();
    let vol = volume("src", &format!("{}_html", c.project));
    let (src_tree, src_rows) = (tree("src", &vol), c.rows("src"));
    assert!(src_rows.contains("oc_users\t3\t"), "{src_rows}");

    let o = plan(&op, &c.domain, c.port);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "Found nextcloud on {}: {vol} (compose project in {}/compose), domain {}, mysql database {}",
            lab::src_url(),
            c.base,
            c.domain,
            c.db
        )),
        "{err}"
    );
    assert!(
        err.contains("stop/start: the compose project's services"),
        "{err}"
    );
    // The plan acts in the project's containers on both sides.
    assert!(out.contains(&format!("{}_html", c.project)), "{out}");
    assert!(out.contains(&c.db), "{out}");

    file(&op, &c.domain, &c.base, c.port, "");
    let o = op.app(&[]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(
        tree("dst", &volume("dst", &format!("{}_html", c.project))),
        src_tree,
        "the files in dst's volume"
    );
    assert_eq!(c.rows("dst"), src_rows, "the rows in dst's db container");
    let (code, body) = http::get("127.0.0.3", c.port, &c.domain, "/status.php");
    assert_eq!(code, 200, "{body}");
}

/// Nextcloud (MariaDB) as a Co-op Cloud stack on src, deployed as abra
/// does (an external versioned secret); dst's swarm has the stack file.
struct Stack {
    name: String,
    base: String,
    db: String,
    domain: String,
    port: u16,
    joined: Vec<&'static str>,
}

impl Stack {
    fn new() -> Stack {
        let pid = std::process::id();
        let mut st = Stack {
            name: format!("discos{pid}"),
            base: format!("/srv/disco-stack-{pid}"),
            db: format!("discos{pid}"),
            domain: format!("s{pid}.discovery.test"),
            port: lab::port(),
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
        let dir = format!("{}/stack", st.base);
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
            &format!("{}/app", st.base),
            &[
                ("status.py", &read("app/status.py"), "755"),
                ("occ", &read("app/occ"), "755"),
            ],
        );
        let password = format!("pw-{pid}-disco");
        ok(
            "src",
            &format!(
                "printf %s {password} | docker secret create {s}_db_password_v1 - >/dev/null && {deploy}",
                s = st.name,
                deploy = st.deploy("127.0.0.2")
            ),
        );
        let vol = ok(
            "src",
            &format!(
                "for i in $(seq 120); do docker volume inspect {s}_html >/dev/null 2>&1 && break; sleep 0.5; done; docker volume inspect -f '{{{{.Mountpoint}}}}' {s}_html",
                s = st.name
            ),
        )
        .trim()
        .to_string();
        lab::install(
            "src",
            &format!(
                "STACK={s} DB_ENGINE=mariadb DB_PASSWORD={password} APP_SRC={b}/app APP_DIR=/var/www/html bash -s -- {vol} {db} {d}",
                s = st.name,
                b = st.base,
                db = st.db,
                d = st.domain
            ),
            &ex.join("install-source.sh"),
        );
        // Discovery reads running containers: wait for the app's.
        ok(
            "src",
            &format!(
                "for i in $(seq 1 240); do curl -s -o /dev/null -H 'Host: {d}' http://127.0.0.2:{p}/status.php && exit 0; sleep 0.5; done; exit 1",
                d = st.domain,
                p = st.port
            ),
        );
        st
    }

    fn deploy(&self, addr: &str) -> String {
        format!(
            "cd {b}/stack && STACK_NAME={s} STACK_DIR={b}/stack NC_DB={db} NC_DB_USER=nc_{db} NC_LISTEN={addr}:{p} docker stack deploy -c compose.yml {s} >/dev/null",
            b = self.base,
            s = self.name,
            db = self.db,
            p = self.port
        )
    }

    fn rows(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "docker exec $(docker ps -q -f label=com.docker.swarm.service.name={}_db | head -n 1) mysql -N -B -D {} -e {}",
                self.name,
                self.db,
                sq(ROWS_SQL)
            ),
        )
    }
}

impl Drop for Stack {
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

#[test]
fn a_co_op_cloud_stack_is_found_planned_and_moved_without_layout_flags() {
    let _lab = lab::enter(module_path!(), Need::Docker);
    let _alone = alone();
    let st = Stack::new();
    let op = Operator::new();
    let vol = volume("src", &format!("{}_html", st.name));
    let (src_tree, src_rows) = (tree("src", &vol), st.rows("src"));
    assert!(src_rows.contains("oc_users\t3\t"), "{src_rows}");

    let o = plan(&op, &st.domain, st.port);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "Found nextcloud on {}: {vol} (Co-op Cloud stack {}), domain {}, mysql database {}",
            lab::src_url(),
            st.name,
            st.domain,
            st.db
        )),
        "{err}"
    );
    assert!(out.contains("Carry the swarm secrets of stack"), "{out}");
    // How the destination's stack is deployed cannot be found on the
    // source: without a deploy command it is a person's step.
    assert!(out.contains("Deploy stack"), "{out}");
    assert!(out.contains("by hand"), "{out}");

    file(
        &op,
        &st.domain,
        &st.base,
        st.port,
        &format!("deploy = {:?}\n", st.deploy("127.0.0.3")),
    );
    let o = op.app(&[]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(
        tree("dst", &volume("dst", &format!("{}_html", st.name))),
        src_tree,
        "the files in dst's volume"
    );
    assert_eq!(st.rows("dst"), src_rows, "the rows in dst's db container");
}
