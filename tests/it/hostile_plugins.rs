//! Hostile plugins through `migrate plan` and `migrate app` against the
//! two-server lab: what a plugin's answers make the host do, not only what
//! the sandbox stops. Each plugin is refused, confined, or shown and
//! classed as acting, and every test checks from outside (ssh to both
//! servers) that nothing changed, and that nothing it must not see reached
//! any output.
//!
//! The plugins are tests/fixtures/plugins/hostile (one trick per domain,
//! see its lib.rs) and inspector (contract 0.1, the only one with
//! `docker-inspect`); the 200-memory plugin is the hostile component with a
//! core module of 200 memories added to it here.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::support::cli::{Operator, stderr, stdout};
use crate::support::fixtures::{build_wasm, workspace_root};
use crate::support::lab::{self, Cleanup, Need, ok};

/// The fixture components, built once per test binary.
fn built() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_wasm(&workspace_root().join("tests/fixtures/plugins/Cargo.toml")))
}

fn component(file: &str) -> Vec<u8> {
    std::fs::read(built().join(file)).expect("fixture component")
}

/// One app on src for one hostile plugin: a plain directory with a
/// VERSION file, a user recipe naming the plugin, the plugin in the
/// operator's plugin directory, and the migration file. The app's
/// directories on both servers are removed when it is dropped.
struct App {
    base: String,
    root: String,
    domain: String,
    op: Operator,
    _cleanup: [Cleanup; 2],
}

impl App {
    /// `trick`: the domain's first label (what the hostile plugin does);
    /// `plugin`: the id the recipe names, with the component's bytes put
    /// in the operator's plugin directory under that id.
    fn new(trick: &str, plugin: &str, bytes: &[u8]) -> App {
        let pid = std::process::id();
        let name = format!("hostile-{trick}-{pid}");
        let base = format!("/srv/{name}");
        let root = format!("{base}/app");
        let domain = format!("{trick}-{pid}.example.test");
        let cleanup = [
            Cleanup::on("src", format!("rm -rf {base}")),
            Cleanup::on("dst", format!("rm -rf {base}")),
        ];
        ok(
            "src",
            &format!(
                "rm -rf {base} && mkdir -p {root} && echo 1.0.0 > {root}/VERSION && echo hello > {root}/index.html"
            ),
        );
        ok("dst", &format!("rm -rf {base}"));
        let op = Operator::new();
        let data = op.home.path().join("data/migrate");
        std::fs::create_dir_all(data.join("recipes")).expect("recipes dir");
        std::fs::create_dir_all(data.join("plugins")).expect("plugins dir");
        std::fs::write(data.join(format!("plugins/{plugin}.wasm")), bytes).expect("plugin");
        let app = format!("hostile-{trick}");
        std::fs::write(
            data.join(format!("recipes/{app}.toml")),
            format!(
                r#"follow_ups = []

[app]
id = "{app}"
name = "Hostile {trick}"
plugin = "{plugin}"
"#
            ),
        )
        .expect("recipe");
        std::fs::write(
            &op.file,
            format!(
                r#"app = "{app}"
domain = "{domain}"
backup_dir = "{base}/backup"

[source]
host = "{src}"
root = "{root}"

[destination]
host = "{dst}"
root = "{root}"
"#,
                src = lab::src_url(),
                dst = lab::dst_url(),
            ),
        )
        .expect("migration file");
        App {
            base,
            root,
            domain,
            op,
            _cleanup: cleanup,
        }
    }

    /// `migrate ARGS... --file FILE`, no terminal, with its output.
    fn run(&self, args: &[&str]) -> Output {
        self.op
            .migrate()
            .args(args)
            .arg("--file")
            .arg(&self.op.file)
            .stdin(Stdio::null())
            .output()
            .expect("run migrate")
    }

    /// Everything that could change on both servers because of this app:
    /// its tree (names, sizes, modes, mtimes), /srv/pwned, the destination's
    /// copy of the app.
    fn state(&self) -> [String; 2] {
        let look = format!(
            "ls -la --time-style=+%s /srv/pwned 2>&1; find {} -printf '%p %s %m %T@\\n' 2>&1 | sort",
            self.base
        );
        [ok("src", &look), ok("dst", &look)]
    }
}

/// Both servers: no /srv/pwned.
fn assert_not_pwned() {
    for host in ["src", "dst"] {
        let o = lab::sh(host, "test -e /srv/pwned && echo PRESENT || echo absent");
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            "absent",
            "/srv/pwned exists on {host}: a plugin's command ran (remove it before rerunning)"
        );
    }
}

