//! `migrate docker …` and `migrate volume …` against the real two-server lab:
//! each server runs its own dockerd (lab/up.sh). Images come from
//! `docker import` (lab/busybox, and `mt-lab/db:1` made here from the
//! server's own rootfs, which has PostgreSQL 15 and MariaDB 10.11).
//! Results are checked with the servers' own tools (find, sha256sum, psql,
//! mariadb, docker CLI), never through migrate's own verification.
//!
//! All tests share one lock: the docker-root move stops both daemons.
//! Everything created is named mt-* (and /srv/test-docker-*) and removed.
//! Without the lab these tests fail.

use std::process::Output;
use std::sync::Mutex;

use crate::support::cli::{migrate, run, stderr, stdout};
use crate::support::lab::{self, Cleanup, Need, ok as on, sq};

static LOCK: Mutex<()> = Mutex::new(());

/// Runs a closure when dropped, so a failed assertion still cleans up.
struct OnDrop<F: Fn()>(F);

impl<F: Fn()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Undoes a docker-root relocation on dst when dropped: stop docker,
/// unmount the bind mount, start docker on its original root, delete the copy.
struct Unrelocate(String);

impl Unrelocate {
    fn undo(&self) {
        let dir = &self.0;
        let bound = || {
            String::from_utf8_lossy(&lab::sh("dst", "findmnt -n -o SOURCE /var/lib/docker").stdout)
                .contains(dir.as_str())
        };
        if bound() {
            let _ = run(migrate(tmp_home().path()).args(["docker", "daemon", "stop", "dst"]));
            for _ in 0..3 {
                if bound() {
                    let _ = lab::sh("dst", "umount /var/lib/docker");
                }
            }
            let _ = run(migrate(tmp_home().path()).args(["docker", "daemon", "start", "dst"]));
        }
        let _ = lab::sh("dst", &format!("rm -rf {dir} {dir}-full"));
    }
}

impl Drop for Unrelocate {
    fn drop(&mut self) {
        self.undo();
    }
}

fn tmp_home() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn mig(args: &[&str]) -> Output {
    let home = tmp_home();
    let o = run(migrate(home.path()).args(args));
    eprintln!(
        "migrate {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        stdout(&o),
        stderr(&o)
    );
    o
}

fn uniq(name: &str) -> String {
    format!("mt-{name}-{}", std::process::id())
}

/// Path list with owners, modes, types, sizes, link targets and sha256 of
/// every entry under a volume, made on the server itself.
fn tree(host: &str, volume: &str) -> String {
    on(
        host,
        &format!(
            r#"set -e; mp=$(docker volume inspect -f '{{{{.Mountpoint}}}}' {volume}); cd "$mp"
find . -mindepth 1 -printf '%P|%U:%G|%m|%y|%s|%l|%n\n' | LC_ALL=C sort
find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum"#
        ),
    )
}

const PG_SCRIPT: &str = "mkdir -p /tmp /var/run && chmod 1777 /tmp
mkdir -p /run/postgresql && chown postgres:postgres /run/postgresql /data && chmod 700 /data
[ -s /data/PG_VERSION ] || runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D /data -A trust -U postgres >/dev/null
exec runuser -u postgres -- /usr/lib/postgresql/15/bin/postgres -D /data -c listen_addresses= -k /run/postgresql";

const MY_SCRIPT: &str = "mkdir -p /tmp /var/run && chmod 1777 /tmp
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld /data
[ -d /data/mysql ] || mariadb-install-db --user=mysql --datadir=/data --skip-test-db >/dev/null 2>&1
exec mariadbd --user=mysql --datadir=/data --skip-networking --socket=/run/mysqld/mysqld.sock";

/// The database image, imported from the server's own rootfs (no registry).
fn ensure_db_image(host: &str) {
    on(
        host,
        "docker image inspect mt-lab/db:1 >/dev/null 2>&1 || (cd / && tar -c --exclude=usr/sbin/dockerd --exclude='usr/bin/containerd*' \
         --exclude='usr/bin/docker*' --exclude=etc/ssh --exclude=usr/share/doc --exclude=usr/share/man --exclude=usr/share/locale \
         bin sbin lib lib64 usr etc var/lib/dpkg 2>/dev/null | docker import -c 'LABEL org.opencontainers.image.version=lab-1' - mt-lab/db:1 >/dev/null)",
    );
}

