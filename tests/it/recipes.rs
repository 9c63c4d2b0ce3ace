//! Recipes: the built-ins are valid, and a malformed recipe file is refused
//! with its file, line and column.

use crate::support::cli::*;

#[test]
fn builtin_recipes_list_and_show() {
    let home = tempfile::tempdir().expect("tempdir");
    let out = run(migrate(home.path()).args(["recipe", "list", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["command"], "recipe list", "{v}");
    let ids: Vec<&str> = v["result"]["recipes"]
        .as_array()
        .expect("recipes")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    for app in [
        "nextcloud",
        "mastodon",
        "hometown",
        "discourse",
        "mailu",
        "gitea",
    ] {
        assert!(ids.contains(&app), "{app} in {ids:?}");
    }
    let out = run(migrate(home.path()).args(["recipe", "show", "nextcloud"]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["app"]["plugin"], "nextcloud");
    assert!(!v["follow_ups"].as_array().expect("follow_ups").is_empty());
}

#[test]
fn malformed_recipe_names_file_line_and_column() {
    let home = tempfile::tempdir().expect("tempdir");
    let file = home.path().join("broken.toml");
    std::fs::write(
        &file,
        "[app]\nid = \"broken\"\nname = \"Broken\"\n\n[[services]]\nname = \"app\"\nports = [80, \"https\"]\n",
    )
    .expect("write");
    let out = run(migrate(home.path()).args(["recipe", "check"]).arg(&file));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:7:", file.display())),
        "file and line 7 named: {err}"
    );

    std::fs::write(
        &file,
        "[app]\nid = \"broken\"\nname = \"Broken\"\nplugins = \"x\"\n",
    )
    .expect("write");
    let out = run(migrate(home.path()).args(["recipe", "check"]).arg(&file));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(":4:1:"), "line 4 column 1: {err}");
    assert!(err.contains("plugins"), "names the unknown key: {err}");
}

#[test]
fn unknown_recipe_suggests_the_nearest() {
    let home = tempfile::tempdir().expect("tempdir");
    let out = run(migrate(home.path()).args(["recipe", "show", "nextclod"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean \"nextcloud\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_user_recipe_with_errors_is_reported_and_the_rest_listed() {
    let home = tempfile::tempdir().expect("tempdir");
    let dir = home.path().join("data/migrate/recipes");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("wiki.toml"), "[app]\nid = \"wiki\"\n").expect("write");
    let out = run(migrate(home.path()).args(["recipe", "list"]));
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("wiki") && text.contains("BROKEN"), "{text}");
    assert!(text.contains("missing field `name`"), "{text}");
    assert!(text.contains("nextcloud"), "{text}");
}