fn all_output(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

fn assert_ok(what: &str, o: &Output) {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\n{}",
        o.status.code(),
        all_output(o)
    );
}

#[test]
fn a_smoke_check_that_touches_a_file_is_shown_classed_acting_and_refused_unconfirmed() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    assert_not_pwned();
    let app = App::new("touch", "touchcheck", &component("hostile.wasm"));
    let before = app.state();

    // The plan and the runbook show the command verbatim, on the baseline
    // step, which the host classes as acting whatever it is declared.
    let plan = app.run(&["plan"]);
    assert_ok("plan", &plan);
    let text = stdout(&plan);
    let baseline = text
        .lines()
        .skip_while(|l| !l.contains("as the baseline"))
        .take(4)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        baseline.contains("acting"),
        "baseline not classed acting:\n{text}"
    );
    assert!(
        baseline.contains("touch /srv/pwned"),
        "command not shown:\n{text}"
    );
    let md = app.run(&["plan", "--format", "markdown"]);
    assert_ok("plan --format markdown", &md);
    assert!(stdout(&md).contains("touch /srv/pwned"), "{}", stdout(&md));
    let json = app.run(&["plan", "--json"]);
    assert_ok("plan --json", &json);
    let v: serde_json::Value = serde_json::from_str(stdout(&json).trim()).expect("json");
    let step = v["result"]["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == "baseline"))
        .cloned()
        .expect("baseline step");
    assert_eq!(step["acts"], true, "{step}");
    assert!(
        step["commands"].to_string().contains("touch /srv/pwned"),
        "{step}"
    );

    // The dry run shows it too, and runs nothing.
    let dry = app.run(&["app", "--dry-run"]);
    assert_ok("app --dry-run", &dry);
    assert!(
        stdout(&dry).contains("touch /srv/pwned"),
        "{}",
        stdout(&dry)
    );

    // Unattended without --yes: refused before anything acts.
    let run = app.run(&["app"]);
    assert!(
        !run.status.success(),
        "ran without --yes:\n{}",
        all_output(&run)
    );
    assert!(stderr(&run).contains("--yes"), "{}", all_output(&run));
    assert!(
        stderr(&run).contains("stopped before step"),
        "{}",
        all_output(&run)
    );

    assert_not_pwned();
    assert_eq!(app.state(), before, "something changed on a server");
}

#[test]
fn reads_of_etc_shadow_are_confined_and_no_byte_of_it_shows() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let app = App::new("shadow", "shadowread", &component("hostile.wasm"));
    let before = app.state();

    let mut outputs = Vec::new();
    for args in [
        &["plan"][..],
        &["plan", "--json"],
        &["plan", "--format", "markdown"],
        &["app", "--dry-run"],
        &["app"],
        &["-vv", "plan"],
    ] {
        let o = app.run(args);
        outputs.push((args.join(" "), all_output(&o)));
    }
    let text = &outputs[0].1;
    // Refused, naming the path and what may be read instead.
    let refusal = format!(
        "outside what the migration declares for the app there ({}/)",
        app.root
    );
    for what in [
        "read-file /etc/shadow was refused",
        "read-file ../../../../etc/shadow was refused",
        "read-file /etc/shadow on the destination was refused",
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} in the plan:\n{text}"));
        assert!(line.contains(&refusal), "{line}");
        assert!(line.contains("/etc/shadow"), "{line}");
    }
    // Reads inside the root still work, and the version came from the
    // file the host allows, not from the shadow probe.
    assert!(
        text.contains("read-file VERSION answered 6 bytes"),
        "{text}"
    );
    assert!(text.contains("Source runs"), "{text}");

    // Not one line or password field of either server's shadow file in
    // any output.
    for host in ["src", "dst"] {
        let shadow = ok(host, "cat /etc/shadow");
        for line in shadow.lines().filter(|l| l.len() >= 8) {
            let hash = line.split(':').nth(1).unwrap_or("");
            for (args, out) in &outputs {
                assert!(!out.contains(line), "`{args}` shows {host}'s shadow");
                if hash.len() >= 4 {
                    assert!(
                        !out.contains(hash),
                        "`{args}` shows a hash of {host}'s shadow"
                    );
                }
            }
        }
    }
    assert_not_pwned();
    assert_eq!(app.state(), before, "something changed on a server");
}

