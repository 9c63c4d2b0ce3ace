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
    let mut c = Comparer::new(src.to_vec());
    for d in dst {
        if let Some(h) = &d.sha256 {
            c.dst_hash(&d.path, h);
        }
    }
    for d in dst {
        c.dst_entry(d);
    }
    c.finish()
}

/// What was learnt about one source entry from the destination.
#[derive(Clone, Copy, Default)]
struct Seen {
    entry: bool,
    hash: bool,
}

/// Streaming comparison: the source side is held (sorted by path, hashes
/// attached), the destination's hashes and entries are fed one at a time and
/// never stored, so the operator holds one manifest, not two plus maps.
pub struct Comparer {
    src: Vec<Entry>,
    seen: Vec<Seen>,
    /// Destination inode of each multi-link source file (hard-link check).
    dst_ino: HashMap<usize, u64>,
    v: Verdict,
}

impl Comparer {
    pub fn new(mut src: Vec<Entry>) -> Self {
        src.retain(|e| e.kind != b's');
        src.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        let seen = vec![Seen::default(); src.len()];
        Comparer {
            src,
            seen,
            dst_ino: HashMap::new(),
            v: Verdict::default(),
        }
    }

    fn find(&self, path: &[u8]) -> Option<usize> {
        self.src
            .binary_search_by(|e| e.path.as_slice().cmp(path))
            .ok()
    }

    /// A destination file's digest.
    pub fn dst_hash(&mut self, path: &[u8], digest: &[u8; 32]) {
        let Some(i) = self.find(path) else { return };
        let s = &self.src[i];
        if s.kind != b'f' {
            return;
        }
        self.seen[i].hash = true;
        match &s.sha256 {
            Some(a) if **a != *digest => self.v.differences.push(format!(
                "differs: {}: content (sha256) differs",
                display(&s.path)
            )),
            Some(_) => self.v.hashed += 1,
            None => {}
        }
    }

    /// A destination manifest entry.
    pub fn dst_entry(&mut self, d: &Entry) {
        if d.kind == b's' {
            return;
        }
        let Some(i) = self.find(&d.path) else {
            self.v
                .differences
                .push(format!("only on destination: {}", display(&d.path)));
            return;
        };
        self.seen[i].entry = true;
        let s = &self.src[i];
        let p = display(&s.path);
        if s.kind != d.kind {
            self.v.differences.push(format!(
                "type differs: {p} ({} vs {})",
                s.kind as char, d.kind as char
            ));
            return;
        }
        if s.kind == b'f' && s.nlink > 1 {
            self.dst_ino.insert(i, d.ino);
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
        if s.kind == b'f' && s.size != d.size {
            what.push(format!("size {} vs {}", s.size, d.size));
        }
        if !what.is_empty() {
            self.v
                .differences
                .push(format!("differs: {p}: {}", what.join(", ")));
        }
    }

    pub fn finish(mut self) -> Verdict {
        for (s, seen) in self.src.iter().zip(&self.seen) {
            if s.kind != b'd' {
                self.v.files += 1;
            }
            if s.kind == b'f' {
                self.v.bytes += s.size;
            }
            if !seen.entry {
                self.v
                    .differences
                    .push(format!("missing on destination: {}", display(&s.path)));
            } else if s.kind == b'f' && s.sha256.is_some() && !seen.hash {
                self.v.differences.push(format!(
                    "differs: {}: could not be read on the destination",
                    display(&s.path)
                ));
            }
        }
        // Hard links: paths sharing an inode on src must share one on dst.
        let mut groups: HashMap<u64, Vec<usize>> = HashMap::new();
        for (i, s) in self.src.iter().enumerate() {
            if s.kind == b'f' && s.nlink > 1 {
                groups.entry(s.ino).or_default().push(i);
            }
        }
        for g in groups.values().filter(|g| g.len() > 1) {
            let inos: Vec<Option<u64>> = g.iter().map(|i| self.dst_ino.get(i).copied()).collect();
            if inos.iter().any(|i| *i != inos[0]) {
                let names: Vec<String> = g.iter().map(|i| display(&self.src[*i].path)).collect();
                self.v
                    .differences
                    .push(format!("hard link not preserved: {}", names.join(" = ")));
            }
        }
        self.v.differences.sort();
        self.v
    }
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
