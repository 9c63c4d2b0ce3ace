//! `migrate plugin new NAME`: a plugin crate that builds to a component,
//! loads, and passes its own tests out of the box. The SDK and the contract
//! are vendored into the crate, so it builds anywhere with only crates.io.

use std::fs;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "{0:?} is not a valid plugin id: use lowercase letters, digits and dashes, starting with a letter (e.g. `gitea`)"
    )]
    BadName(String),
    #[error("{0} already exists; choose another directory with --dir, nothing was written")]
    Exists(String),
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

const SDK_FILES: &[(&str, &str)] = &[
    (
        "sdk/src/lib.rs",
        include_str!("../../../plugins/sdk/src/lib.rs"),
    ),
    (
        "sdk/src/adapter.rs",
        include_str!("../../../plugins/sdk/src/adapter.rs"),
    ),
    (
        "sdk/src/build.rs",
        include_str!("../../../plugins/sdk/src/build.rs"),
    ),
    (
        "sdk/src/context.rs",
        include_str!("../../../plugins/sdk/src/context.rs"),
    ),
    (
        "sdk/src/coopcloud.rs",
        include_str!("../../../plugins/sdk/src/coopcloud.rs"),
    ),
    (
        "sdk/src/host.rs",
        include_str!("../../../plugins/sdk/src/host.rs"),
    ),
    (
        "sdk/src/testing.rs",
        include_str!("../../../plugins/sdk/src/testing.rs"),
    ),
    (
        "sdk/src/version.rs",
        include_str!("../../../plugins/sdk/src/version.rs"),
    ),
    (
        "sdk/wit/types.wit",
        include_str!("../../../wit/v0.2/types.wit"),
    ),
    (
        "sdk/wit/host.wit",
        include_str!("../../../wit/v0.2/host.wit"),
    ),
    (
        "sdk/wit/plugin.wit",
        include_str!("../../../wit/v0.2/plugin.wit"),
    ),
    (
        "sdk/wit/worlds.wit",
        include_str!("../../../wit/v0.2/worlds.wit"),
    ),
];

const SDK_MANIFEST: &str = r#"[package]
name = "migrate-plugin-sdk"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
wit-bindgen = "0.63.0"
semver = "1"
"#;

/// The Rust library name cargo gives the crate (`gitea-plugin` → `gitea_plugin`).
pub fn lib_name(id: &str) -> String {
    format!("{}_plugin", id.replace('-', "_"))
}

fn valid(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && id.len() <= 40
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.ends_with('-')
}

/// The files `create` would write (paths relative to `dir`, contents),
/// after the same checks; writes nothing.
pub fn files(id: &str, dir: &Path) -> Result<Vec<(String, String)>, ScaffoldError> {
    if !valid(id) {
        return Err(ScaffoldError::BadName(id.to_string()));
    }
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir.display().to_string()));
    }
    let title = {
        let mut c = id.chars();
        c.next()
            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
            .unwrap_or_default()
    };
    let type_name: String = title
        .split('-')
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let mut files: Vec<(String, String)> = SDK_FILES
        .iter()
        .map(|(p, c)| (p.to_string(), c.to_string()))
        .collect();
    files.push(("sdk/Cargo.toml".into(), SDK_MANIFEST.into()));
    files.push((
        "Cargo.toml".into(),
        format!(
            r#"[package]
name = "{id}-plugin"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
migrate-plugin-sdk = {{ path = "sdk" }}

# A standalone crate, not part of any enclosing workspace.
[workspace]

[profile.release]
opt-level = "s"
strip = true
"#
        ),
    ));
    files.push(("src/lib.rs".into(), template(id, &title, &type_name)));
    files.push(("README.md".into(), readme(id)));
    files.push((".gitignore".into(), "/target\n".into()));
    Ok(files)
}

