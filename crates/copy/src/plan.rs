//! What a pass must do: compare the source manifest with a baseline (the
//! destination's manifest, or the manifest of our own last completed pass),
//! then split the work into parallel streams.

use std::collections::{HashMap, HashSet};

use crate::manifest::Entry;

/// Per-file cost in "bytes" when balancing streams: creating a small file
/// costs about as much disk time as writing this many bytes.
const PER_FILE_COST: u64 = 16 * 1024;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Non-directory paths to send, one list per stream, each in inode order
    /// (cheaper cold reads). Hard links of one inode share a stream, so tar
    /// recreates them as links.
    pub streams: Vec<Vec<Vec<u8>>>,
    /// Bytes of regular-file data per stream.
    pub stream_bytes: Vec<u64>,
    /// Directories whose owner, mode and mtime are (re)applied after the
    /// files, because writing into a directory changes its mtime.
    pub dirs: Vec<Vec<u8>>,
    /// The directories of `dirs` that the destination lacks: made before
    /// the streams start (see `script::premake`).
    pub mkdirs: Vec<Vec<u8>>,
    /// Paths to remove on the destination before sending: gone from the
    /// source (final pass only), or replaced by another type of object.
    pub delete: Vec<Vec<u8>>,
    pub files: u64,
    pub bytes: u64,
    /// Paths that are new or changed (files and dirs), for reporting.
    pub changed: u64,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.files == 0 && self.dirs.is_empty() && self.delete.is_empty()
    }
}

/// Whether `s` needs no transfer given the baseline entry `b`.
pub fn same(s: &Entry, b: &Entry, compare_nlink: bool) -> bool {
    if s.kind != b.kind || s.uid != b.uid || s.gid != b.gid {
        return false;
    }
    match s.kind {
        b'l' => s.target == b.target,
        b'd' => s.mtime_ns == b.mtime_ns && s.mode == b.mode,
        b'f' => {
            s.size == b.size
                && s.mtime_ns == b.mtime_ns
                && s.mode == b.mode
                && (!compare_nlink || s.nlink == b.nlink)
        }
        _ => s.mtime_ns == b.mtime_ns && s.mode == b.mode,
    }
}

fn parent(p: &[u8]) -> &[u8] {
    match p.iter().rposition(|b| *b == b'/') {
        Some(i) => &p[..i],
        None => b".",
    }
}

/// Compute a pass. `base` is None when the destination is empty.
/// `compare_nlink` is true when `base` is our own last manifest (link counts
/// then tell that a hard link was added or removed).
pub fn plan(
    src: &[Entry],
    base: Option<&[Entry]>,
    compare_nlink: bool,
    final_pass: bool,
    streams: usize,
) -> Plan {
    plan_reduced(src, base, None, compare_nlink, final_pass, streams)
}