#[test]
fn docker_inspect_never_hands_a_plugin_the_database_password() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let pid = std::process::id();
    let container = format!("inspect-{pid}");
    let password = format!(
        "pw{:x}",
        Sha256::digest(format!("{pid}{:?}", std::time::SystemTime::now()))[..8]
            .iter()
            .fold(0u64, |a, b| a << 8 | u64::from(*b))
    );
    let _gone = Cleanup::on("src", format!("docker rm -f {container} >/dev/null 2>&1"));
    ok(
        "src",
        &format!(
            "docker rm -f {container} >/dev/null 2>&1; img=$(docker images -q | head -n 1); [ -n \"$img\" ] || {{ echo no image >&2; exit 1; }}; docker create --name {container} --label hostile.test=db -e POSTGRES_PASSWORD={password} -e MYSQL_ROOT_PASSWORD={password} \"$img\" sh -c 'echo {password}' >/dev/null"
        ),
    );
    // The password is really there for docker inspect to give away.
    assert!(ok("src", &format!("docker inspect {container}")).contains(&password));

    // The plugin names the container by the domain's first label.
    let app = App::new("inspect", "inspector", &component("inspector.wasm"));
    assert!(app.domain.starts_with(&format!("{container}.")));
    let before = app.state();
    let mut outputs = Vec::new();
    for args in [
        &["plan"][..],
        &["plan", "--json"],
        &["plan", "--format", "markdown"],
        &["app", "--dry-run"],
        &["-vv", "plan"],
    ] {
        let o = app.run(args);
        assert_ok(&args.join(" "), &o);
        outputs.push((args.join(" "), all_output(&o)));
    }
    let text = &outputs[0].1;
    // The plugin got an answer (the image, the labels, the mounts)...
    let line = text
        .lines()
        .find(|l| l.contains(&format!("docker-inspect {container} answered:")))
        .unwrap_or_else(|| panic!("the plugin's echo is missing:\n{text}"));
    assert!(line.contains("hostile.test"), "{line}");
    assert!(line.contains("\"Image\""), "{line}");
    assert!(line.contains("\"Mounts\""), "{line}");
    // ...and nothing of the environment or the command line.
    assert!(!line.contains("\"Env\""), "{line}");
    for (args, out) in &outputs {
        assert!(!out.contains(&password), "`{args}` shows the password");
    }
    assert_not_pwned();
    assert_eq!(app.state(), before, "something changed on a server");
}

#[test]
fn reading_dev_zero_or_a_file_over_the_cap_is_refused_with_a_clear_error() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let app = App::new("zero", "zeroread", &component("hostile.wasm"));
    // A file of 2 MiB inside the app's root: readable, but over the cap.
    ok(
        "src",
        &format!(
            "head -c 2097152 /dev/zero | tr '\\0' a > {}/big.bin",
            app.root
        ),
    );
    let before = app.state();
    let plan = app.run(&["plan"]);
    assert_ok("plan", &plan);
    let text = stdout(&plan);
    let line = |what: &str| {
        text.lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} in the plan:\n{text}"))
            .to_string()
    };
    let zero = line("read-file /dev/zero was refused");
    assert!(zero.contains("/dev/zero"), "{zero}");
    assert!(
        zero.contains("outside what the migration declares"),
        "{zero}"
    );
    let big = line("read-file big.bin was refused");
    assert!(
        big.contains("over 1 MiB, the cap on a host call's answer to a plugin"),
        "{big}"
    );
    assert!(big.contains("read-file \"big.bin\""), "{big}");
    assert!(
        !text.contains("aaaaaaaaaaaaaaaa"),
        "the big file reached the plan"
    );
    assert_not_pwned();
    assert_eq!(app.state(), before, "something changed on a server");
}

/// A component with `n` memories added: core modules of up to 100
/// memories each (the most one module may declare), each defined and
/// instantiated with no imports at the end of the component, which stays
/// valid and still implements the contract.
fn with_memories(component: &[u8], n: u32) -> Vec<u8> {
    fn leb(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    fn read_leb(bytes: &[u8], at: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let b = bytes[*at];
            *at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }
    fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(body.len() as u64, out);
        out.extend_from_slice(body);
    }
    // The component's own core modules (section 1) come first in the
    // core module index space.
    let (mut at, mut modules) = (8, 0u64);
    while at < component.len() {
        let id = component[at];
        at += 1;
        let size = read_leb(component, &mut at) as usize;
        if id == 1 {
            modules += 1;
        }
        at += size;
    }
    let mut out = component.to_vec();
    let mut left = n;
    while left > 0 {
        let here = left.min(100);
        left -= here;
        let mut memories = Vec::new();
        leb(u64::from(here), &mut memories);
        for _ in 0..here {
            memories.extend([0x00, 0x00]); // no maximum, 0 pages
        }
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        section(5, &memories, &mut module);
        let mut instance = Vec::new();
        leb(1, &mut instance); // one core instance:
        instance.push(0x00); // instantiate
        leb(modules, &mut instance); // the module just added
        leb(0, &mut instance); // with no arguments
        section(1, &module, &mut out);
        section(2, &instance, &mut out);
        modules += 1;
    }
    out
}

