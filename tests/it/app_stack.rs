//! `migrate app` between Co-op Cloud apps in the two-server lab: Nextcloud
//! (MariaDB) as a docker swarm stack on src, the way abra deploys it (an
//! external, versioned `db_password` secret the app and the database read,
//! volumes `<stack>_<volume>`), moved to the same stack on dst, which
//! migrate deploys once the secret is carried over. Each server's dockerd
//! becomes a swarm manager for the test (and leaves the swarm after, if it
//! was not one before).

use std::ops::Deref;
use std::process::Output;

use crate::support::cli::{Operator, stderr, stdout};
use crate::support::http;
use crate::support::lab::{self, Need, keys, ok};
use crate::support::nc_maria::ROWS_SQL;
use crate::support::nc_stack::NcStack;

const DOMAIN: &str = "cloud.example.test";

/// The stack on src and the migration file moving it to the same stack on
/// dst, which migrate deploys once the secret is carried over.
struct Stack {
    nc: NcStack,
    op: Operator,
}

impl Deref for Stack {
    type Target = NcStack;
    fn deref(&self) -> &NcStack {
        &self.nc
    }
}

impl Stack {
    fn new() -> Stack {
        let pid = std::process::id();
        let st = Stack {
            nc: NcStack::install(
                &format!("mtstk{pid}"),
                &format!("/srv/test-app-stack-{pid}"),
                &format!("ncs{pid}"),
                DOMAIN,
            ),
            op: Operator::new(),
        };
        let side = |host: &str, addr: &str, extra: &str| {
            format!(
                "host = \"{host}\"\nstack = \"{s}\"\nvolume = \"html\"\nhttp = \"{addr}:{p}\"\ndatabases = {{ nextcloud = \"{db}\" }}\n{extra}",
                s = st.name,
                p = st.port,
                db = st.db
            )
        };
        let toml = format!(
            "app = \"nextcloud\"\ndomain = \"{DOMAIN}\"\nbackup_dir = \"{b}/backup\"\nskip_steps = [\"nextcloud-wait-for-sync-clients\", \"nextcloud-stop-web\"]\n\n[source]\n{}\n[destination]\n{}",
            side(&lab::src_url(), "127.0.0.2", ""),
            side(
                &lab::dst_url(),
                "127.0.0.3",
                &format!("deploy = {:?}\n", st.deploy("127.0.0.3"))
            ),
            b = st.base,
        );
        std::fs::write(&st.op.file, toml).expect("write migration file");
        st
    }

    fn migrate(&self) -> std::process::Command {
        self.op.migrate()
    }

    fn app(&self) -> Output {
        self.op.app(&[])
    }

    fn volume(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "docker volume inspect -f '{{{{.Mountpoint}}}}' {}_html",
                self.name
            ),
        )
        .trim()
        .to_string()
    }

    fn tree(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "cd {} && find . -printf '%P %y %s %T@ %m %U:%G\\n' | grep -v '^config/config.php ' | sort && find . -type f ! -path ./config/config.php -print0 | sort -z | xargs -0 sha256sum",
                self.volume(host)
            ),
        )
    }

    /// Row counts and digests, read in the stack's db container.
    fn rows(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "docker exec $(docker ps -q -f label=com.docker.swarm.service.name={}_db | head -n 1) mysql -N -B -D {} -e {}",
                self.name,
                self.db,
                lab::sq(ROWS_SQL)
            ),
        )
    }

    fn replicas(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "docker service ls --filter label=com.docker.stack.namespace={} --format '{{{{.Name}}}} {{{{.Replicas}}}}' | sort | tr '\\n' ' '",
                self.name
            ),
        )
        .replace(&format!("{}_", self.name), "")
    }
}