/// `plan` for a source manifest that was reduced while it streamed in: it
/// holds only the entries that differ from `base` (plus every multi-link
/// file), and `base_seen[i]` tells whether `base[i]`'s path exists on the
/// source. Keeps the operator's memory to one full manifest.
pub fn plan_reduced(
    src: &[Entry],
    base: Option<&[Entry]>,
    base_seen: Option<&[bool]>,
    compare_nlink: bool,
    final_pass: bool,
    streams: usize,
) -> Plan {
    let base_map: HashMap<&[u8], &Entry> = base
        .unwrap_or(&[])
        .iter()
        .map(|e| (e.path.as_slice(), e))
        .collect();
    let mut p = Plan::default();
    let mut send: Vec<&Entry> = Vec::new();
    let mut dirs: HashSet<&[u8]> = HashSet::new();
    let mut delete: Vec<&[u8]> = Vec::new();

    for e in src {
        let old = base_map.get(e.path.as_slice());
        if let Some(b) = old
            && same(e, b, compare_nlink)
        {
            continue;
        }
        if let Some(b) = old
            && b.kind != e.kind
        {
            delete.push(&e.path);
        }
        p.changed += 1;
        if e.kind == b'd' {
            dirs.insert(&e.path);
        } else {
            send.push(e);
        }
    }

    // A hard-link group travels whole, or tar would make separate files.
    let mut by_ino: HashMap<u64, Vec<&Entry>> = HashMap::new();
    for e in src.iter().filter(|e| e.kind == b'f' && e.nlink > 1) {
        by_ino.entry(e.ino).or_default().push(e);
    }
    if !by_ino.is_empty() {
        let mut seen: HashSet<&[u8]> = send.iter().map(|e| e.path.as_slice()).collect();
        let touched: HashSet<u64> = send
            .iter()
            .filter(|e| e.kind == b'f' && e.nlink > 1)
            .map(|e| e.ino)
            .collect();
        for ino in touched {
            for e in &by_ino[&ino] {
                if seen.insert(&e.path) {
                    send.push(e);
                }
            }
        }
    }

    if final_pass {
        match base_seen {
            Some(seen) => {
                for (b, seen) in base.unwrap_or(&[]).iter().zip(seen) {
                    if !seen {
                        delete.push(&b.path);
                    }
                }
            }
            None => {
                let src_paths: HashSet<&[u8]> = src.iter().map(|e| e.path.as_slice()).collect();
                for b in base.unwrap_or(&[]) {
                    if !src_paths.contains(b.path.as_slice()) {
                        delete.push(&b.path);
                    }
                }
            }
        }
    }
    // Removing a directory removes what is under it.
    let del_set: HashSet<&[u8]> = delete.iter().copied().collect();
    let mut delete: Vec<&[u8]> = delete
        .into_iter()
        .filter(|d| {
            let mut q: &[u8] = d;
            while q != b"." {
                q = parent(q);
                if del_set.contains(q) {
                    return false;
                }
            }
            true
        })
        .collect();
    delete.sort();
    delete.dedup();

    for path in send
        .iter()
        .map(|e| e.path.as_slice())
        .chain(delete.iter().copied())
    {
        let mut q = path;
        while q != b"." {
            q = parent(q);
            if !dirs.insert(q) {
                break;
            }
        }
    }
    let mut src_dirs: HashSet<&[u8]> = src
        .iter()
        .filter(|e| e.kind == b'd')
        .map(|e| e.path.as_slice())
        .collect();
    if let (Some(seen), Some(base)) = (base_seen, base) {
        // Unchanged directories were filtered out of `src`; they still exist.
        src_dirs.extend(
            base.iter()
                .zip(seen)
                .filter(|(b, seen)| **seen && b.kind == b'd')
                .map(|(b, _)| b.path.as_slice()),
        );
    }
    let mut dirs: Vec<&[u8]> = dirs.into_iter().filter(|d| src_dirs.contains(d)).collect();
    dirs.sort();

    p.files = send.len() as u64;
    p.bytes = send.iter().filter(|e| e.kind == b'f').map(|e| e.size).sum();
    p.mkdirs = dirs
        .iter()
        .filter(|d| **d != b"." && base_map.get(**d).is_none_or(|b| b.kind != b'd'))
        .map(|d| d.to_vec())
        .collect();
    p.dirs = dirs.into_iter().map(<[u8]>::to_vec).collect();
    p.delete = delete.into_iter().map(<[u8]>::to_vec).collect();
    let (lists, bytes) = split(&send, streams.max(1));
    p.streams = lists;
    p.stream_bytes = bytes;
    p
}