pub fn create(id: &str, dir: &Path) -> Result<(), ScaffoldError> {
    for (rel, content) in files(id, dir)? {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|source| ScaffoldError::Io {
                path: parent.display().to_string(),
                source,
            })?;
        }
        fs::write(&path, content).map_err(|source| ScaffoldError::Io {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

fn template(id: &str, title: &str, ty: &str) -> String {
    format!(
        r#"//! The {title} recipe plugin for migrate.
//!
//! Plugins know; the host acts: everything here returns data (versions,
//! hops, steps, checks). Edit the rules below, keep `examples()` true, and
//! run `cargo test` and `migrate plugin test <the .wasm>`.

use migrate_plugin_sdk::prelude::*;

pub struct {ty};

/// Releases this plugin knows, oldest first.
const KNOWN: &[&str] = &["1.0.0", "1.1.0", "2.0.0"];

impl Plugin for {ty} {{
    fn info() -> AppInfo {{
        app_info("{id}", "{title}", "1.0.0 to 2.0.0")
    }}

    fn parse(raw: &str) -> Result<Version, Refusal> {{
        let v = simple_version(raw)?;
        if !KNOWN.contains(&v.canonical.as_str()) {{
            return Err(refuse_with(
                RefusalKind::UnknownVersion,
                format!("{{raw}} is not a {title} release this plugin knows"),
                nearest(raw, &Self::known()),
            ));
        }}
        Ok(v)
    }}

    fn known() -> Vec<String> {{
        KNOWN.iter().map(|s| s.to_string()).collect()
    }}

    fn upgrade_path(req: &UpgradeRequest) -> Result<UpgradePlan, Refusal> {{
        let mut plan = forward_only(req, Self::parse)?;
        for hop in &mut plan.hops {{
            hop.steps.push(step(
                "upgrade",
                Phase::Cutover,
                Risk::Reversible,
                "Run the app's database migrations",
                exec(in_service(Side::Destination, "app", &["{id}", "migrate"])),
            ));
        }}
        Ok(plan)
    }}

    /// `ctx` says how the source runs the app: a Co-op Cloud stack's
    /// deploy label is read first there.
    fn probes(ctx: &Context) -> Vec<Probe> {{
        let own = vec![Probe {{
            id: "image".into(),
            side: Side::Source,
            kind: ProbeKind::ImageTag("app".into()),
        }}];
        migrate_plugin_sdk::coopcloud::with_label_probe(ctx, own)
    }}

    fn data_layout() -> Vec<DataItem> {{
        vec![DataItem {{
            id: "data".into(),
            kind: DataKind::Volume,
            location: "data".into(),
            engine: DbEngine::None,
            service: Some("app".into()),
            description: "Everything the app stores".into(),
            cache: false,
        }}]
    }}

    /// After the copy: when the move changes the domain, the app's own
    /// idea of its URL must follow (the context says both names).
    fn post_copy(ctx: &Context) -> Vec<Step> {{
        match ctx.domain_change() {{
            Some((old, new)) => vec![step(
                "base-url",
                Phase::Cutover,
                Risk::Reversible,
                &format!("Change the app's base URL from {{old}} to {{new}}"),
                exec(in_service(Side::Destination, "app", &["{id}", "set-url", &format!("https://{{new}}")])),
            )],
            None => Vec::new(),
        }}
    }}

    fn smoke_checks(_ctx: &Context) -> Vec<SmokeCheck> {{
        vec![check(
            "http-root",
            "The app answers on /",
            Side::Destination,
            Action::Http(http("/", 200)),
        )]
    }}

    fn examples() -> Vec<Example> {{
        vec![
            Example {{ from: "1.0.0".into(), to: "2.0.0".into(), zero_downtime: false, expect: Expectation::Hops(vec!["2.0.0".into()]) }},
            Example {{ from: "1.1.0".into(), to: "1.1.0".into(), zero_downtime: false, expect: Expectation::Hops(vec![]) }},
            Example {{ from: "2.0.0".into(), to: "1.0.0".into(), zero_downtime: false, expect: Expectation::Refused(RefusalKind::Downgrade) }},
        ]
    }}
}}

migrate_plugin_sdk::register_plugin!({ty});

#[cfg(test)]
mod tests {{
    use super::*;

    #[test]
    fn examples_hold() {{
        let failures = migrate_plugin_sdk::example_failures::<{ty}>();
        assert!(failures.is_empty(), "{{failures:#?}}");
    }}

    #[test]
    fn a_domain_change_moves_the_base_url() {{
        use migrate_plugin_sdk::testing;
        let same = testing::context("app.example.net").build();
        assert!({ty}::post_copy(&same).is_empty());
        let moved = testing::context("app.example.net").old_domain("old.example.org").build();
        let steps = {ty}::post_copy(&moved);
        assert_eq!(steps[0].id, "base-url");
        assert!(steps[0].title.contains("old.example.org"), "{{}}", steps[0].title);
    }}

    #[test]
    fn unknown_versions_get_suggestions() {{
        let r = {ty}::parse("1.0.9").unwrap_err();
        assert_eq!(r.kind, RefusalKind::UnknownVersion);
        assert!(r.suggestions.contains(&"1.0.0".to_string()));
    }}
}}
"#
    )
}

fn readme(id: &str) -> String {
    format!(
        r#"# {id} — a migrate recipe plugin

```sh
cargo test                                           # the plugin's rules, natively
cargo build --release --target wasm32-wasip2         # the component
migrate plugin test target/wasm32-wasip2/release/{lib}.wasm   # its examples, through the host
cp target/wasm32-wasip2/release/{lib}.wasm ~/.local/share/migrate/plugins/{id}.wasm
migrate upgrade-path {id} 1.0.0 2.0.0
```

`sdk/` is a copy of the SDK and `sdk/wit/` of the contract (migrate:recipe@0.2.0)
this plugin was made against. The contract's comments say what every function
and record means; `sdk/src/lib.rs` lists what a `Plugin` can implement. The
migration's `Context` (domain, old domain, each side's layout, stack and app
directory, target version) comes to the calls that depend on it;
`migrate_plugin_sdk::testing` builds one for unit tests.
"#,
        lib = lib_name(id)
    )
}
