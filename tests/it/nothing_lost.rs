//! Nothing is lost by the tool's own hand, checked on the lab's servers
//! themselves: what a final copy pass takes off the destination is found
//! byte for byte in a dated directory beside it (or gone only when the
//! operator said `--delete-without-backup`); a backup that would not fit
//! is refused before anything is written; a destination database that
//! already holds data is refused, and its rows are still there.
//!
//! Without the lab these tests fail.

use crate::support::cli::{migrate, run, run_json, stderr};
use crate::support::lab::{self, Cleanup, Need, ok as on};
use crate::support::nc_compose::NcCompose;

/// A fresh directory on the servers for this test.
fn unique(name: &str) -> String {
    format!("/srv/e2e-lost/{name}-{}", std::process::id())
}

#[test]
fn a_final_pass_moves_what_it_removes_aside_intact() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let root = unique("final");
    let wipe = format!("rm -rf '{root}' '{root}'.migrate-aside-*");
    for h in ["src", "dst"] {
        on(h, &wipe);
    }
    let _gone = (Cleanup::on("src", wipe.clone()), Cleanup::on("dst", wipe));
    on(
        "src",
        &format!(
            "set -e; mkdir -p '{root}/sub'; cd '{root}'; head -c 70000 /dev/urandom > a; printf b > sub/b"
        ),
    );
    let (s, d) = (format!("src:{root}"), format!("dst:{root}"));
    let out = run(migrate(home.path()).args(["copy", &s, &d]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The destination gains what the source lacks (an old upload, a file
    // the app wrote there meanwhile): odd names, a whole directory.
    on(
        "dst",
        &format!(
            "set -e; cd '{root}'; head -c 50000 /dev/urandom > 'extra file'; mkdir -p old/deep; head -c 3000 /dev/urandom > old/deep/x; printf o > \"$(printf 'sub/new\\nline')\""
        ),
    );
    let sums = |dir: &str| {
        on(
            "dst",
            &format!(
                "cd '{dir}' && find . -type f ! -name b ! -name a -print0 | sort -z | xargs -0 -r sha256sum"
            ),
        )
    };
    let before = sums(&root);
    assert_eq!(before.lines().count(), 3, "{before}");

    let (code, v, out) = run_json(migrate(home.path()).args(["--json", "copy", &s, &d, "--final"]));
    assert_eq!(code, 0, "{}", stderr(&out));
    let r = &v["result"];
    assert_eq!(r["deleted"], 3, "{r}");
    let aside = r["aside"]
        .as_str()
        .unwrap_or_else(|| panic!("no aside in {r}"));
    let prefix = format!("{root}.migrate-aside-");
    let stamp = aside.strip_prefix(&prefix).unwrap_or_default();
    assert!(
        stamp.len() == 15 && stamp.as_bytes()[8] == b'-',
        "aside directory {aside} is not {prefix}YYYYMMDD-HHMMSS"
    );
    let listed: Vec<&str> = r["deletions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str())
        .collect();
    assert_eq!(
        listed,
        ["extra file", "old", "sub/new\nline"],
        "the report lists what went"
    );
    // From outside: the destination is the source again, and what left it
    // is aside, byte for byte, under its own path.
    assert_eq!(
        sums(&root),
        "",
        "the extra files are still in the destination"
    );
    assert_eq!(sums(aside), before, "the aside directory differs");
    assert_eq!(
        on("dst", &format!("cd '{root}' && find . | sort")),
        on("src", &format!("cd '{root}' && find . | sort"))
    );

    // Only when the operator says so is it deleted for good.
    on("dst", &format!("printf z > '{root}/later'"));
    let (code, v, out) = run_json(migrate(home.path()).args([
        "--json",
        "copy",
        &s,
        &d,
        "--final",
        "--delete-without-backup",
    ]));
    assert_eq!(code, 0, "{}", stderr(&out));
    assert_eq!(v["result"]["deleted"], 1, "{v}");
    assert!(v["result"]["aside"].is_null(), "{v}");
    assert_eq!(
        on(
            "dst",
            &format!("ls -d '{root}/later' '{root}'.migrate-aside-* 2>/dev/null; true")
        )
        .trim(),
        aside,
        "the file is not gone, or a second aside directory was made"
    );
}

#[test]
fn a_backup_that_would_not_fit_is_refused_before_anything_is_written() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let pid = std::process::id();
    let name = format!("test-lost-backup-{pid}");
    let base = format!("/srv/{name}");
    let root = format!("{base}/nextcloud");
    let db = name.replace('-', "_");
    // The backup's disk: a 1 MiB tmpfs made for this test on src.
    let mnt = format!("/mnt/e2e-backup-{pid}");
    let _gone = (
        Cleanup::on(
            "src",
            format!(
                "umount '{mnt}' 2>/dev/null; rmdir '{mnt}' 2>/dev/null; rm -rf '{base}'; cd / && runuser -u postgres -- psql -X -q -c 'DROP DATABASE IF EXISTS \"{db}\"' >/dev/null 2>&1; true"
            ),
        ),
        Cleanup::on("dst", format!("rm -rf '{base}'")),
    );
    on(
        "src",
        &format!("mkdir -p '{mnt}' && mount -t tmpfs -o size=1m tmpfs '{mnt}'"),
    );
    let ex = crate::support::fixtures::workspace_root().join("examples/lab-nextcloud");
    lab::put_tree(
        &["src", "dst"],
        &ex,
        &["app", "php"],
        &base,
        &format!("mkdir -p {base}/bin && mv -f {base}/php {base}/bin/php"),
    );
    lab::install(
        "src",
        &format!("bash -s -- {root} {db} cloud.example.test"),
        &ex.join("install-source.sh"),
    );
    let before_src = on(
        "src",
        &format!("cd '{root}' && find . -printf '%P %s %T@\\n' | sort | sha256sum"),
    );
    let op = crate::support::cli::Operator::new();
    std::fs::write(
        &op.file,
        format!(
            r#"app = "nextcloud"
domain = "cloud.example.test"
backup_dir = "{mnt}/backup"
[source]
host = "{src}"
root = "{root}"
path = ["{base}/bin"]
[source.databases]
nextcloud = "{db}"
[destination]
host = "{dst}"
root = "{root}"
path = ["{base}/bin"]
[destination.databases]
nextcloud = "{db}"
"#,
            src = lab::src_url(),
            dst = lab::dst_url(),
        ),
    )
    .unwrap();

    // The plan says where the backup goes and about how big it is.
    let o = op.with_file(&["plan"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan = crate::support::cli::stdout(&o);
    assert!(
        plan.contains(&format!("into {mnt}/backup"))
            && plan.contains("less free than that plus 10 %"),
        "{plan}"
    );

    let o = op.app(&[]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("not enough space for the backup in {mnt}/backup"))
            && err.contains("nothing was written"),
        "{err}"
    );
    // From outside: the backup's disk is as it was (empty), and nothing
    // moved on either server.
    assert_eq!(
        on("src", &format!("ls -A '{mnt}'")),
        "",
        "something was written"
    );
    assert_eq!(
        on(
            "src",
            &format!("cd '{root}' && find . -printf '%P %s %T@\\n' | sort | sha256sum")
        ),
        before_src
    );
    assert_eq!(
        on("dst", &format!("ls -A '{root}' 2>/dev/null; true")),
        "",
        "the destination was written"
    );
}

#[test]
fn a_compose_destinations_database_with_data_is_refused_and_its_rows_stay() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let f = NcCompose::install(
        "test-lost-db",
        "mtlost",
        "Nextcloud into a compose project whose database volume holds data",
    );
    let (db, project, compose_dir) = (&f.db, &f.project, &f.compose_dir);
    // The destination project ran once, long ago: its database volume
    // holds the app's database with a table and rows. Its containers are
    // gone (so the project looks unused), the volume stays.
    let psql = |sql: &str, database: &str| {
        format!(
            "cd '{compose_dir}' && docker-compose -p {project} exec -T -u postgres db psql -X -Atq -v ON_ERROR_STOP=1 -d {database} -c {}",
            lab::sq(sql)
        )
    };
    let up_db = format!(
        "cd '{compose_dir}' && docker-compose -p {project} up -d db >/dev/null 2>&1 && for i in $(seq 1 120); do docker-compose -p {project} exec -T -u postgres db psql -X -Atqc 'select 1' >/dev/null 2>&1 && exit 0; sleep 0.5; done; exit 1"
    );
    on("dst", &up_db);
    on(
        "dst",
        &psql(&format!("CREATE DATABASE \"{db}\""), "postgres"),
    );
    on(
        "dst",
        &psql(
            "CREATE TABLE keepme (id int PRIMARY KEY, note text); INSERT INTO keepme VALUES (1, 'first'), (2, 'second'), (3, 'third')",
            db,
        ),
    );
    let rows = || {
        on(
            "dst",
            &psql(
                "SELECT count(*), string_agg(id || ':' || note, ',' ORDER BY id) FROM keepme",
                db,
            ),
        )
    };
    assert_eq!(rows().trim(), "3|1:first,2:second,3:third");
    on(
        "dst",
        &format!(
            "cd '{compose_dir}' && docker-compose -p {project} down -t 5 >/dev/null 2>&1 && docker volume rm {project}_html >/dev/null 2>&1; docker volume inspect {project}_db >/dev/null"
        ),
    );

    let op = &f.run;
    let o = op.app(&[]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "the destination's database {db} already holds 1 table(s)"
        )) && err.contains("nothing was dropped"),
        "{err}\n{}",
        op.journal_text()
    );
    // From outside: the old rows are all there, read with psql in the
    // project's own database container.
    on("dst", &up_db);
    assert_eq!(rows().trim(), "3|1:first,2:second,3:third");
    // Bring the source back as the operator would.
    let _ = op.with_file(&["abort"]);
}