/// Longest-processing-time split: biggest groups first onto the least
/// loaded stream; then each stream in inode order.
pub fn split(send: &[&Entry], n: usize) -> (Vec<Vec<Vec<u8>>>, Vec<u64>) {
    let mut groups: HashMap<u64, Vec<&Entry>> = HashMap::new();
    let mut singles: Vec<Vec<&Entry>> = Vec::new();
    for e in send {
        if e.kind == b'f' && e.nlink > 1 {
            groups.entry(e.ino).or_default().push(e);
        } else {
            singles.push(vec![e]);
        }
    }
    let mut all: Vec<Vec<&Entry>> = singles.into_iter().chain(groups.into_values()).collect();
    let cost = |g: &Vec<&Entry>| -> u64 {
        let data = if g[0].kind == b'f' { g[0].size } else { 0 };
        data + PER_FILE_COST * g.len() as u64
    };
    all.sort_by(|a, b| {
        cost(b)
            .cmp(&cost(a))
            .then_with(|| a[0].path.cmp(&b[0].path))
    });
    let n = n.min(all.len()).max(1);
    let mut load = vec![0u64; n];
    let mut bytes = vec![0u64; n];
    let mut lists: Vec<Vec<&Entry>> = vec![Vec::new(); n];
    for g in all {
        let i = (0..n).min_by_key(|i| (load[*i], *i)).unwrap_or(0);
        load[i] += cost(&g);
        if g[0].kind == b'f' {
            bytes[i] += g[0].size;
        }
        lists[i].extend(g);
    }
    let lists = lists
        .into_iter()
        .map(|mut l| {
            l.sort_by(|a, b| a.ino.cmp(&b.ino).then_with(|| a.path.cmp(&b.path)));
            l.into_iter().map(|e| e.path.clone()).collect()
        })
        .collect();
    (lists, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, size: u64, mtime: i64, ino: u64) -> Entry {
        Entry {
            path: path.as_bytes().to_vec(),
            kind: b'f',
            size,
            mtime_ns: mtime,
            mode: 0o644,
            uid: 991,
            gid: 991,
            ino,
            nlink: 1,
            target: vec![],
            sha256: None,
        }
    }
    fn d(path: &str, mtime: i64, ino: u64) -> Entry {
        Entry {
            kind: b'd',
            size: 4096,
            mode: 0o755,
            ..f(path, 0, mtime, ino)
        }
    }
    fn paths(v: &[Vec<u8>]) -> Vec<String> {
        v.iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    }
    fn all_sent(p: &Plan) -> Vec<String> {
        let mut v: Vec<String> = p.streams.iter().flat_map(|s| paths(s)).collect();
        v.sort();
        v
    }

    #[test]
    fn first_pass_sends_everything() {
        let src = vec![
            d(".", 1, 1),
            d("a", 1, 2),
            f("a/x", 10, 1, 3),
            f("y", 20, 1, 4),
        ];
        let p = plan(&src, None, false, false, 4);
        assert_eq!(all_sent(&p), ["a/x", "y"]);
        assert_eq!(paths(&p.dirs), [".", "a"]);
        assert_eq!(paths(&p.mkdirs), ["a"], "the destination root exists");
        assert_eq!(p.bytes, 30);
        assert!(p.delete.is_empty());
    }

    #[test]
    fn delta_sends_changed_and_deletes_only_in_final() {
        let base = vec![
            d(".", 1, 1),
            d("a", 1, 2),
            f("a/x", 10, 1, 3),
            f("gone", 5, 1, 5),
            d("olddir", 1, 6),
            f("olddir/z", 1, 1, 7),
        ];
        let src = vec![
            d(".", 2, 1),
            d("a", 1, 2),
            f("a/x", 10, 2, 3),
            f("new", 1, 1, 8),
        ];
        let p = plan(&src, Some(&base), true, false, 2);
        assert_eq!(all_sent(&p), ["a/x", "new"]);
        assert!(p.delete.is_empty(), "a pre-sync pass never deletes");
        let p = plan(&src, Some(&base), true, true, 2);
        assert_eq!(
            paths(&p.delete),
            ["gone", "olddir"],
            "children of a removed dir are not listed"
        );
        assert_eq!(paths(&p.dirs), [".", "a"]);
        assert!(p.mkdirs.is_empty(), "`a` is on the destination already");
        let mut moved = src.clone();
        moved.push(d("gone", 1, 9));
        moved.push(f("gone/in", 1, 1, 10));
        let p = plan(&moved, Some(&base), true, true, 2);
        assert_eq!(
            paths(&p.mkdirs),
            ["gone"],
            "a file there becomes a directory"
        );
        assert_eq!(paths(&p.delete), ["gone", "olddir"]);
        let same = plan(&src, Some(&src), true, true, 2);
        assert!(same.is_empty());
    }

    /// The reduced form (filtered while streaming) plans exactly like the full one.
    #[test]
    fn reduced_source_plans_the_same() {
        let mut hl = f("h1", 5, 1, 77);
        hl.nlink = 2;
        let mut hl2 = f("d/h2", 5, 1, 77);
        hl2.nlink = 2;
        let base = vec![
            d(".", 1, 1),
            d("d", 1, 2),
            f("d/x", 1, 1, 3),
            f("gone", 1, 1, 4),
            d("olddir", 1, 5),
            hl.clone(),
            hl2.clone(),
        ];
        let src = vec![
            d(".", 2, 1),
            d("d", 1, 2),
            f("d/x", 2, 2, 3),
            f("d/new", 1, 1, 6),
            hl,
            hl2,
        ];
        let full = plan(&src, Some(&base), true, true, 2);
        let seen: Vec<bool> = base
            .iter()
            .map(|b| src.iter().any(|s| s.path == b.path))
            .collect();
        let reduced: Vec<Entry> = src
            .iter()
            .filter(|s| {
                let b = base.iter().find(|b| b.path == s.path);
                !b.is_some_and(|b| same(s, b, true)) || (s.kind == b'f' && s.nlink > 1)
            })
            .cloned()
            .collect();
        assert!(reduced.len() < src.len());
        let r = plan_reduced(&reduced, Some(&base), Some(&seen), true, true, 2);
        assert_eq!(all_sent(&r), all_sent(&full));
        assert_eq!(r.delete, full.delete);
        assert_eq!(r.dirs, full.dirs);
        assert_eq!(paths(&r.delete), ["gone", "olddir"]);
    }

    #[test]
    fn type_change_deletes_first() {
        let base = vec![d(".", 1, 1), d("x", 1, 2), f("x/inner", 1, 1, 3)];
        let src = vec![d(".", 1, 1), f("x", 3, 1, 9)];
        let p = plan(&src, Some(&base), false, false, 1);
        assert_eq!(paths(&p.delete), ["x"]);
        assert_eq!(all_sent(&p), ["x"]);
    }

    #[test]
    fn hard_links_travel_together() {
        let mut a = f("a", 100, 1, 42);
        a.nlink = 2;
        let mut b = f("zz/b", 100, 1, 42);
        b.nlink = 2;
        let mut src = vec![d(".", 1, 1), d("zz", 1, 2), a.clone(), b.clone()];
        for i in 0..50 {
            src.push(f(&format!("f{i}"), 1000, 1, 100 + i));
        }
        // Only one link is missing on the destination: both are sent.
        let base: Vec<Entry> = src.iter().filter(|e| e.path != b"zz/b").cloned().collect();
        let p = plan(&src, Some(&base), false, false, 4);
        assert_eq!(all_sent(&p), ["a", "zz/b"]);
        let full = plan(&src, None, false, false, 4);
        let holder: Vec<_> = full
            .streams
            .iter()
            .filter(|s| s.contains(&b"a".to_vec()))
            .collect();
        assert_eq!(holder.len(), 1);
        assert!(holder[0].contains(&b"zz/b".to_vec()));
    }

    #[test]
    fn split_balances_and_orders_by_inode() {
        let src: Vec<Entry> = (0..1000)
            .map(|i| f(&format!("f{i}"), (i % 37) * 1000, 1, 5000 - i))
            .collect();
        let refs: Vec<&Entry> = src.iter().collect();
        let (lists, bytes) = split(&refs, 4);
        assert_eq!(lists.len(), 4);
        assert_eq!(lists.iter().map(Vec::len).sum::<usize>(), 1000);
        let (min, max) = (bytes.iter().min().unwrap(), bytes.iter().max().unwrap());
        assert!(max - min < 40_000, "{bytes:?}");
        for l in &lists {
            let inos: Vec<u64> = l
                .iter()
                .map(|p| src.iter().find(|e| &e.path == p).unwrap().ino)
                .collect();
            assert!(inos.windows(2).all(|w| w[0] < w[1]));
        }
        let (lists, _) = split(&refs[..2], 8);
        assert_eq!(lists.len(), 2, "never more streams than files");
    }
}
