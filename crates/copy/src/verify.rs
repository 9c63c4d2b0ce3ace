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
    /// Only the files one pass sent were compared (`sent::verify_sent`).
    pub sent_only: bool,
    /// Entries left out because the destination changed them after the
    /// copy (newer there than on the source): the app, running there, or
    /// the move's own steps after the copy (see `Comparer::since_copy`).
    pub changed_on_destination: u64,
    /// Entries only the destination has, made after the copy.
    pub new_on_destination: u64,
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
    /// The destination's digest differs; judged with its entry, which
    /// comes after the digests and may show the file changed since.
    content_differs: bool,
    /// Changed on the destination after the copy: not judged.
    changed_since: bool,
}

/// Streaming comparison: the source side is held (sorted by path, hashes
/// attached), the destination's hashes and entries are fed one at a time and
/// never stored, so the operator holds one manifest, not two plus maps.
pub struct Comparer {
    src: Vec<Entry>,
    seen: Vec<Seen>,
    /// Destination inode of each multi-link source file (hard-link check).
    dst_ino: HashMap<usize, u64>,
    /// See [`Comparer::since_copy`].
    since_copy: bool,
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
            since_copy: false,
            v: Verdict::default(),
        }
    }

    /// Compare a destination that has been in use since the copy: an entry
    /// newer there than on the source was changed after the copy (every
    /// entry a pass writes gets the source's mtime), so it is counted, not
    /// judged; an entry only the destination has is new since. What still
    /// counts is what the app has no reason to do: content that differs
    /// under the source's mtime, owners and modes, missing entries.
    pub fn since_copy(mut self) -> Self {
        self.since_copy = true;
        self
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
            Some(a) if **a != *digest => self.seen[i].content_differs = true,
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
            if self.since_copy {
                self.v.new_on_destination += 1;
            } else {
                self.v
                    .differences
                    .push(format!("only on destination: {}", display(&d.path)));
            }
            return;
        };
        self.seen[i].entry = true;
        let s = &self.src[i];
        if self.since_copy && d.mtime_ns > s.mtime_ns {
            self.seen[i].changed_since = true;
            self.v.changed_on_destination += 1;
            return;
        }
        let p = display(&s.path);
        if self.seen[i].content_differs {
            self.v
                .differences
                .push(format!("differs: {p}: content (sha256) differs"));
        }
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
        // Owners and modes are the move's own business after the copy (a
        // permissions fix, an owner map for a container's user) and do not
        // touch mtimes: since the copy they are counted, not judged.
        let mut relabelled = false;
        if s.uid != d.uid || s.gid != d.gid {
            relabelled = true;
            what.push(format!("owner {}:{} vs {}:{}", s.uid, s.gid, d.uid, d.gid));
        }
        if s.kind != b'l' && s.mode != d.mode {
            relabelled = true;
            what.push(format!("mode {:o} vs {:o}", s.mode, d.mode));
        }
        if self.since_copy && relabelled {
            what.clear();
            self.v.changed_on_destination += 1;
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

    /// Whether the directory holding `path` changed on the destination
    /// since the copy: removing or renaming an entry updates its parent's
    /// mtime, so an entry gone from such a directory went since the copy
    /// (mail read and moved from new/ to cur/, a file a user deleted).
    fn parent_changed_since(&self, path: &[u8]) -> bool {
        let parent = match path.iter().rposition(|b| *b == b'/') {
            Some(i) => &path[..i],
            None => b"".as_slice(),
        };
        self.find(parent)
            .is_some_and(|i| self.seen[i].changed_since)
    }

    pub fn finish(mut self) -> Verdict {
        let gone_since: Vec<bool> = self
            .src
            .iter()
            .zip(&self.seen)
            .map(|(s, seen)| self.since_copy && !seen.entry && self.parent_changed_since(&s.path))
            .collect();
        for ((s, seen), gone) in self.src.iter().zip(&self.seen).zip(gone_since) {
            if s.kind != b'd' {
                self.v.files += 1;
            }
            if s.kind == b'f' {
                self.v.bytes += s.size;
            }
            if gone {
                self.v.changed_on_destination += 1;
            } else if !seen.entry {
                self.v
                    .differences
                    .push(format!("missing on destination: {}", display(&s.path)));
            } else if s.kind == b'f' && s.sha256.is_some() && !seen.hash && !seen.changed_since {
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
    fn since_the_copy_only_what_the_app_cannot_explain_counts() {
        let src = vec![
            f("kept", 1),
            f("edited", 2),
            f("rotted", 3),
            f("gone", 4),
            f("chowned", 5),
        ];
        let mut c = Comparer::new(src).since_copy();
        // The app rewrote `edited` (newer, other content) and made `new`;
        // `rotted` changed content under the source's mtime; `gone` is gone.
        c.dst_hash(b"kept", &[1; 32]);
        c.dst_hash(b"edited", &[5; 32]);
        c.dst_hash(b"rotted", &[6; 32]);
        c.dst_hash(b"new", &[7; 32]);
        c.dst_hash(b"chowned", &[1; 32]);
        c.dst_entry(&f("kept", 10));
        let mut edited = f("edited", 11);
        edited.mtime_ns = 99;
        c.dst_entry(&edited);
        c.dst_entry(&f("rotted", 12));
        c.dst_entry(&f("new", 13));
        let mut chowned = f("kept", 14);
        chowned.path = b"chowned".to_vec();
        chowned.uid = 33;
        c.dst_entry(&chowned);
        let v = c.finish();
        assert_eq!(
            v.differences,
            vec![
                "differs: rotted: content (sha256) differs".to_string(),
                "missing on destination: gone".to_string()
            ]
        );
        assert_eq!((v.changed_on_destination, v.new_on_destination), (2, 1));
        // Without since_copy the same destination is judged whole.
        let src = vec![f("edited", 2)];
        let mut c = Comparer::new(src);
        c.dst_hash(b"edited", &[5; 32]);
        c.dst_entry(&edited);
        let v = c.finish();
        assert_eq!(v.differences.len(), 2, "{:?}", v.differences);
    }

    #[test]
    fn gone_since_the_copy_only_from_a_directory_changed_since() {
        let dir = |p: &str, mtime_ns: i64| Entry {
            kind: b'd',
            sha256: None,
            mtime_ns,
            ..f(p, 0)
        };
        let src = vec![
            dir("cur", 7),
            dir("kept", 7),
            f("cur/read", 1),
            f("kept/lost", 2),
        ];
        let mut c = Comparer::new(src).since_copy();
        c.dst_entry(&dir("cur", 50));
        c.dst_entry(&dir("kept", 7));
        let v = c.finish();
        assert_eq!(
            v.differences,
            vec!["missing on destination: kept/lost".to_string()]
        );
        assert_eq!(v.changed_on_destination, 2, "cur itself and cur/read");
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
