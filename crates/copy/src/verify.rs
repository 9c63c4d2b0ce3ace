//! Compare what arrived with what was sent, entry by entry.

use std::collections::HashMap;

use crate::manifest::{Entry, display};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Non-directory entries compared.
    pub files: u64,
    /// Bytes of regular-file data compared.
    pub bytes: u64,
    /// Entries whose content was compared by sha256.
    pub hashed: u64,
    /// One human line per difference.
    pub differences: Vec<String>,
}

impl Verdict {
    pub fn identical(&self) -> bool {
        self.differences.is_empty()
    }
}

fn fmt_mtime(ns: i64) -> String {
    format!(
        "{}.{:09}",
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000)
    )
}

/// Compare two manifests (sockets are skipped: tar cannot carry them).
pub fn compare(src: &[Entry], dst: &[Entry]) -> Verdict {
    let dmap: HashMap<&[u8], &Entry> = dst.iter().map(|e| (e.path.as_slice(), e)).collect();
    let mut v = Verdict::default();
    let mut smap: HashMap<&[u8], ()> = HashMap::new();
    for s in src.iter().filter(|e| e.kind != b's') {
        smap.insert(&s.path, ());
        let p = display(&s.path);
        if s.kind != b'd' {
            v.files += 1;
        }
        if s.kind == b'f' {
            v.bytes += s.size;
        }
        let Some(d) = dmap.get(s.path.as_slice()) else {
            v.differences.push(format!("missing on destination: {p}"));
            continue;
        };
        if s.kind != d.kind {
            v.differences.push(format!(
                "type differs: {p} ({} vs {})",
                s.kind as char, d.kind as char
            ));
            continue;
        }
        let mut what = Vec::new();
        if s.uid != d.uid || s.gid != d.gid {
            what.push(format!("owner {}:{} vs {}:{}", s.uid, s.gid, d.uid, d.gid));
        }
        if s.kind != b'l' && s.mode != d.mode {
            what.push(format!("mode {:o} vs {:o}", s.mode, d.mode));
        }
        if s.kind != b'l' && s.mtime_ns != d.mtime_ns {
            what.push(format!(
                "mtime {} vs {}",
                fmt_mtime(s.mtime_ns),
                fmt_mtime(d.mtime_ns)
            ));
        }
        if s.kind == b'l' && s.target != d.target {
            what.push(format!(
                "link target {} vs {}",
                display(&s.target),
                display(&d.target)
            ));
        }
        if s.kind == b'f' {
            if s.size != d.size {
                what.push(format!("size {} vs {}", s.size, d.size));
            }
            match (&s.sha256, &d.sha256) {
                (Some(a), Some(b)) if a != b => what.push("content (sha256) differs".into()),
                (Some(_), Some(_)) => v.hashed += 1,
                (Some(_), None) => what.push("could not be read on the destination".into()),
                _ => {}
            }
        }
        if !what.is_empty() {
            v.differences
                .push(format!("differs: {p}: {}", what.join(", ")));
        }
    }
    for d in dst.iter().filter(|e| e.kind != b's') {
        if !smap.contains_key(d.path.as_slice()) {
            v.differences
                .push(format!("only on destination: {}", display(&d.path)));
        }
    }
    // Hard links: paths sharing an inode on src must share one on dst.
    let mut groups: HashMap<u64, Vec<&Entry>> = HashMap::new();
    for s in src.iter().filter(|e| e.kind == b'f' && e.nlink > 1) {
        groups.entry(s.ino).or_default().push(s);
    }
    for g in groups.values().filter(|g| g.len() > 1) {
        let inos: Vec<Option<u64>> = g
            .iter()
            .map(|s| dmap.get(s.path.as_slice()).map(|d| d.ino))
            .collect();
        if inos.iter().any(|i| *i != inos[0]) {
            let names: Vec<String> = g.iter().map(|s| display(&s.path)).collect();
            v.differences
                .push(format!("hard link not preserved: {}", names.join(" = ")));
        }
    }
    v.differences.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, ino: u64) -> Entry {
        Entry {
            path: path.as_bytes().to_vec(),
            kind: b'f',
            size: 3,
            mtime_ns: 7,
            mode: 0o644,
            uid: 991,
            gid: 991,
            ino,
            nlink: 1,
            target: vec![],
            sha256: Some(Box::new([1; 32])),
        }
    }

    #[test]
    fn identical_trees_pass() {
        let a = vec![f("x", 1), f("y", 2)];
        let mut b = a.clone();
        b[0].ino = 50;
        let v = compare(&a, &b);
        assert!(v.identical(), "{:?}", v.differences);
        assert_eq!((v.files, v.bytes, v.hashed), (2, 6, 2));
    }

    #[test]
    fn every_kind_of_difference_is_named() {
        let mut a = vec![
            f("same-ino-1", 9),
            f("same-ino-2", 9),
            f("content", 3),
            f("gone", 4),
            f("owner", 5),
        ];
        a[0].nlink = 2;
        a[1].nlink = 2;
        let mut b = vec![
            f("same-ino-1", 20),
            f("same-ino-2", 21),
            f("content", 3),
            f("owner", 5),
            f("extra", 6),
        ];
        b[2].sha256 = Some(Box::new([2; 32]));
        b[3].uid = 0;
        let v = compare(&a, &b);
        let all = v.differences.join("\n");
        assert!(
            all.contains("differs: content: content (sha256) differs"),
            "{all}"
        );
        assert!(all.contains("missing on destination: gone"), "{all}");
        assert!(all.contains("only on destination: extra"), "{all}");
        assert!(all.contains("owner 991:991 vs 0:991"), "{all}");
        assert!(all.contains("hard link not preserved"), "{all}");
    }
}
