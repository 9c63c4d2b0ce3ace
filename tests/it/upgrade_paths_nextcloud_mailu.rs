//! Upgrade paths of the Nextcloud and Mailu plugins, driven through the
//! `migrate` binary: the real wasm components, loaded by the real host.
//!
//! Each case states the hop targets or the refusal kind the facts demand
//! (facts/apps.md §2 Nextcloud, §4 Mailu, §5 Co-op Cloud recipe versions).

use crate::support::cli;

use std::process::Output;

use serde_json::Value;

/// What the envelope says happened: a path (ok, exit 0), a refusal
/// (exit 3) or bad input (exit 2).
fn outcome_of(json: &Value) -> &'static str {
    if json["command"] != "upgrade-path" {
        return "?";
    }
    match (json["ok"].as_bool(), json["exit_code"].as_u64()) {
        (Some(true), Some(0)) => "path",
        (Some(false), Some(3)) => "refused",
        (Some(false), Some(2)) => "bad-input",
        _ => "?",
    }
}

struct Run {
    code: i32,
    json: Value,
    raw: Output,
}

thread_local! {
    // One isolated home per test (libtest runs each test on its own thread):
    // the calls inside a test run one after another and share the host's
    // compiled-component cache, as an operator's repeated calls would.
    static HOME: tempfile::TempDir = tempfile::tempdir().expect("tempdir");
}

fn upgrade_path(app: &str, from: &str, to: &str, extra: &[&str]) -> Run {
    let mut cmd = HOME.with(|home| cli::migrate(home.path()));
    cmd.args(["upgrade-path", app, from, to, "--json"])
        .args(extra);
    let (code, json, raw) = cli::run_json(&mut cmd);
    Run { code, json, raw }
}

