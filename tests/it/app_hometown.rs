//! `migrate app` for Hometown (the Mastodon fork) in the two-server lab,
//! compose project to compose project: the lab's Mastodon stand-in with
//! Hometown's version.rb (4.0.10 with `hometown_version` 1.1.1, so the web
//! stand-in reports `4.0.10+hometown-1.1.1`), its database in the `db`
//! container and Sidekiq's queued jobs in the `redis` service's volume.
//! The migration names the target in the `v`-prefixed form Hometown's tags
//! use (`v4.0.10+hometown-1.1.1`); the plugin reads both as one version.

use std::ops::Deref;

use crate::support::cli::{stderr, stdout};
use crate::support::http;
use crate::support::lab::{self, Need, ok};
use crate::support::masto_compose::{MastoCompose, Spec};

const DOMAIN: &str = "town.example.test";

struct Town(MastoCompose);

impl Deref for Town {
    type Target = MastoCompose;
    fn deref(&self) -> &MastoCompose {
        &self.0
    }
}

impl Town {
    fn new() -> Town {
        Town(MastoCompose::install(&Spec {
            stem: "town",
            domain: DOMAIN,
            install_env: "VERSION=4.0.10 HOMETOWN=1.1.1",
            head: "app = \"hometown\"\ntarget_version = \"v4.0.10+hometown-1.1.1\"",
            tail: "",
        }))
    }

    fn tree(&self, host: &str) -> String {
        ok(
            host,
            &format!(
                "cd {} && find . ! -path ./public -printf '%P %y %s %m %U:%G\\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum",
                self.root
            ),
        )
    }

    fn rows(&self, host: &str) -> String {
        self.dc(
            host,
            &format!(
                "exec -T -u postgres db psql -X -Atqd {} -c 'select count(*), md5(string_agg(t::text, $$,$$ order by t::text)) from accounts t'",
                self.db
            ),
        )
    }

    fn version(&self, addr: &str) -> String {
        let (code, body) = http::get(addr, self.port, DOMAIN, "/api/v1/instance");
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        v["version"].as_str().unwrap_or("").to_string()
    }
}

#[test]
fn hometown_moves_from_one_compose_project_to_another() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let f = Town::new();
    assert_eq!(f.version("127.0.0.2"), "4.0.10+hometown-1.1.1");
    f.dc(
        "src",
        "exec -T sidekiq python3 /mastodon/worker.py enqueue 50",
    );
    let src_tree = f.tree("src");
    let src_rows = f.rows("src");
    assert!(src_rows.starts_with("65|"), "{src_rows}");

    let o = f
        .run
        .migrate()
        .args(["plan", "--file"])
        .arg(&f.run.file)
        .output()
        .expect("plan");
    let plan = stdout(&o);
    assert!(o.status.success(), "{plan}{}", stderr(&o));
    // The instance API's form and the tag's `v` form are the same release.
    assert!(plan.contains("Source runs Hometown"), "{plan}");
    assert!(plan.contains("hometown-1.1.1"), "{plan}");
    assert!(plan.contains("Upgrade hops: none (same version)"), "{plan}");
    assert!(
        plan.contains("Sidekiq queues: default 50; schedule 0, retry 0, dead 0"),
        "{plan}"
    );

    let o = f.run.app(&[]);
    let report = stdout(&o);
    assert!(o.status.success(), "{report}{}", stderr(&o));
    assert_eq!(f.tree("dst"), src_tree);
    assert_eq!(f.rows("dst"), src_rows);
    assert_eq!(f.version("127.0.0.3"), "4.0.10+hometown-1.1.1");
    assert_eq!(
        f.dc("dst", "exec -T redis redis-cli llen queue:default")
            .trim(),
        "50"
    );
    assert!(report.contains("VERDICT: PASS"), "{report}");
}
