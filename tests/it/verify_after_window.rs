//! `migrate app` keeps reading both trees out of the downtime window: the
//! final pass hashes only what it sent, and the whole trees are compared
//! once the app is back up (the verify-copy step). The comparison then
//! lets pass what the destination changed since the copy (newer there, or
//! new) and stops on what nothing there explains: a file whose content
//! differs under the source's mtime. Checked in the lab with Nextcloud
//! moved from a plain directory into a compose project; the planted
//! differences are made with the servers' own tools.

use serde_json::Value;

use crate::support::cli::stderr;
use crate::support::lab::{self, Need, ok};
use crate::support::nc_compose::NcCompose;

/// The journal's entries for `step` and `event`.
fn entries(journal: &str, step: &str, event: &str) -> Vec<Value> {
    journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["step"] == step && e["event"] == event)
        .collect()
}

#[test]
fn the_whole_tree_is_compared_after_the_window_and_only_unexplained_differences_stop_it() {
    let Some(_lab) = lab::enter(module_path!(), Need::Docker) else {
        return;
    };
    let f = NcCompose::install(
        "test-verify-after",
        "mtvfy",
        "Nextcloud into a compose project, its trees compared after the window",
    );
    f.run.kill_at("verify-copy");
    let j = f.run.journal_text();
    // The window (stop-source .. test-destination) is over before the
    // whole-tree comparison starts; the final pass checked what it sent.
    let tested = entries(&j, "test-destination", "done");
    let verify = entries(&j, "verify-copy", "start");
    assert!(
        !tested.is_empty() && !verify.is_empty(),
        "test-destination done and verify-copy started:\n{j}"
    );
    assert!(
        tested[0]["at_ms"].as_u64() <= verify[0]["at_ms"].as_u64(),
        "verify-copy started inside the window:\n{j}"
    );
    let fin = entries(&j, "final-sync", "done");
    let detail = fin
        .last()
        .and_then(|e| e["detail"].as_str())
        .unwrap_or_default();
    assert!(
        detail.contains("files sent are identical on both servers"),
        "the final pass did not check what it sent: {detail}\n{j}"
    );

    // Planted on dst after the copy: a photo whose bytes changed under the
    // source's mtime (what a bad disk or a broken write leaves), a note the
    // app edited, a file the app made.
    let vol = ok(
        "dst",
        &format!(
            "docker volume inspect -f '{{{{.Mountpoint}}}}' {}_html",
            f.project
        ),
    )
    .trim()
    .to_string();
    let files = format!("{vol}/data/alice/files");
    ok(
        "dst",
        &format!(
            "cd {files} && p=Photos/IMG_1.jpg && touch -r $p /tmp/mtvfy-ref && printf 'rot' | dd of=$p bs=1 seek=100 conv=notrunc status=none && touch -r /tmp/mtvfy-ref $p && rm -f /tmp/mtvfy-ref \
             && sleep 1 && echo edited >> Documents/note-1.md && echo new > Documents/new-since.md"
        ),
    );
    let o = f.run.app(&[]);
    let err = stderr(&o);
    assert_ne!(o.status.code(), Some(0), "a rotten file passed:\n{err}");
    assert!(
        err.contains("data/alice/files/Photos/IMG_1.jpg: content (sha256) differs"),
        "{err}"
    );
    assert!(
        !err.contains("note-1.md") && !err.contains("new-since.md"),
        "what the app changed was judged:\n{err}"
    );
    assert!(err.contains("migrate copy"), "no way out named:\n{err}");

    // The photo copied again from the source (stopped, untouched), with
    // its mtime and owner: the rerun's comparison passes.
    let src_photo = format!("{}/data/alice/files/Photos/IMG_1.jpg", f.root);
    let owner = ok("src", &format!("stat -c %u:%g {src_photo}"));
    ok(
        "src",
        &format!("scp -q -p {src_photo} dst:{files}/Photos/IMG_1.jpg"),
    );
    ok(
        "dst",
        &format!("chown {} {files}/Photos/IMG_1.jpg", owner.trim()),
    );
    let o = f.run.app(&[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&o),
        f.run.journal_text()
    );
    let j = f.run.journal_text();
    let done = entries(&j, "verify-copy", "done");
    let data = &done.last().expect("verify-copy done")["data"];
    assert!(
        data["changed_since"].as_u64().unwrap_or(0) >= 1
            && data["new_since"].as_u64().unwrap_or(0) >= 1,
        "{data}"
    );
    assert!(data["hashed"].as_u64().unwrap_or(0) > 30, "{data}");
}
