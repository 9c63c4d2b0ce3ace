//! The rendered SQL against real servers: the lab's source server (`ssh
//! src`), its PostgreSQL on the host and a MariaDB in a container started
//! here. Hostile names must round-trip through `sql::literal` and
//! `sql::ident`, and row counts must be exact for tables named like that.
//! Fails when the lab is not reachable; run it under the
//! lab lock: `flock /tmp/migrate-lab.lock cargo test -p migrate-db --test real_servers`.

use std::collections::BTreeMap;

use migrate_db::client::Ownership;
use migrate_db::runner::sh;
use migrate_db::sql::{ident, literal};
use migrate_db::statements;
use migrate_db::transfer::{Side, exists, query, row_counts};
use migrate_db::{Client, DbName, Engine, Place};
use migrate_remote::{Host, HostSpec, sh_quote};

/// Names a careless or hostile user could give a database or a table.
const HOSTILE: &[&str] = &[
    "o'k",
    "a\"b",
    "back`tick",
    "back\\slash",
    "trail\\",
    "\\'; DROP DATABASE x; --",
    "dollar$$quote",
    "new\nline",
    "semi;colon|pipe\ttab",
    "ünïcødé 名前",
    "-dash",
    "%_wild",
];

/// The lab's database image, made from the server's own rootfs (which has
/// MariaDB) when it is not there yet, as the docker lab tests make it.
const IMAGE: &str = "docker image inspect mt-lab/db:1 >/dev/null 2>&1 || (cd / && tar -c --exclude=usr/sbin/dockerd --exclude='usr/bin/containerd*' --exclude='usr/bin/docker*' --exclude=etc/ssh --exclude=usr/share/doc --exclude=usr/share/man --exclude=usr/share/locale bin sbin lib lib64 usr etc var/lib/dpkg 2>/dev/null | docker import -c 'LABEL org.opencontainers.image.version=lab-1' - mt-lab/db:1 >/dev/null)";