fn hop_targets(r: &Run) -> Vec<String> {
    r.json["result"]["hops"]
        .as_array()
        .map(|hs| {
            hs.iter()
                .map(|h| h["to"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

enum Want {
    Hops(&'static [&'static str]),
    /// Exit 3 with this refusal kind.
    Refused(&'static str),
    /// Exit 2 with this kind.
    BadInput(&'static str),
}

struct Case {
    app: &'static str,
    from: &'static str,
    to: &'static str,
    extra: &'static [&'static str],
    want: Want,
    why: &'static str,
}

const fn case(
    app: &'static str,
    from: &'static str,
    to: &'static str,
    want: Want,
    why: &'static str,
) -> Case {
    Case {
        app,
        from,
        to,
        extra: &[],
        want,
        why,
    }
}

use Want::{BadInput, Hops, Refused};

const NC: &str = "nextcloud";
const MAILU: &str = "mailu";

static CASES: &[Case] = &[
    // --- Nextcloud: one major per hop, $OC_VersionCanBeUpgradedFrom ---
    case(
        NC,
        "27.1.4",
        "28.0.0",
        Hops(&["28.0.0"]),
        "28 accepts 27.1 (version.php of 28.0.0)",
    ),
    case(
        NC,
        "27.0.2",
        "28.0.4",
        Hops(&["28.0.4"]),
        "28 accepts 27.0 too",
    ),
    case(
        NC,
        "25.0.13",
        "28.0.4",
        Hops(&["26.0.13", "27.0.2", "28.0.4"]),
        "one major per hop",
    ),
    case(
        NC,
        "20.0.14",
        "23.0.12",
        Hops(&["21.0.9", "22.0.0", "22.2.10", "23.0.12"]),
        "23 accepts only 22.2; 22.2 is entered from 22.0 (conservative)",
    ),
    case(
        NC,
        "22.1.1",
        "23.0.12",
        Hops(&["22.2.10", "23.0.12"]),
        "22.1 must reach 22.2 before 23",
    ),
    case(
        NC,
        "30.0.10",
        "32.0.15",
        Hops(&["31.0.12", "32.0.15"]),
        "31 and 32 lists read",
    ),
    case(
        NC,
        "28.0.1",
        "28.0.4",
        Hops(&["28.0.4"]),
        "maintenance update",
    ),
    case(
        NC,
        "27.0.1",
        "27.1.11",
        Hops(&["27.1.11"]),
        "minor inside one major",
    ),
    case(
        NC,
        "28.0.4",
        "28.0.4",
        Hops(&[]),
        "same version: nothing to do",
    ),
    case(
        NC,
        "28.0.1.1",
        "28.0.1",
        Hops(&[]),
        "4-part and 3-part of one release",
    ),
    case(NC, "v28.0.4", "v29.0.1", Hops(&["29.0.1"]), "v prefix"),
    case(
        NC,
        "31.0.3.2",
        "32.0.0",
        Hops(&["32.0.0"]),
        "status.php's 4-part version",
    ),
    case(
        NC,
        "28.0.0 beta 1",
        "28.0.0",
        Hops(&["28.0.0"]),
        "versionstring prerelease form",
    ),
    case(
        NC,
        "28.0.4",
        "27.1.11",
        Refused("downgrade"),
        "no downgrade across majors",
    ),
    case(
        NC,
        "28.0.4",
        "28.0.3",
        Refused("downgrade"),
        "no downgrade inside a major",
    ),
    case(
        NC,
        "28.0.1.2",
        "28.0.1.1",
        Refused("downgrade"),
        "no downgrade at patch level",
    ),
    Case {
        extra: &["--zero-downtime"],
        ..case(
            NC,
            "28.0.4",
            "29.0.1",
            Refused("zero-downtime-unsupported"),
            "occ upgrade needs maintenance mode",
        )
    },
    Case {
        extra: &["--fact", "php-version=8.0.30"],
        ..case(
            NC,
            "29.0.16",
            "30.0.5",
            Refused("precondition-failed"),
            "30 needs PHP 8.1+",
        )
    },
    case(
        NC,
        "27.2.0",
        "28.0.0",
        BadInput("unknown-version"),
        "there is no 27.2",
    ),
    case(
        NC,
        "28.0.15",
        "29.0.1",
        BadInput("unknown-version"),
        "28 ended with 28.0.14",
    ),
    case(
        NC,
        "2024.06.1",
        "29.0.1",
        BadInput("unknown-version"),
        "date-based: not Nextcloud",
    ),
    case(
        NC,
        "28.0.1.2.3",
        "29.0.1",
        BadInput("malformed-version"),
        "five parts",
    ),
    case(
        NC,
        "twenty-eight",
        "29.0.1",
        BadInput("malformed-version"),
        "garbage",
    ),
    case(
        NC,
        "28",
        "29.0.1",
        BadInput("malformed-version"),
        "a major alone is no version",
    ),
    // --- Co-op Cloud recipe versions around Nextcloud ---
    case(
        NC,
        "5.0.0+28.0.4",
        "6.0.0+29.0.1",
        Hops(&["29.0.1"]),
        "recipe versions split",
    ),
    case(
        NC,
        "6.0.0+29.0.1",
        "5.0.0+28.0.4",
        Refused("downgrade"),
        "recipe downgrade",
    ),
    case(
        NC,
        "28.0.4_1",
        "29.0.1_1",
        Hops(&["29.0.1"]),
        "legacy _N recipe versions",
    ),
    case(
        NC,
        "28.0.4_1",
        "6.0.0+30.0.10",
        Hops(&["29.0.16", "30.0.10"]),
        "legacy to current scheme",
    ),
    case(
        NC,
        "5.0.0+27.2.0",
        "6.0.0+28.0.1",
        BadInput("unknown-version"),
        "recipe with no such app version",
    ),
    // --- Mailu: forward only, downgrade only inside one YYYY.MM ---
    case(
        MAILU,
        "1.9.3",
        "2024.06.3",
        Hops(&["2.0", "2024.06.3"]),
        "routed through 2.0 (direct jump unverified)",
    ),
    case(
        MAILU,
        "1.8",
        "2024.06",
        Hops(&["1.9", "2.0", "2024.06"]),
        "every series in turn",
    ),
    case(MAILU, "1.9", "2.0", Hops(&["2.0"]), "1.9 -> 2.0"),
    case(
        MAILU,
        "2.0.22",
        "2024.06.57",
        Hops(&["2024.06.57"]),
        "2.0 -> 2024.06",
    ),
    case(
        MAILU,
        "2024.06.3",
        "2024.06.1",
        Hops(&["2024.06.1"]),
        "downgrade inside 2024.06 is allowed",
    ),
    case(
        MAILU,
        "2024.06.1",
        "2024.06.3",
        Hops(&["2024.06.3"]),
        "update inside 2024.06",
    ),
    case(
        MAILU,
        "2024.6.3",
        "2024.06.3",
        Hops(&[]),
        "month without zero is the same version",
    ),
    case(
        MAILU,
        "v2.0.22",
        "v2024.06.5",
        Hops(&["2024.06.5"]),
        "v prefix",
    ),
    case(
        MAILU,
        "2024.06.3",
        "2.0.22",
        Refused("downgrade"),
        "no downgrade across series",
    ),
    case(
        MAILU,
        "2.0",
        "1.9",
        Refused("downgrade"),
        "no downgrade 2.0 -> 1.9",
    ),
    Case {
        extra: &["--zero-downtime"],
        ..case(
            MAILU,
            "2.0.22",
            "2024.06.5",
            Refused("zero-downtime-unsupported"),
            "compose down/up",
        )
    },
    case(
        MAILU,
        "2025.01",
        "2024.06.3",
        BadInput("unknown-version"),
        "no 2025.01 series",
    ),
    case(
        MAILU,
        "1.7",
        "2.0",
        BadInput("unknown-version"),
        "older than the notes the plugin has",
    ),
    case(
        MAILU,
        "2024.06.3-rc1",
        "2024.06.5",
        BadInput("unknown-version"),
        "Mailu has no prereleases",
    ),
    case(
        MAILU,
        "master",
        "2024.06.3",
        BadInput("malformed-version"),
        "moving tag",
    ),
    case(
        MAILU,
        "2024.13.1",
        "2024.06.3",
        BadInput("malformed-version"),
        "month 13",
    ),
    case(
        MAILU,
        "2024.06.1.1",
        "2024.06.3",
        BadInput("malformed-version"),
        "four parts",
    ),
    case(
        MAILU,
        "1.0.0+2.0.22",
        "2.0.0+2024.06.10",
        Hops(&["2024.06.10"]),
        "recipe versions split",
    ),
    case(
        MAILU,
        "2.0.0+2024.06.10",
        "1.0.0+2024.06.10",
        Refused("downgrade"),
        "recipe downgrade",
    ),
    case(
        MAILU,
        "2.0.22_2",
        "2024.06.10_1",
        Hops(&["2024.06.10"]),
        "legacy recipe versions",
    ),
];

#[test]
fn every_case_through_the_binary() {
    let mut failures = Vec::new();
    for c in CASES {
        let r = upgrade_path(c.app, c.from, c.to, c.extra);
        let label = format!("{} {} -> {} {:?} ({})", c.app, c.from, c.to, c.extra, c.why);
        let outcome = outcome_of(&r.json);
        let kind = r.json["error"]["kind"].as_str().unwrap_or("?");
        let problem = match &c.want {
            Hops(want) => {
                let got = hop_targets(&r);
                (r.code != 0 || outcome != "path" || got != *want).then(|| {
                    format!(
                        "wanted hops {want:?}, got exit {} {outcome} {got:?} {kind} {}",
                        r.code, r.json["error"]["message"]
                    )
                })
            }
            Refused(want) => (r.code != 3 || outcome != "refused" || kind != *want).then(|| {
                format!(
                    "wanted refusal {want}, got exit {} {outcome} {kind} {:?}",
                    r.code,
                    hop_targets(&r)
                )
            }),
            BadInput(want) => (r.code != 2 || outcome != "bad-input" || kind != *want).then(|| {
                format!(
                    "wanted bad input {want}, got exit {} {outcome} {kind} {:?}",
                    r.code,
                    hop_targets(&r)
                )
            }),
        };
        if let Some(p) = problem {
            failures.push(format!("{label}: {p}"));
        }
        // Every refusal says why in a sentence.
        if !matches!(c.want, Hops(_))
            && r.json["error"]["message"]
                .as_str()
                .is_none_or(|m| m.len() < 20)
        {
            failures.push(format!("{label}: refusal without a reason: {}", r.json));
        }
    }
    assert!(CASES.len() >= 25);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

fn exec_argv(step: &Value) -> Option<Vec<String>> {
    let exec = &step["action"]["exec"];
    exec["argv"].as_array().map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    })
}

#[test]
fn nextcloud_hops_run_occ_upgrade_then_add_missing_indices() {
    let r = upgrade_path(NC, "26.0.13", "28.0.4", &[]);
    assert_eq!(r.code, 0, "{}", r.json);
    let hops = r.json["result"]["hops"].as_array().expect("hops");
    assert_eq!(hops.len(), 2);
    for hop in hops {
        let argvs: Vec<Vec<String>> = hop["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .filter_map(exec_argv)
            .collect();
        let upgrade = argvs
            .iter()
            .position(|a| a.ends_with(&["occ".into(), "upgrade".into()]));
        let indices = argvs
            .iter()
            .position(|a| a.last().map(String::as_str) == Some("db:add-missing-indices"));
        assert!(
            matches!((upgrade, indices), (Some(u), Some(i)) if u < i),
            "hop {} steps: {argvs:?}",
            hop["to"]
        );
        assert!(!hop["notes"].as_array().expect("notes").is_empty());
    }
    // The chain 26 -> 27 -> 28 uses inferred accepted-from lists (27.0), and says so.
    let caveats = r.json["result"]["caveats"].to_string();
    assert!(caveats.contains("inferred"), "{caveats}");
}

#[test]
fn nextcloud_php_precondition_is_reported_met_or_unknown() {
    let unknown = upgrade_path(NC, "29.0.16", "30.0.5", &[]);
    let pre = &unknown.json["result"]["preconditions"][0];
    assert_eq!(pre["what"], "php-version");
    assert!(pre["met"].is_null(), "{pre}");
    let met = upgrade_path(NC, "29.0.16", "30.0.5", &["--fact", "php-version=8.3.4"]);
    assert_eq!(
        met.json["result"]["preconditions"][0]["met"], true,
        "{}",
        met.json
    );
    let failed = upgrade_path(NC, "29.0.16", "30.0.5", &["--fact", "php-version=7.4"]);
    assert_eq!(failed.code, 3);
    let suggestions = failed.json["error"]["suggestions"].to_string();
    assert!(suggestions.contains("PHP 8.1"), "{}", failed.json);
}

#[test]
fn nextcloud_reads_the_forms_status_php_prints() {
    let r = upgrade_path(NC, "31.0.3.2", "28.0.0 RC 1", &[]);
    assert_eq!(r.code, 3, "{}", r.json);
    let ok = upgrade_path(NC, "31.0.3.2", "32.0.0", &[]);
    assert_eq!(ok.json["result"]["from"]["canonical"], "31.0.3.2");
    assert_eq!(ok.json["result"]["from"]["series"], "31.0");
    let beta = upgrade_path(NC, "28.0.0 beta 1", "28.0.0", &[]);
    assert_eq!(
        beta.json["result"]["from"]["prerelease"], true,
        "{}",
        beta.json
    );
    assert_eq!(beta.json["result"]["from"]["canonical"], "28.0.0-beta1");
}

#[test]
fn unknown_versions_come_with_the_nearest_known_ones() {
    let nc = upgrade_path(NC, "27.2.0", "28.0.0", &[]);
    let s: Vec<String> = nc.json["error"]["suggestions"]
        .as_array()
        .expect("suggestions")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert!(
        !s.is_empty() && s.iter().all(|v| v.starts_with("27.")),
        "{s:?}"
    );
    let mailu = upgrade_path(MAILU, "2024.07.1", "2024.06.3", &[]);
    assert_eq!(mailu.code, 2);
    let s = mailu.json["error"]["suggestions"].to_string();
    assert!(s.contains("2024.06"), "{s}");
}

#[test]
fn mailu_route_through_2_0_is_flagged_as_unverified() {
    let r = upgrade_path(MAILU, "1.9", "2024.06", &[]);
    assert_eq!(hop_targets(&r), ["2.0", "2024.06"]);
    let caveats = r.json["result"]["caveats"].to_string();
    assert!(caveats.contains("unverified"), "{caveats}");
    // The 2024.06 hop rebuilds the full-text indexes after the new images run.
    let steps: Vec<String> = r.json["result"]["hops"][1]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["id"].as_str().unwrap_or("").to_string())
        .collect();
    let pos = |id: &str| {
        steps
            .iter()
            .position(|s| s == id)
            .unwrap_or_else(|| panic!("{id} not in {steps:?}"))
    };
    assert!(pos("mailu-2024.06-up") < pos("mailu-2024.06-drop-xapian"));
    assert!(pos("mailu-2024.06-drop-xapian") < pos("mailu-2024.06-fts-rescan"));
    assert!(pos("mailu-2024.06-fts-rescan") < pos("mailu-2024.06-fts-index"));
    let notes = r.json["result"]["hops"][1]["notes"].to_string();
    assert!(notes.contains("143, 110 and 587"), "{notes}");
}

#[test]
fn unknown_app_is_bad_input() {
    let r = upgrade_path("nextclod", "28.0.4", "29.0.1", &[]);
    assert_eq!(r.code, 2, "{}", cli::stderr(&r.raw));
    assert_eq!(r.json["error"]["kind"], "unknown-app");
    assert!(
        r.json["error"]["suggestions"]
            .to_string()
            .contains("nextcloud")
    );
}

#[test]
fn declared_examples_pass_through_the_host() {
    for app in [NC, MAILU] {
        let home = tempfile::tempdir().expect("tempdir");
        let out = cli::run(cli::migrate(home.path()).args(["plugin", "test", app]));
        assert!(
            out.status.success(),
            "migrate plugin test {app}:\n{}\n{}",
            cli::stdout(&out),
            cli::stderr(&out)
        );
    }
}

#[test]
fn the_co_op_cloud_label_probe_names_the_stack_of_the_context() {
    use migrate::plugin::{Context, LayoutKind, ProbeKind, SideContext};
    let engine = migrate::plugin::PluginEngine::new(None, Default::default()).expect("engine");
    let registry = migrate::plugin::Registry::discover(std::sync::Arc::new(engine), &[], &[])
        .expect("registry");
    let side = |layout, stack: Option<&str>| SideContext {
        layout,
        stack: stack.map(str::to_string),
        app_dir: "/var/www/html".into(),
    };
    let stack = Context {
        domain: "cloud.example.net".into(),
        old_domain: None,
        source: side(LayoutKind::Stack, Some("cloud_example_net")),
        destination: side(LayoutKind::Stack, Some("cloud_example_net")),
        target_version: None,
    };
    let plain = Context {
        source: side(LayoutKind::Directory, None),
        destination: side(LayoutKind::Directory, None),
        ..stack.clone()
    };
    for id in ["nextcloud", "mailu"] {
        let plugin = registry.load(id).expect("built-in");
        let probes = plugin.probes(&stack).expect("probes");
        assert!(
            matches!(&probes[0].kind, ProbeKind::DockerLabel((service, label))
                if service == "app" && label == "coop-cloud.cloud_example_net.version"),
            "{id}: the stack's label is read first: {probes:?}"
        );
        assert_eq!(probes[0].id, "coop-cloud-label");
        // A plain install has no stack, so no label probe (and no
        // `${STACK_NAME}` left for nobody to fill in).
        let probes = plugin.probes(&plain).expect("probes");
        assert!(
            !probes.iter().any(|p| p.id == "coop-cloud-label"),
            "{id}: {probes:?}"
        );
    }
}