#[test]
fn a_plugin_of_200_memories_is_refused_with_a_clear_error() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let bytes = with_memories(&component("hostile.wasm"), 200);
    let app = App::new("memories", "manymemories", &bytes);
    let before = app.state();
    for args in [&["plan"][..], &["app", "--dry-run"], &["app"]] {
        let o = app.run(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(4), "{args:?}: {}", all_output(&o));
        assert!(err.contains("\"manymemories\""), "names the plugin: {err}");
        assert!(err.contains("memory count too high"), "{err}");
        assert!(err.contains("may have 1 memory"), "{err}");
    }
    // The same component without the added module plans: the refusal is
    // the memories, nothing else.
    let plain = App::new("control", "plainplugin", &component("hostile.wasm"));
    assert_ok("plan of the unmodified fixture", &plain.run(&["plan"]));
    assert_not_pwned();
    assert_eq!(app.state(), before, "something changed on a server");
}

#[test]
fn a_user_plugin_named_like_a_builtin_is_refused_without_the_override_flag() {
    let Some(_lab) = lab::enter(module_path!(), Need::Ssh) else {
        return;
    };
    let bytes = component("hostile.wasm");
    let sha = hex::encode(Sha256::digest(&bytes));
    let app = App::new("override", "nextcloud", &bytes);
    let file = app
        .op
        .home
        .path()
        .join("data/migrate/plugins/nextcloud.wasm");
    let before = app.state();

    // Without the flag: refused, naming the flag and the file.
    for args in [&["plan"][..], &["app", "--dry-run"], &["app"]] {
        let o = app.run(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", all_output(&o));
        assert!(err.contains("--allow-plugin-override nextcloud"), "{err}");
        assert!(err.contains(&file.display().to_string()), "{err}");
        assert!(!stdout(&o).contains("hostile fixture"), "{}", stdout(&o));
    }
    let up = app
        .op
        .migrate()
        .args(["upgrade-path", "nextcloud", "28.0.0", "29.0.0"])
        .output()
        .expect("run");
    assert_eq!(up.status.code(), Some(3), "{}", all_output(&up));
    assert!(stderr(&up).contains("--allow-plugin-override nextcloud"));
    let up = app
        .op
        .migrate()
        .args([
            "--allow-plugin-override",
            "nextcloud",
            "upgrade-path",
            "nextcloud",
        ])
        .args(["28.0.0", "29.0.0", "--json"])
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_str(stdout(&up).trim()).expect("json");
    assert_eq!(v["result"]["plugin"]["sha256"], sha.as_str(), "{v}");

    // With it: the user plugin plans, and the plan says which file and
    // which bytes (text, runbook, JSON).
    let flag = ["--allow-plugin-override", "nextcloud"];
    let text = app.run(&[&flag[..], &["plan"]].concat());
    assert_ok("plan with the override", &text);
    let text = stdout(&text);
    assert!(
        text.contains("The hostile fixture plugin planned this"),
        "{text}"
    );
    assert!(
        text.contains(&format!("user plugin {} (sha256 {sha})", file.display())),
        "{text}"
    );
    let md = app.run(&[&flag[..], &["plan", "--format", "markdown"]].concat());
    assert!(
        stdout(&md).contains(&format!("sha256 {sha}")),
        "{}",
        stdout(&md)
    );
    let json = app.run(&[&flag[..], &["plan", "--json"]].concat());
    let v: serde_json::Value = serde_json::from_str(stdout(&json).trim()).expect("json");
    assert_eq!(
        v["result"]["facts"]["plugin"]["sha256"],
        sha.as_str(),
        "{v}"
    );
    assert_eq!(v["result"]["facts"]["plugin"]["id"], "nextcloud");
    assert_not_pwned();
    assert_eq!(app.state(), before, "something changed on a server");
}
