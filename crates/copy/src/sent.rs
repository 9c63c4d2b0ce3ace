//! Checking what one pass wrote: the files it sent are hashed on both
//! servers and compared, nothing else. A final pass of a few percent of the
//! tree checks its own work in a few percent of a full verification's time,
//! so a move's downtime window does not pay for re-reading both trees; the
//! full comparison (`verify_trees`, or `job::verify_unchanged` once the app
//! runs on the destination) can come after the window.

use std::collections::HashMap;

use migrate_remote::{Host, sh_quote};

use crate::error::CopyError;
use crate::manifest::{self, display};
use crate::verify::Verdict;

/// The shell text hashing, under `root`, the regular files among the
/// NUL-separated relative paths on stdin (symlinks and special files are
/// checked by the listing, not by content): `HASH  ./PATH\0` records.
pub fn hash_listed_command(root: &str) -> String {
    format!(
        "cd {} && xargs -0 -r sh -c 'find \"$@\" -maxdepth 0 -type f -print0' sh | xargs -0 -r sha256sum -z --",
        sh_quote(root)
    )
}

/// The stdin of [`hash_listed_command`]: each path as `./PATH\0`, so that
/// no name can read as an option.
pub fn listed_paths(paths: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(paths.iter().map(|p| p.len() + 3).sum());
    for p in paths {
        out.extend_from_slice(b"./");
        out.extend_from_slice(p);
        out.push(0);
    }
    out
}

/// Path → digest from the output of [`hash_listed_command`].
pub fn parse_digests(out: &[u8]) -> HashMap<Vec<u8>, [u8; 32]> {
    let mut digests = HashMap::new();
    let mut recs = manifest::NulRecords::default();
    recs.feed(out, &mut |rec| {
        if let Some((p, d)) = manifest::hash_record(rec) {
            digests.insert(p.to_vec(), d);
        }
    });
    digests
}

/// Compare the two sides' digests of the files a pass sent.
pub fn compare_sent(src: &HashMap<Vec<u8>, [u8; 32]>, dst: &HashMap<Vec<u8>, [u8; 32]>) -> Verdict {
    let mut v = Verdict {
        sent_only: true,
        ..Verdict::default()
    };
    for (p, a) in src {
        v.files += 1;
        match dst.get(p) {
            Some(b) if a == b => v.hashed += 1,
            Some(_) => v
                .differences
                .push(format!("differs: {}: content (sha256) differs", display(p))),
            None => v.differences.push(format!(
                "missing on destination: {} (sent by this pass)",
                display(p)
            )),
        }
    }
    v.differences.sort();
    v
}

/// Hash the files `paths` (relative to each side's root) on both servers
/// at once and compare them.
pub async fn verify_sent(
    src: &Host,
    dst: &Host,
    src_root: &str,
    dst_root: &str,
    paths: &[&[u8]],
) -> Result<Verdict, CopyError> {
    if paths.is_empty() {
        return Ok(Verdict {
            sent_only: true,
            ..Verdict::default()
        });
    }
    let list = listed_paths(paths);
    let (sc, dc) = (hash_listed_command(src_root), hash_listed_command(dst_root));
    let (s, d) = tokio::try_join!(
        src.sh("hashing what this pass sent", &sc, Some(&list)),
        dst.sh("hashing what this pass wrote", &dc, Some(&list))
    )?;
    Ok(compare_sent(&parse_digests(&s), &parse_digests(&d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(path: &str, byte: u8) -> Vec<u8> {
        let mut r = hex::encode([byte; 32]).into_bytes();
        r.extend_from_slice(b"  ./");
        r.extend_from_slice(path.as_bytes());
        r.push(0);
        r
    }

    #[test]
    fn only_the_sent_files_are_judged() {
        let s = parse_digests(&[rec("a", 1), rec("b\nc", 2), rec("gone", 3)].concat());
        let d = parse_digests(&[rec("a", 1), rec("b\nc", 9)].concat());
        let v = compare_sent(&s, &d);
        assert!(v.sent_only);
        assert_eq!((v.files, v.hashed), (3, 1));
        assert_eq!(
            v.differences,
            vec![
                "differs: b\\nc: content (sha256) differs".to_string(),
                "missing on destination: gone (sent by this pass)".to_string()
            ]
        );
        assert!(compare_sent(&s, &s).identical());
    }

    #[test]
    fn names_cannot_read_as_options() {
        assert_eq!(
            listed_paths(&[b"-rf".as_slice(), b"x y".as_slice()]),
            b"./-rf\0./x y\0".to_vec()
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "d=$(mktemp -d) && mkdir -p \"$d/sub\" && printf a > \"$d/-rf\" && printf b > \"$d/sub/x y\" && ln -s -- -rf \"$d/link\" && printf './-rf\\0./sub/x y\\0./link\\0./sub\\0' | ( {} ); rc=$?; rm -rf \"$d\"; exit $rc",
                hash_listed_command("$d").replace("'$d'", "\"$d\"")
            ))
            .output()
            .expect("sh runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = parse_digests(&out.stdout);
        let mut names: Vec<_> = got.keys().map(|k| display(k)).collect();
        names.sort();
        // The regular files only: not the symlink, not the directory.
        assert_eq!(names, vec!["-rf".to_string(), "sub/x y".to_string()]);
    }
}
