//! Nextcloud found where a compose project or a Co-op Cloud stack runs it:
//! `migrate app plan nextcloud --from src --to dst --domain …` with no
//! layout flags names the project (or stack), its volume and database, and
//! the move (a migration file that names no layout either, only what
//! discovery cannot know: addresses, the stack's deploy command, the
//! stand-in's skipped waits) lands the files and rows on dst, checked there
//! with the servers' own tools.

use std::ops::Deref;

use crate::support::cli::{Operator, stderr, stdout};
use crate::support::http;
use crate::support::lab::{self, Need, ok, sq};
use crate::support::nc_maria::{NcMaria, ROWS_SQL};
use crate::support::nc_stack::NcStack;

/// The tests here look at whole servers: one at a time.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|p| p.into_inner())
}

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
type Compose = NcMaria;

fn compose() -> Compose {
    let pid = std::process::id();
    NcMaria::install(
        &format!("/srv/disco-ncc-{pid}"),
        &format!("disco_ncc_{pid}"),
        &format!("discoc{pid}"),
        &format!("c{pid}.discovery.test"),
    )
}

#[test]
fn a_compose_project_is_found_planned_and_moved_without_layout_flags() {
    let _lab = lab::enter(module_path!(), Need::Docker);
    let _alone = alone();
    let c = compose();
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
struct Stack(NcStack);

impl Deref for Stack {
    type Target = NcStack;
    fn deref(&self) -> &NcStack {
        &self.0
    }
}

impl Stack {
    fn new() -> Stack {
        let pid = std::process::id();
        Stack(NcStack::install(
            &format!("discos{pid}"),
            &format!("/srv/disco-stack-{pid}"),
            &format!("discos{pid}"),
            &format!("s{pid}.discovery.test"),
        ))
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