/// Start a database container with compose-style labels and wait until healthy.
fn db_container(host: &str, name: &str, engine: &str, project: &str) {
    ensure_db_image(host);
    let (script, health, env) = match engine {
        "postgres" => (
            PG_SCRIPT,
            "pg_isready -U postgres",
            "-e PGHOST=/run/postgresql -e PGPORT=5432",
        ),
        _ => (MY_SCRIPT, "mariadb-admin ping", ""),
    };
    on(
        host,
        &format!(
            "docker run -d --name {name} --network host {env} -v {name}-data:/data \
             --label com.docker.compose.project={project} --label com.docker.compose.service=db \
             --health-cmd {h} --health-interval 1s mt-lab/db:1 sh -c {s} >/dev/null
             for i in $(seq 120); do [ \"$(docker inspect -f '{{{{.State.Health.Status}}}}' {name})\" = healthy ] && exit 0; sleep 0.5; done
             docker logs {name} >&2; exit 1",
            h = sq(health),
            s = sq(script)
        ),
    );
}

fn rm_containers(host: &str, names: &[&str]) {
    let list: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let vols: Vec<String> = names.iter().map(|n| format!("{n}-data")).collect();
    let _ = lab::sh(
        host,
        &format!(
            "docker rm -f {} >/dev/null 2>&1; docker volume rm {} >/dev/null 2>&1; true",
            list.join(" "),
            vols.join(" ")
        ),
    );
}

fn psql(host: &str, c: &str, db: &str, sql: &str) -> String {
    on(
        host,
        &format!("docker exec -i -u postgres {c} psql -X -q -At -d {db} <<'SQL'\n{sql}\nSQL"),
    )
}

fn maria(host: &str, c: &str, sql: &str) -> String {
    on(
        host,
        &format!("docker exec -i {c} mariadb --batch --skip-column-names <<'SQL'\n{sql}\nSQL"),
    )
}

#[test]
fn volume_with_odd_names_and_foreign_uids_moves_identically() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let v = uniq("vol");
    let v2 = uniq("vol2");
    let cleanup = || {
        let _ = lab::sh(
            "src",
            &format!("docker volume rm -f {v} >/dev/null 2>&1; true"),
        );
        let _ = lab::sh(
            "dst",
            &format!(
                "docker volume rm -f {v} {v2} >/dev/null 2>&1; rm -f /var/backups/migrate/volume-{v}-*.tar; true"
            ),
        );
    };
    cleanup();
    let _guard = OnDrop(&cleanup);
    on(
        "src",
        &format!(
            r#"set -e; docker volume create {v} >/dev/null; cd "$(docker volume inspect -f '{{{{.Mountpoint}}}}' {v})"
printf 'space' > 'with space'; printf 'nl' > "$(printf 'new\nline')"; printf 'u' > 'ünïcödé ✓'
printf 'dash' > ./-leading-dash; printf 'bs' > 'back\slash'; printf 'q' > "it's \"quoted\""
mkdir -p deep/er/est 'empty dir'; head -c 3000000 /dev/urandom > deep/er/est/blob.bin
ln -s deep/er/est/blob.bin link-to-blob; ln deep/er/est/blob.bin hardlink.bin
printf 'mastodon' > owned-991; chown 991:991 owned-991; chown -R 12345:54321 deep; chmod 0640 owned-991
truncate -s 50M sparse.img; printf x | dd of=sparse.img bs=1 seek=1000 conv=notrunc 2>/dev/null"#
        ),
    );
    let before = tree("src", &v);

    // The move itself.
    let o = mig(&["volume", &format!("src:{v}"), "dst"]);
    assert_eq!(o.status.code(), Some(0), "volume move failed");
    assert!(stdout(&o).contains("identical"), "{}", stdout(&o));
    assert_eq!(
        tree("dst", &v),
        before,
        "the destination volume differs from the source"
    );
    assert_eq!(tree("src", &v), before, "the source volume changed");

    // A non-empty destination is refused and left alone.
    on(
        "dst",
        &format!(
            "cd \"$(docker volume inspect -f '{{{{.Mountpoint}}}}' {v})\" && printf keep > dst-only"
        ),
    );
    let dst_before = tree("dst", &v);
    let o = mig(&["volume", &format!("src:{v}"), &format!("dst:{v}")]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "a non-empty destination must be refused"
    );
    assert!(
        stderr(&o).contains("not empty") && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        tree("dst", &v),
        dst_before,
        "a refused move changed the destination"
    );

    // --force takes a backup first, then makes it identical.
    let o = mig(&[
        "volume",
        &format!("src:{v}"),
        &format!("dst:{v}"),
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(tree("dst", &v), before);
    let listing = on(
        "dst",
        &format!("tar -tf $(ls -1 /var/backups/migrate/volume-{v}-*.tar | tail -1)"),
    );
    assert!(
        listing.contains("./dst-only"),
        "the backup lacks the destination's old file: {listing}"
    );

    // Mapped name and --map-owner 991:1000.
    let o = mig(&[
        "volume",
        &format!("src:{v}"),
        &format!("dst:{v2}"),
        "--map-owner",
        "991:1000",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let t2 = tree("dst", &v2);
    assert!(t2.contains("owned-991|1000:1000|640"), "{t2}");
    assert!(!t2.contains("991:991"), "{t2}");
    assert_eq!(
        t2.replace("owned-991|1000:1000", "owned-991|991:991"),
        before
    );

    // A volume that does not exist.
    let o = mig(&["volume", "src:mt-no-such-volume", "dst"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no volume `mt-no-such-volume` on src"),
        "{}",
        stderr(&o)
    );
    cleanup();
}

#[test]
fn compose_app_database_piped_into_fresh_container_with_equal_row_counts() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let project = uniq("app");
    let sdb = format!("{project}-db");
    let web = format!("{project}-web");
    let ddb = uniq("newdb");
    let cleanup = || {
        rm_containers("src", &[&sdb, &web]);
        rm_containers("dst", &[&ddb]);
    };
    cleanup();
    let _guard = OnDrop(&cleanup);
    db_container("src", &sdb, "postgres", &project);
    // The app container depends on the database (compose's label).
    on(
        "src",
        &format!(
            "docker run -d --name {web} --network host --label com.docker.compose.project={project} \
             --label com.docker.compose.service=web --label com.docker.compose.depends_on=db:service_healthy:false \
             --label coop-cloud.{project}.version=1.2.3+4.5 lab/busybox:latest sleep 3600 >/dev/null"
        ),
    );
    psql("src", &sdb, "postgres", "CREATE DATABASE app;");
    psql(
        "src",
        &sdb,
        "app",
        "CREATE TABLE users(id serial primary key, name text);
         INSERT INTO users(name) SELECT 'user ' || g FROM generate_series(1, 1234) g;
         CREATE TABLE posts(id serial primary key, user_id int references users(id), body text);
         INSERT INTO posts(user_id, body) SELECT 1 + g % 1234, repeat('é', 50) || E'\\ttab\\nnewline' || g FROM generate_series(1, 20000) g;
         CREATE SCHEMA media; CREATE TABLE media.files(path text); INSERT INTO media.files SELECT 'f' || g FROM generate_series(1, 77) g;",
    );
    db_container("dst", &ddb, "postgres", "newapp");

    // The inventory shows the project, its volume and the version label.
    let o = mig(&["docker", "ls", "src", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        (&v["command"], &v["ok"]),
        (&"docker ls".into(), &true.into())
    );
    let inv = &v["result"];
    assert!(
        inv["compose_projects"][&project]
            .as_array()
            .is_some_and(|a| a.len() == 2),
        "{inv}"
    );
    let vol = inv["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == format!("{sdb}-data"))
        .cloned()
        .expect("volume listed");
    assert_eq!(vol["used_by"][0], sdb.as_str());
    assert!(vol["size"].as_u64().unwrap_or(0) > 1_000_000, "{vol}");
    let c = inv["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == web.as_str())
        .cloned()
        .unwrap();
    assert_eq!(
        c["versions"][format!("coop-cloud.{project}.version")],
        "1.2.3+4.5"
    );

    // Stop dependents first, start dependencies first and healthy.
    let o = mig(&["docker", "stop", "src", "--project", &project]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains(&format!("{web}, {sdb}")),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        on(
            "src",
            &format!("docker inspect -f '{{{{.State.Running}}}}' {sdb} {web}")
        ),
        "false\nfalse\n"
    );
    let o = mig(&["docker", "start", "src", "--project", &project]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains(&format!("{sdb}, {web}")),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        on(
            "src",
            &format!("docker inspect -f '{{{{.State.Health.Status}}}}' {sdb}")
        ),
        "healthy\n"
    );

    // The dump, piped server to server into the fresh container.
    let o = mig(&[
        "docker",
        "db",
        "src",
        "dst",
        "--engine",
        "postgres",
        "--db",
        "app",
        "--from-container",
        &sdb,
        "--to-container",
        &ddb,
    ]);
    assert_eq!(o.status.code(), Some(0));
    let counts = "SELECT 'users', count(*) FROM users UNION ALL SELECT 'posts', count(*) FROM posts UNION ALL SELECT 'files', count(*) FROM media.files ORDER BY 1;";
    let a = psql("src", &sdb, "app", counts);
    let b = psql("dst", &ddb, "app", counts);
    assert_eq!(a, "files|77\nposts|20000\nusers|1234\n");
    assert_eq!(a, b, "row counts differ");
    let digest = "SELECT md5(string_agg(body, ',' ORDER BY id)) FROM posts;";
    assert_eq!(
        psql("src", &sdb, "app", digest),
        psql("dst", &ddb, "app", digest),
        "contents differ"
    );

    // Loading again into the now non-empty database is refused.
    let o = mig(&[
        "docker",
        "db",
        "src",
        "dst",
        "--engine",
        "postgres",
        "--db",
        "app",
        "--from-container",
        &sdb,
        "--to-container",
        &ddb,
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));

    // A compressed dump file that breaks halfway: the destination stays as it was.
    on(
        "src",
        &format!(
            "mkdir -p /srv/test-docker-{p}; docker exec -u postgres {sdb} pg_dump -d app | gzip > /srv/test-docker-{p}/app.sql.gz
             s=$(stat -c %s /srv/test-docker-{p}/app.sql.gz); head -c $((s*2/3)) /srv/test-docker-{p}/app.sql.gz > /srv/test-docker-{p}/broken.sql.gz",
            p = std::process::id()
        ),
    );
    psql("dst", &ddb, "postgres", "CREATE DATABASE half; ");
    psql(
        "dst",
        &ddb,
        "half",
        "CREATE TABLE keep(x int); INSERT INTO keep VALUES (1), (2);",
    );
    let broken = format!("/srv/test-docker-{}/broken.sql.gz", std::process::id());
    // A dump file on src loaded into a database of dst's container.
    let load = |file: &str, db: &str, extra: &[&str]| {
        let mut args = vec![
            "docker",
            "db",
            "src",
            "dst",
            "--engine",
            "postgres",
            "--dump-file",
            file,
            "--to-container",
            &ddb,
            "--to-db",
            db,
        ];
        args.extend_from_slice(extra);
        mig(&args)
    };
    let o = load(&broken, "half", &["--force"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("the dump failed") && stderr(&o).contains("as it was before"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        psql(
            "dst",
            &ddb,
            "half",
            "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog','information_schema');"
        ),
        "keep\n",
        "a failed load changed the destination database"
    );
    assert_eq!(
        psql("dst", &ddb, "half", "SELECT count(*) FROM keep;"),
        "2\n"
    );

    // The whole compressed file loads, and its rows are counted from the file.
    let good = format!("/srv/test-docker-{}/app.sql.gz", std::process::id());
    let o = load(&good, "fromfile", &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("public.posts: 20000"), "{}", stdout(&o));
    assert_eq!(psql("dst", &ddb, "fromfile", counts), a);

    // A dump as pg_dump before 10 (or a person) writes it: bare table names
    // under `SET search_path`. Its rows are counted against public.bare.
    let bare = format!("/srv/test-docker-{}/bare.sql", std::process::id());
    on(
        "src",
        &format!(
            "printf 'SET search_path = public, pg_catalog;\\nCREATE TABLE bare (id integer);\\nCOPY bare (id) FROM stdin;\\n1\\n2\\n3\\n\\\\.\\n' > {bare}"
        ),
    );
    let o = load(&bare, "handmade", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        psql("dst", &ddb, "handmade", "SELECT count(*) FROM public.bare;"),
        "3\n"
    );

    // A database container that is not running.
    on("dst", &format!("docker stop {ddb} >/dev/null"));
    let o = mig(&[
        "docker",
        "db",
        "src",
        "dst",
        "--engine",
        "postgres",
        "--db",
        "app",
        "--from-container",
        &sdb,
        "--to-container",
        &ddb,
        "--to-db",
        "other",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains(&format!("container `{ddb}` on dst is not running")),
        "{}",
        stderr(&o)
    );

    let _ = lab::sh(
        "src",
        &format!("rm -rf /srv/test-docker-{}", std::process::id()),
    );
    let _ = lab::sh("dst", "rm -f /var/backups/migrate/db-half-*.sql.gz");
    cleanup();
}

#[test]
fn mariadb_dump_piped_into_container_and_a_broken_dump_is_marked() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let s = uniq("mysrc");
    let d = uniq("mydst");
    let cleanup = || {
        rm_containers("src", &[&s]);
        rm_containers("dst", &[&d]);
        let _ = lab::sh(
            "src",
            &format!("rm -rf /srv/test-docker-my-{}", std::process::id()),
        );
    };
    cleanup();
    let _guard = OnDrop(&cleanup);
    db_container("src", &s, "mariadb", "myapp");
    db_container("dst", &d, "mariadb", "myapp");
    maria(
        "src",
        &s,
        "CREATE DATABASE shop; USE shop;
         CREATE TABLE items(id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(100)) ENGINE=InnoDB;
         INSERT INTO items(name) SELECT CONCAT('item ', seq) FROM seq_1_to_3000;
         CREATE TABLE orders(id INT PRIMARY KEY, item INT) ENGINE=InnoDB;
         INSERT INTO orders SELECT seq, 1 + seq % 3000 FROM seq_1_to_500;",
    );
    let o = mig(&[
        "docker",
        "db",
        "src",
        "dst",
        "--engine",
        "mariadb",
        "--db",
        "shop",
        "--from-container",
        &s,
        "--to-container",
        &d,
    ]);
    assert_eq!(o.status.code(), Some(0));
    let q = "SELECT (SELECT COUNT(*) FROM shop.items), (SELECT COUNT(*) FROM shop.orders), (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='shop');";
    assert_eq!(maria("src", &s, q), "3000\t500\t2\n");
    assert_eq!(
        maria("dst", &d, q),
        maria("src", &s, q),
        "the marker table or rows differ"
    );

    // A dump that breaks halfway: the partial load is clearly marked.
    on(
        "src",
        &format!(
            "mkdir -p /srv/test-docker-my-{p}; docker exec {s} mariadb-dump shop | gzip > /srv/test-docker-my-{p}/full.sql.gz
             n=$(stat -c %s /srv/test-docker-my-{p}/full.sql.gz); head -c $((n/2)) /srv/test-docker-my-{p}/full.sql.gz > /srv/test-docker-my-{p}/broken.sql.gz",
            p = std::process::id()
        ),
    );
    let o = mig(&[
        "docker",
        "db",
        "src",
        "dst",
        "--engine",
        "mariadb",
        "--dump-file",
        &format!("/srv/test-docker-my-{}/broken.sql.gz", std::process::id()),
        "--to-container",
        &d,
        "--to-db",
        "shop_partial",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("PARTIAL") && stderr(&o).contains("migrate_load_incomplete"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        maria(
            "dst",
            &d,
            "SELECT COUNT(*) FROM shop_partial.migrate_load_incomplete;"
        ),
        "1\n"
    );
    cleanup();
}

#[test]
fn swarm_service_scaled_to_zero_and_back_keeps_its_replica_count() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let svc = uniq("svc");
    // Swarm works in the lab with host networking (checked by hand: the
    // ingress network is created but unused).
    let was_swarm = on("src", "docker info -f '{{.Swarm.LocalNodeState}}'").trim() == "active";
    if !was_swarm {
        on(
            "src",
            "docker swarm init --advertise-addr 127.0.0.2 --listen-addr 127.0.0.2:2377 >/dev/null",
        );
    }
    // Leave the swarm and remove the service even when an assertion fails:
    // a left-over swarm would be copied by the docker-root move test.
    let _guard = Cleanup::on(
        "src",
        format!(
            "docker service rm {svc} >/dev/null 2>&1; {}",
            if was_swarm {
                "true"
            } else {
                "docker swarm leave --force >/dev/null 2>&1; true"
            }
        ),
    );
    on(
        "src",
        &format!(
            "docker service create --detach --name {svc} --replicas 3 --network host \
             --label com.docker.stack.namespace=mtstack{p} --label coop-cloud.mtstack{p}.version=2.0.0+1.0 \
             lab/busybox:latest sleep 3600 >/dev/null
             for i in $(seq 60); do [ \"$(docker service ps -q -f desired-state=running -f name={svc} {svc} | wc -l)\" = 3 ] && exit 0; sleep 1; done; exit 1",
            p = std::process::id()
        ),
    );
    let running = |n: &str| {
        on(
            "src",
            &format!("docker ps -q -f label=com.docker.swarm.service.name={svc} | wc -l"),
        )
        .trim()
            == n
    };
    let o = mig(&["docker", "ls", "src", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let inv = &v["result"];
    let s = inv["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == svc.as_str())
        .cloned()
        .expect("service listed");
    assert_eq!(s["replicas"], 3);
    assert_eq!(
        s["versions"][format!("coop-cloud.mtstack{}.version", std::process::id())],
        "2.0.0+1.0"
    );

    let o = mig(&[
        "docker",
        "scale-down",
        "src",
        "--stack",
        &format!("mtstack{}", std::process::id()),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains(&format!("{svc}: 3 → 0")),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        on(
            "src",
            &format!("docker service inspect -f '{{{{.Spec.Mode.Replicated.Replicas}}}}' {svc}")
        ),
        "0\n"
    );
    assert!(running("0"), "tasks still running after scale-down");
    // A second scale-down must not forget the original count.
    let o = mig(&["docker", "scale-down", "src", "--service", &svc]);
    assert_eq!(o.status.code(), Some(0));

    let o = mig(&["docker", "scale-up", "src", "--service", &svc]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        on(
            "src",
            &format!("docker service inspect -f '{{{{.Spec.Mode.Replicated.Replicas}}}}' {svc}")
        ),
        "3\n"
    );
    assert!(running("3"), "not all 3 replicas run again");
    assert!(
        !on(
            "src",
            &format!("docker service inspect -f '{{{{json .Spec.Labels}}}}' {svc}")
        )
        .contains("migrate.replicas-before")
    );
}

#[test]
fn permission_errors_in_container_logs_are_reported() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let c = uniq("perm");
    let v = uniq("permvol");
    let cleanup = || {
        let _ = lab::sh(
            "dst",
            &format!(
                "docker rm -f {c} >/dev/null 2>&1; docker volume rm {v} >/dev/null 2>&1; true"
            ),
        );
    };
    cleanup();
    let _guard = OnDrop(&cleanup);
    // Files copied with the source's uid 991 while the app runs as 1000:
    // the container's write really fails.
    on(
        "dst",
        &format!(
            "docker volume create {v} >/dev/null; mp=$(docker volume inspect -f '{{{{.Mountpoint}}}}' {v}); mkdir -p $mp/uploads; chown -R 991:991 $mp; chmod 755 $mp $mp/uploads
             docker create --name {c} --network host --user 1000:1000 -v {v}:/data lab/busybox:latest \
               sh -c 'echo starting; touch /data/uploads/new.png; echo started; sleep 3600' >/dev/null"
        ),
    );
    let o = mig(&["docker", "owners", "dst", &v]);
    assert_eq!(o.status.code(), Some(3), "foreign owners must be flagged");
    assert!(
        stdout(&o).contains("--map-owner 991:1000"),
        "{}",
        stdout(&o)
    );

    let o = mig(&["docker", "start", "dst", "--container", &c]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains("permission error in") && stdout(&o).contains("Permission denied"),
        "{}",
        stdout(&o)
    );
    let o = mig(&["docker", "logs-check", "dst", &c]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("/data/uploads/new.png") && stdout(&o).contains("Permission denied"),
        "{}",
        stdout(&o)
    );

    // After the remap the same start is clean.
    let o = mig(&["docker", "owners", "dst", &v, "--map-owner", "991:1000"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    on(
        "dst",
        &format!(
            "docker rm -f {c} >/dev/null; docker create --name {c} --network host --user 1000:1000 -v {v}:/data lab/busybox:latest sh -c 'touch /data/uploads/new.png && echo ok; sleep 3600' >/dev/null"
        ),
    );
    let o = mig(&["docker", "start", "dst", "--container", &c]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!stdout(&o).contains("permission error"), "{}", stdout(&o));
    cleanup();
}

#[test]
fn a_user_without_rights_on_the_docker_socket_gets_a_clear_error() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // `deploy` (uid 1000) is not in the docker group on the lab servers.
    let o = mig(&["docker", "ls", "deploy@src"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("deploy on deploy@src may not use /var/run/docker.sock")
            && stderr(&o).contains("docker` group"),
        "{}",
        stderr(&o)
    );
    // No daemon behind the socket, and no docker at all, on `local` (this
    // machine; DOCKER_HOST points the probe at a socket that does not exist,
    // and a PATH holding only `sh` hides the docker binaries).
    let home = tmp_home();
    let o = run(migrate(home.path())
        .args(["docker", "ls", "local"])
        .env("DOCKER_HOST", "unix:///nonexistent/mt-docker.sock"));
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "the docker daemon on local is not running (/nonexistent/mt-docker.sock is missing)"
        ),
        "{}",
        stderr(&o)
    );
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::os::unix::fs::symlink("/bin/sh", bin.join("sh")).expect("symlink");
    let o = run(migrate(home.path())
        .args(["docker", "ls", "local"])
        .env("DOCKER_HOST", "unix:///nonexistent/mt-docker.sock")
        .env("PATH", &bin));
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("docker is not installed on local"),
        "{}",
        stderr(&o)
    );

    let o = mig(&["docker", "ls", "ssh://root@127.0.0.1:1"]);
    assert_eq!(o.status.code(), Some(5), "an unreachable host is exit 5");
}

fn sha_of_volume_file(host: &str, vol: &str, file: &str) -> String {
    on(
        host,
        &format!(
            "sha256sum \"$(docker volume inspect -f '{{{{.Mountpoint}}}}' {vol})/{file}\" | cut -d' ' -f1"
        ),
    )
}

#[test]
fn docker_root_move_leaves_dst_serving_the_same_volumes_and_images() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let v = uniq("rootvol");
    let img = format!("mt-rootimg:{}", std::process::id());
    let _c1 = Cleanup::on(
        "src",
        format!("docker volume rm -f {v} >/dev/null 2>&1; docker rmi {img} >/dev/null 2>&1; true"),
    );
    let _c2 = Cleanup::on(
        "dst",
        format!(
            "docker volume rm -f {v} >/dev/null 2>&1; docker rmi {img} >/dev/null 2>&1; rm -f /var/backups/migrate/docker-root-*.tar; true"
        ),
    );
    // Keep the copied root small: the database image is this suite's own
    // and is imported again when needed.
    for h in ["src", "dst"] {
        let _ = lab::sh(h, "docker rmi mt-lab/db:1 >/dev/null 2>&1; true");
    }
    on(
        "src",
        &format!(
            "set -e; docker volume create {v} >/dev/null; mp=$(docker volume inspect -f '{{{{.Mountpoint}}}}' {v})
             head -c 2000000 /dev/urandom > $mp/data.bin; printf 'x' > $mp/owned; chown 991:991 $mp/owned
             docker tag lab/busybox:latest {img}"
        ),
    );
    let sha = sha_of_volume_file("src", &v, "data.bin");
    let img_id = on(
        "src",
        &format!("docker image inspect -f '{{{{.Id}}}}' {img}"),
    );

    // dst's daemon holds an image already: refused without --force, and untouched.
    let o = mig(&["docker", "root-move", "src", "dst"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("refusing to replace its docker root"),
        "{}",
        stderr(&o)
    );
    assert!(
        on("dst", "docker images --format '{{.Repository}}'").contains("lab/busybox"),
        "dst changed after a refusal"
    );

    let o = mig(&[
        "docker",
        "root-move",
        "src",
        "dst",
        "--force",
        "--restart-source",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(
        out.contains("skipped: mask (no systemd"),
        "the skipped steps must be named: {out}"
    );
    assert!(
        out.contains("previous docker root is saved in /var/backups/migrate/docker-root-"),
        "{out}"
    );

    // dst's own daemon now serves the volume (same bytes, same owner) and the image.
    assert_eq!(sha_of_volume_file("dst", &v, "data.bin"), sha);
    assert_eq!(
        on(
            "dst",
            &format!(
                "stat -c %u:%g \"$(docker volume inspect -f '{{{{.Mountpoint}}}}' {v})/owned\""
            )
        ),
        "991:991\n"
    );
    assert_eq!(
        on(
            "dst",
            &format!("docker image inspect -f '{{{{.Id}}}}' {img}")
        ),
        img_id
    );
    assert_eq!(
        on(
            "dst",
            &format!("docker run --rm --network host -v {v}:/d {img} cat /d/owned")
        ),
        "x"
    );
    // The source's daemon runs again (--restart-source) with its data intact.
    assert_eq!(sha_of_volume_file("src", &v, "data.bin"), sha);
    assert!(on("src", "docker version --format '{{.Server.Version}}'").starts_with("20."));
}

#[test]
fn docker_root_relocated_to_a_bigger_disk_with_a_bind_mount() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let v = uniq("relocvol");
    let v2 = uniq("relocnew");
    let dir = format!("/srv/test-docker-root-{}", std::process::id());
    let guard = Unrelocate(dir.clone());
    guard.undo();
    let _cv = Cleanup::on(
        "dst",
        format!("docker volume rm -f {v} {v2} >/dev/null 2>&1; true"),
    );
    on(
        "dst",
        &format!(
            "set -e; docker volume create {v} >/dev/null; mp=$(docker volume inspect -f '{{{{.Mountpoint}}}}' {v})
             printf 'keep me' > \"$mp/f\"; mkdir -p {dir}-full; touch {dir}-full/something"
        ),
    );

    // A non-empty target directory is refused before anything stops.
    let o = mig(&["docker", "root-relocate", "dst", &format!("{dir}-full")]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("is not empty"), "{}", stderr(&o));

    let o = mig(&["docker", "root-relocate", "dst", &format!("{dir}/docker")]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("/etc/fstab"), "{}", stdout(&o));
    assert!(on("dst", "findmnt -n -o SOURCE /var/lib/docker").contains(&format!("{dir}/docker")));
    // Same volumes and images, served from the new disk; new data lands there.
    assert_eq!(
        on(
            "dst",
            &format!("docker run --rm --network host -v {v}:/d lab/busybox:latest cat /d/f")
        ),
        "keep me"
    );
    on("dst", &format!("docker volume create {v2} >/dev/null"));
    assert!(on("dst", &format!("ls {dir}/docker/volumes/")).contains(&v2));

    guard.undo();
    assert!(!on("dst", "findmnt -n -o SOURCE /var/lib/docker").contains(&dir));
    assert!(on("dst", "docker version --format '{{.Server.Version}}'").starts_with("20."));
}

#[test]
fn host_postgres_dump_piped_into_a_container() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let db = format!("mt_hostdb_{}", std::process::id());
    let ddb = uniq("hostpg");
    let _c1 = Cleanup::on(
        "src",
        format!(
            "runuser -u postgres -- psql -X -q -c 'DROP DATABASE IF EXISTS {db}' >/dev/null 2>&1; true"
        ),
    );
    rm_containers("dst", &[&ddb]);
    let _c2 = Cleanup::on(
        "dst",
        format!(
            "docker rm -f {ddb} >/dev/null 2>&1; docker volume rm {ddb}-data >/dev/null 2>&1; true"
        ),
    );
    // The source database runs on src's host PostgreSQL 15 (peer auth as postgres).
    on(
        "src",
        &format!(
            "runuser -u postgres -- psql -X -q -c 'CREATE DATABASE {db}' && runuser -u postgres -- psql -X -q -d {db} <<'SQL'
CREATE TABLE notes(id int primary key, t text);
INSERT INTO notes SELECT g, md5(g::text) FROM generate_series(1, 4321) g;
SQL"
        ),
    );
    db_container("dst", &ddb, "postgres", "hostapp");
    let o = mig(&[
        "docker",
        "db",
        "src",
        "dst",
        "--engine",
        "postgres",
        "--db",
        &db,
        "--to-container",
        &ddb,
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains("src (host) → dst container"),
        "{}",
        stdout(&o)
    );
    let q = "SELECT count(*), md5(string_agg(t, ',' ORDER BY id)) FROM notes;";
    let a = on(
        "src",
        &format!("runuser -u postgres -- psql -X -At -d {db} -c \"{q}\""),
    );
    assert!(a.starts_with("4321|"), "{a}");
    assert_eq!(psql("dst", &ddb, &db, q), a);
}

/// Database and table names with quotes, backticks, backslashes, `$$`, `;`
/// and unicode: each is one name on both servers, the rows arrive, and
/// nothing else is created or dropped (checked with the servers' own
/// clients, the names escaped by hand here).
#[test]
fn hostile_database_and_table_names_move_intact() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    // PostgreSQL: host on src → container on dst.
    let db = format!("mt o'k \"db\" $$;x {pid}");
    let conn = format!("dbname='{}'", db.replace('\'', "\\'"));
    let ident = format!("\"{}\"", db.replace('"', "\"\""));
    let pg = uniq("hostile-pg");
    let (s, d) = (uniq("hostile-mysrc"), uniq("hostile-mydst"));
    rm_containers("dst", &[&pg, &d]);
    rm_containers("src", &[&s]);
    let _c1 = Cleanup::on(
        "src",
        format!(
            "runuser -u postgres -- psql -X -q -c {} >/dev/null 2>&1; docker rm -f {s} >/dev/null 2>&1; docker volume rm {s}-data >/dev/null 2>&1; true",
            sq(&format!("DROP DATABASE IF EXISTS {ident}"))
        ),
    );
    let _c2 = Cleanup::on(
        "dst",
        format!(
            "docker rm -f {pg} {d} >/dev/null 2>&1; docker volume rm {pg}-data {d}-data >/dev/null 2>&1; true"
        ),
    );
    on(
        "src",
        &format!(
            "runuser -u postgres -- psql -X -q -c {create} && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d {c} <<'SQL'
CREATE TABLE \"we'ird \"\"t\"\" $$;|x\"(id int primary key, t text);
INSERT INTO \"we'ird \"\"t\"\" $$;|x\" SELECT g, 'row ' || g FROM generate_series(1, 321) g;
SQL",
            create = sq(&format!("CREATE DATABASE {ident}")),
            c = sq(&conn)
        ),
    );
    db_container("dst", &pg, "postgres", "hostile");
    let o = mig(&[
        "docker",
        "db",
        "src",
        "dst",
        "--engine",
        "postgres",
        "--db",
        &db,
        "--to-container",
        &pg,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let q = "SELECT count(*), md5(string_agg(t, ',' ORDER BY id)) FROM \"we'ird \"\"t\"\" $$;|x\";";
    let a = on(
        "src",
        &format!(
            "runuser -u postgres -- psql -X -At -d {} -c {}",
            sq(&conn),
            sq(q)
        ),
    );
    assert!(a.starts_with("321|"), "{a}");
    let b = on(
        "dst",
        &format!(
            "docker exec -u postgres {pg} psql -X -At -d {} -c {}",
            sq(&conn),
            sq(q)
        ),
    );
    assert_eq!(a, b);

    // MariaDB: container → container, a backslash before the quote (what
    // doubling quotes alone lets through).
    db_container("src", &s, "mariadb", "hostile");
    db_container("dst", &d, "mariadb", "hostile");
    let mdb = "shop\\'s `db`;ü";
    // The client is told its character set: under `docker exec` (no
    // locale) `mariadb` would take the name's UTF-8 bytes for latin1.
    let maria = |host: &str, c: &str, sql: &str| {
        on(
            host,
            &format!(
                "docker exec -i {c} mariadb --default-character-set=utf8mb4 --batch --skip-column-names <<'SQL'\n{sql}\nSQL"
            ),
        )
    };
    let mident = "`shop\\'s ``db``;ü`";
    maria(
        "src",
        &s,
        &format!(
            "CREATE DATABASE {mident}; USE {mident};
             CREATE TABLE `it\\'s ``t``` (id INT PRIMARY KEY) ENGINE=InnoDB;
             INSERT INTO `it\\'s ``t``` SELECT seq FROM seq_1_to_77;"
        ),
    );
    let o = mig(&[
        "docker",
        "db",
        "src",
        "dst",
        "--engine",
        "mariadb",
        "--db",
        mdb,
        "--from-container",
        &s,
        "--to-container",
        &d,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let q = format!(
        "SELECT (SELECT COUNT(*) FROM {mident}.`it\\'s ``t```), (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA LIKE 'shop%'), (SELECT COUNT(*) FROM information_schema.SCHEMATA);"
    );
    assert_eq!(maria("src", &s, &q), maria("dst", &d, &q));
    assert!(
        maria("dst", &d, &q).starts_with("77\t1\t"),
        "{}",
        maria("dst", &d, &q)
    );
}

/// The temporary-key comments authorized on dst right now.
fn dst_key_markers() -> std::collections::BTreeSet<String> {
    on(
        "dst",
        "grep -o 'migrate-copy-tmp-[A-Za-z0-9_-]*$' ~/.ssh/authorized_keys 2>/dev/null; true",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// Private keys on src whose public half carries `marker`, wherever a job
/// put them under root's state and cache directories.
fn src_private_keys(marker: &str) -> String {
    on(
        "src",
        &format!(
            "for p in $(grep -rlF --include=key.pub -- '{marker}' ~/.local/state ~/.cache 2>/dev/null); do k=${{p%.pub}}; [ -e \"$k\" ] && echo \"$k\"; done; true"
        ),
    )
    .trim()
    .to_string()
}

#[test]
fn killed_docker_db_leaves_a_key_that_cleanup_removes() {
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};

    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let ddb = uniq("pipekill");
    let dir = format!("/srv/test-docker-pipekill-{}", std::process::id());
    let fifo = format!("{dir}/slow.sql");
    // The dump is a named pipe fed a line every 0.2 s for up to two
    // minutes: the stream is still flowing, with the key authorized, for as
    // long as the test needs, however busy the machine is. Only the writer
    // goes to the background, its stdio away from ssh's (it blocks until
    // the dump opens the pipe, and must not hold this ssh session open).
    let writer = std::cell::RefCell::new(String::new());
    let cleanup = || {
        let w = writer.borrow();
        if !w.is_empty() {
            let _ = lab::sh("src", &format!("kill -- -{w} 2>/dev/null; true"));
        }
        let _ = lab::sh("src", &format!("rm -rf {dir}"));
        rm_containers("dst", &[&ddb]);
    };
    cleanup();
    let _guard = OnDrop(&cleanup);
    db_container("dst", &ddb, "postgres", "pipekill");
    *writer.borrow_mut() = on(
        "src",
        &format!(
            "mkdir -p {dir} && mkfifo {fifo} || exit 1\nsetsid sh -c 'for i in $(seq 600); do echo \"SELECT $i;\"; sleep 0.2; done > {fifo}' </dev/null >/dev/null 2>&1 & echo $!"
        ),
    )
    .trim()
    .to_string();
    let before = dst_key_markers();

    let home = tmp_home();
    let mut child = migrate(home.path())
        .args([
            "docker",
            "db",
            "src",
            "dst",
            "--engine",
            "postgres",
            "--dump-file",
            &fifo,
            "--to-container",
            &ddb,
            "--to-db",
            "slowdb",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn migrate");
    let t = Instant::now();
    let marker = loop {
        if let Some(m) = dst_key_markers().difference(&before).next() {
            break m.clone();
        }
        if t.elapsed() > Duration::from_secs(60) || child.try_wait().ok().flatten().is_some() {
            let _ = std::process::Command::new("kill")
                .args(["-9", "--", &format!("-{}", child.id())])
                .status();
            panic!("no temporary key appeared on dst while `migrate docker db` ran");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // Let the stream flow a moment with the key in place, then kill the
    // whole process group migrate runs in (it and its ssh clients).
    std::thread::sleep(Duration::from_secs(1));
    let killed = std::process::Command::new("kill")
        .args(["-9", "--", &format!("-{}", child.id())])
        .status()
        .expect("kill");
    assert!(killed.success());
    let _ = child.wait();

    // From outside: the key is still authorized on dst (with its expiry),
    // and its private half is still on src.
    let line = on(
        "dst",
        &format!("grep -F -- ' {marker}' ~/.ssh/authorized_keys; true"),
    );
    assert!(
        line.starts_with("restrict,expiry-time=\"") && line.contains(",from=\""),
        "the key line on dst: {line:?}"
    );
    assert!(
        !src_private_keys(&marker).is_empty(),
        "no private key with {marker} on src after the kill"
    );
    // The stream on src stops once its operator is gone; a job still
    // running would rightly be left alone by cleanup.
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30)
        && lab::sh(
            "src",
            &format!(
                "pgrep -f -- '-i [^ ]*{}/key' >/dev/null",
                marker.trim_start_matches("migrate-copy-tmp-")
            ),
        )
        .status
        .success()
    {
        std::thread::sleep(Duration::from_millis(200));
    }

    let out = run(migrate(home.path()).arg("cleanup"));
    eprintln!("cleanup:\n{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !dst_key_markers().contains(&marker),
        "cleanup left the key {marker} on dst"
    );
    assert_eq!(
        src_private_keys(&marker),
        "",
        "cleanup left the private key on src"
    );
}