#[test]
fn nextcloud_moves_between_co_op_cloud_stacks_with_its_secret() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let st = Stack::new();
    let keys_before = (keys("src"), keys("dst"));
    let src_tree = st.tree("src");
    let src_rows = st.rows("src");
    assert!(src_rows.contains("oc_users\t3\t"), "{src_rows}");
    assert_eq!(
        http::get("127.0.0.2", st.port, DOMAIN, "/status.php").0,
        200
    );

    let o = st
        .migrate()
        .args(["plan", "--file"])
        .arg(&st.op.file)
        .output()
        .expect("plan");
    let plan = stdout(&o);
    assert!(o.status.success(), "{plan}{}", stderr(&o));
    assert!(
        plan.contains("Carry the swarm secrets of stack") && plan.contains("Deploy stack"),
        "{plan}"
    );
    // The running version is the recipe's, read from the label abra puts on
    // the stack's app service, named after the stack (which the plugin has
    // from the context), before status.php is asked.
    let label = ok(
        "src",
        &format!(
            "docker service inspect -f '{{{{index .Spec.Labels \"coop-cloud.{s}.version\"}}}}' {s}_app",
            s = st.name
        ),
    );
    assert_eq!(label.trim(), "5.0.0+28.0.4");
    let o = st
        .migrate()
        .args(["plan", "--json", "--file"])
        .arg(&st.op.file)
        .output()
        .expect("plan --json");
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("plan json");
    assert_eq!(
        v["result"]["facts"]["detected_by"], "probe coop-cloud-label read \"5.0.0+28.0.4\"",
        "the version was not read from the stack's label: {}",
        v["result"]["facts"]
    );

    // Killed in the window, then aborted: the source's app services come
    // back at their replica counts and it answers again, out of
    // maintenance mode; the destination keeps what it got.
    st.op.kill_at("final-sync");
    let o = st
        .migrate()
        .args(["abort", "--file"])
        .arg(&st.op.file)
        .output()
        .expect("abort");
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        st.replicas("src").trim(),
        "app 1/1 cache 1/1 cron 1/1 db 1/1",
        "src after abort"
    );
    ok(
        "src",
        &format!(
            "for i in $(seq 1 240); do curl -s -o /dev/null -H 'Host: {DOMAIN}' http://127.0.0.2:{p}/status.php && exit 0; sleep 0.5; done; exit 1",
            p = st.port
        ),
    );
    let (code, body) = http::get("127.0.0.2", st.port, DOMAIN, "/status.php");
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("json")["maintenance"],
        false
    );
    assert_eq!(st.tree("src"), src_tree, "the abort changed the source");
    // Starting over: the aborted journal moved away, the same migration.
    let dir = st.op.journal();
    let dir = dir.parent().expect("journal dir");
    std::fs::rename(dir, st.op.home.path().join("aborted-migration")).expect("move journal");

    // Killed while loading the database, then run again to the end.
    st.op.kill_at("database-nextcloud");
    let o = st.app();
    let report = stdout(&o);
    assert!(
        o.status.success(),
        "{report}{}\n{}",
        stderr(&o),
        st.op.journal_text()
    );

    // The secret arrived under its versioned name; files and rows are
    // identical; the app on dst logs in to its database with that secret.
    ok(
        "dst",
        &format!(
            "docker secret inspect {}_db_password_v1 >/dev/null",
            st.name
        ),
    );
    assert_eq!(st.tree("dst"), src_tree);
    assert_eq!(st.rows("dst"), src_rows);
    let (code, body) = http::get("127.0.0.3", st.port, DOMAIN, "/status.php");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["maintenance"], false);
    // The source's app services are at zero replicas, its database runs;
    // the destination runs everything.
    assert_eq!(
        st.replicas("src").trim(),
        "app 0/0 cache 0/0 cron 0/0 db 1/1",
        "src"
    );
    assert_eq!(
        st.replicas("dst").trim(),
        "app 1/1 cache 1/1 cron 1/1 db 1/1",
        "dst"
    );
    assert!(report.contains("VERDICT: PASS"), "{report}");
    let journal = std::fs::read_to_string(st.op.journal()).expect("journal");
    assert!(
        !journal.contains(&st.password),
        "the secret's value reached the journal"
    );
    assert!(
        !report.contains(&st.password),
        "the secret's value reached the report"
    );
    assert_eq!((keys("src"), keys("dst")), keys_before);
}