/// A MariaDB server in a container of the lab's database image.
const MARIADB: &str = "mkdir -p /tmp /var/run && chmod 1777 /tmp && mkdir -p /run/mysqld /data && chown mysql:mysql /run/mysqld /data && mariadb-install-db --user=mysql --datadir=/data --skip-test-db >/dev/null 2>&1 && exec mariadbd --user=mysql --datadir=/data --skip-networking --socket=/run/mysqld/mysqld.sock";

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The lab's src server; a test that needs it fails without it, unless the
/// person running the tests set `MIGRATE_TESTS_WITHOUT_LAB=1`: then it is
/// skipped, and says so on stderr (past libtest's capture) in the line
/// `scripts/test` counts.
async fn lab() -> Option<Host> {
    use std::io::Write;
    let spec = HostSpec::parse("src").expect("the lab's host alias");
    match Host::connect(&spec).await {
        Ok(h) => Some(h),
        Err(e) if std::env::var("MIGRATE_TESTS_WITHOUT_LAB").as_deref() == Ok("1") => {
            let name = std::thread::current()
                .name()
                .unwrap_or("unnamed")
                .to_string();
            let line = format!(
                "\nmigrate-test-skipped: {name} (the lab's src server is not reachable: {e})\n"
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
        Err(e) => panic!(
            "the lab's src server is not reachable ({e}); start it with scripts/services \
             (to skip the tests that need it instead, set MIGRATE_TESTS_WITHOUT_LAB=1)"
        ),
    }
}

/// Every hostile string comes back byte for byte from a `select` of its
/// literal, compared as hex so the client's output format plays no part.
async fn literals_round_trip(side: &Side<'_, Host>) {
    let e = side.client.engine;
    for s in HOSTILE.iter().chain(&[""]) {
        let sql = match e {
            Engine::Postgresql => format!(
                "select encode(convert_to({}, 'UTF8'), 'hex')",
                literal(e, s)
            ),
            Engine::Mariadb => format!("select lower(hex({}))", literal(e, s)),
        };
        let out = query(side, "a literal", None, &sql).await.unwrap();
        assert_eq!(out.trim(), hex(s), "{e}: {s:?}");
    }
}

/// A hostile database holding hostile tables: exists, row counts exact, gone.
async fn hostile_database(side: &Side<'_, Host>, name: &str) {
    let e = side.client.engine;
    let db = DbName::new(e, name).unwrap();
    let _ = query(side, "dropping", None, &statements::drop_if_exists(e, name)).await;
    assert!(!exists(side, &db).await.unwrap());
    query(
        side,
        "creating",
        None,
        &statements::create(e, name, None, None),
    )
    .await
    .unwrap();
    assert!(exists(side, &db).await.unwrap(), "{e}: {name:?} exists");
    let mut want = BTreeMap::new();
    let mut ddl = String::new();
    for (i, t) in HOSTILE.iter().enumerate() {
        let (table, key) = match e {
            Engine::Postgresql => (format!("public.{}", ident(e, t)), format!("public.{t}")),
            Engine::Mariadb => (ident(e, t), t.to_string()),
        };
        ddl.push_str(&format!("create table {table} (v varchar(100));\n"));
        for _ in 0..i {
            ddl.push_str(&format!(
                "insert into {table} values ({});\n",
                literal(e, t)
            ));
        }
        want.insert(key, i as u64);
    }
    query(side, "filling", Some(name), &ddl).await.unwrap();
    assert_eq!(row_counts(side, &db).await.unwrap(), want, "{e}: {name:?}");
    // The dump of such a database is readable by the server's own client.
    let dump = sh(
        side.runner,
        "dumping",
        &format!("{} | wc -c", side.client.dump(name, Ownership::Drop)),
        None,
    )
    .await
    .unwrap();
    assert!(
        dump.trim().parse::<u64>().unwrap() > 1000,
        "{e}: dump {dump}"
    );
    // Moved aside as a migration does with --force (PostgreSQL only): the
    // rename takes the hostile name and makes the aside one.
    let name = if e == Engine::Postgresql {
        let aside = format!("{name}_before_migrate");
        query(side, "renaming", None, &statements::pg_rename(name, &aside))
            .await
            .unwrap();
        assert!(!exists(side, &db).await.unwrap(), "{name:?} renamed");
        assert!(
            exists(side, &DbName::new(e, &aside).unwrap())
                .await
                .unwrap(),
            "{aside:?} exists"
        );
        aside
    } else {
        name.to_string()
    };
    let db = DbName::new(e, &name).unwrap();
    query(side, "dropping", None, &statements::drop(e, &name))
        .await
        .unwrap();
    assert!(!exists(side, &db).await.unwrap());
}

#[test]
fn postgres_on_the_host_takes_hostile_names() {
    rt().block_on(async {
        let Some(h) = lab().await else { return };
        let side = Side {
            runner: &h,
            client: Client::new(Engine::Postgresql, Place::Host),
            label: "src (host)".into(),
        };
        literals_round_trip(&side).await;
        hostile_database(&side, &format!("mt db'\"`$$;\n名{}", std::process::id())).await;
    });
}

#[test]
fn mariadb_in_a_container_takes_hostile_names() {
    rt().block_on(async {
        let Some(h) = lab().await else { return };
        let name = format!("mt-dbcrate-{}", std::process::id());
        let start = format!(
            "{IMAGE}; docker rm -f {name} >/dev/null 2>&1; docker run -d --name {name} --network none mt-lab/db:1 sh -c {} >/dev/null",
            sh_quote(MARIADB)
        );
        let out = h.sh_raw("starting mariadb", &start, None).await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let side = Side {
            runner: &h,
            client: Client::new(Engine::Mariadb, Place::Container(name.clone())),
            label: format!("src container {name}"),
        };
        let wait = format!("sh -c {}", sh_quote(&side.client.wait_ready()));
        let ready = sh(&h, "waiting for mariadb", &wait, None).await;
        // Removed even when an assertion fails.
        let _gone = Removal(name.clone());
        ready.unwrap();
        literals_round_trip(&side).await;
        hostile_database(&side, "mt db'\"`$$;\n名\\").await;
    });
}

struct Removal(String);

impl Drop for Removal {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ssh")
            .args(["src", &format!("docker rm -f {} >/dev/null 2>&1", self.0)])
            .status();
    }
}
