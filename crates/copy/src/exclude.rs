//! `--exclude PATTERN` with rsync's rules, turned into a `find` expression
//! that every listing of a tree uses (the source's walk and manifest, the
//! destination's manifest, both sides of `--verify`), so an excluded name is
//! never sent, never counted, never compared, and never deleted on the
//! destination by a final pass (rsync protects excluded files the same way
//! unless told `--delete-excluded`).
//!
//! rsync's rules, as `rsync(1)` gives them:
//! - a leading `/` anchors the pattern at the root of the copy; otherwise
//!   it matches the end of a path, at a directory boundary (`foo` is any
//!   entry named `foo`, `a/b` any `b` inside an `a`);
//! - a trailing `/` matches directories only;
//! - `*` matches anything but `/`, `**` anything including `/`, `?` one
//!   character but `/`, `[...]` one character of a class; `\` quotes;
//! - an excluded directory is not entered: nothing below it is copied.
//!
//! The patterns become two POSIX extended regular expressions over find's
//! `./PATH` names, handed to the shell in the variables `XA` (any type)
//! and `XD` (directories only), so the expression itself holds no quoting
//! and fits inside the single-quoted `sh -c` programs the walkers run.

use crate::CopyError;
use migrate_remote::sh_quote;

/// Compiled exclude patterns; empty when there are none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Excludes {
    any: Vec<String>,
    dirs: Vec<String>,
}

/// The find expression put before a listing's own expression: what it
/// matches is pruned and not printed. It reads `$XA` and `$XD`.
const FIND_EXPR: &str =
    r#"-regextype posix-extended \( -regex "$XA" -o -type d -regex "$XD" \) -prune -o"#;

/// A regular expression no find name matches (names are never empty).
const NOTHING: &str = "^$";

impl Excludes {
    pub fn new(patterns: &[String]) -> Result<Self, CopyError> {
        let mut ex = Excludes::default();
        for p in patterns {
            let bad = |why: &str| CopyError::BadExclude {
                pattern: p.clone(),
                why: why.to_string(),
            };
            if p.contains('\0') || p.contains('\n') {
                return Err(bad("it holds a NUL or newline"));
            }
            let (body, dir_only) = match p.strip_suffix('/') {
                Some(b) => (b, true),
                None => (p.as_str(), false),
            };
            let (body, anchored) = match body.strip_prefix('/') {
                Some(b) => (b, true),
                None => (body, false),
            };
            if body.is_empty() || body.split('/').any(str::is_empty) {
                return Err(bad("it has an empty path component"));
            }
            let prefix = if anchored { "" } else { "(.*/)?" };
            let re = format!("{prefix}{}", glob_to_ere(body));
            if dir_only {
                ex.dirs.push(re.clone());
                // Below a directory that matches, everything is excluded.
                ex.any.push(format!("{re}/.*"));
            } else {
                ex.any.push(format!("{re}(/.*)?"));
            }
        }
        Ok(ex)
    }

    pub fn is_empty(&self) -> bool {
        self.any.is_empty() && self.dirs.is_empty()
    }

    /// Shell assignments of `XA` and `XD` (exported, for the `sh -c`
    /// walkers), ending in a newline; empty when there is nothing to exclude.
    pub fn shell_vars(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let join = |v: &[String]| {
            if v.is_empty() {
                NOTHING.to_string()
            } else {
                format!(r"^\./({})$", v.join("|"))
            }
        };
        format!(
            "XA={}; XD={}; export XA XD\n",
            sh_quote(&join(&self.any)),
            sh_quote(&join(&self.dirs))
        )
    }

    /// The find expression to put right after find's start points and
    /// global options (empty when there is nothing to exclude).
    pub fn find_expr(&self) -> &'static str {
        if self.is_empty() { "" } else { FIND_EXPR }
    }
}

/// rsync wildcards to a POSIX extended regular expression (unanchored).
fn glob_to_ere(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' => {
                let mut n = 0;
                while i + n < chars.len() && chars[i + n] == '*' {
                    n += 1;
                }
                out.push_str(if n >= 2 { ".*" } else { "[^/]*" });
                i += n;
                continue;
            }
            '?' => out.push_str("[^/]"),
            '[' => match class(&chars[i..]) {
                Some((re, used)) => {
                    out.push_str(&re);
                    i += used;
                    continue;
                }
                None => out.push_str(r"\["),
            },
            '\\' if i + 1 < chars.len() => {
                i += 1;
                push_literal(&mut out, chars[i]);
            }
            _ => push_literal(&mut out, c),
        }
        i += 1;
    }
    out
}

/// A `[...]` class at the start of `s`: its ERE form and how many
/// characters it took, or None when it is not closed.
fn class(s: &[char]) -> Option<(String, usize)> {
    let mut i = 1;
    let mut re = String::from("[");
    if matches!(s.get(i), Some('!') | Some('^')) {
        re.push('^');
        i += 1;
    }
    // A `]` right after the opening (or the negation) is a member.
    if s.get(i) == Some(&']') {
        re.push(']');
        i += 1;
    }
    while let Some(&c) = s.get(i) {
        if c == ']' {
            re.push(']');
            return Some((re, i + 1));
        }
        if c == '/' {
            return None;
        }
        re.push(c);
        i += 1;
    }
    None
}

fn push_literal(out: &mut String, c: char) {
    if ".^$|()[]{}*+?\\".contains(c) {
        out.push('\\');
    }
    out.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Lists `tree` with GNU find through the expression, as the copy does.
    fn listed(patterns: &[&str], tree: &[&str]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        for p in tree {
            let path = dir.path().join(p.trim_end_matches('/'));
            if p.ends_with('/') {
                std::fs::create_dir_all(&path).unwrap();
            } else {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, b"x").unwrap();
            }
        }
        let ex =
            Excludes::new(&patterns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let script = format!(
            "{}cd {} && find . -mindepth 1 {} -printf '%P\\n'",
            ex.shell_vars(),
            sh_quote(dir.path().to_str().unwrap()),
            ex.find_expr()
        );
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert!(out.status.success(), "{script}: {out:?}");
        let mut v: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        v.sort();
        v
    }

    const TREE: &[&str] = &[
        "a.log",
        "keep.txt",
        "cache/",
        "cache/x",
        "sub/cache",
        "sub/a.log",
        "sub/deep/cache/y",
        "sub/deep/z.tmp",
        "tmp/",
        "data/tmp",
    ];

    #[test]
    fn no_patterns_lists_everything() {
        let all = listed(&[], TREE);
        assert!(all.contains(&"sub/deep/cache/y".to_string()), "{all:?}");
        assert_eq!(all.len(), 14, "{all:?}");
    }

    #[test]
    fn unanchored_name_matches_at_any_depth_and_prunes_directories() {
        let l = listed(&["cache"], TREE);
        assert!(
            !l.iter().any(|p| p.split('/').any(|c| c == "cache")),
            "{l:?}"
        );
        assert!(l.contains(&"sub/deep".to_string()), "{l:?}");
    }

    #[test]
    fn leading_slash_anchors_at_the_root() {
        let l = listed(&["/cache"], TREE);
        assert!(!l.contains(&"cache".to_string()) && !l.contains(&"cache/x".to_string()));
        assert!(l.contains(&"sub/cache".to_string()), "{l:?}");
        assert!(l.contains(&"sub/deep/cache/y".to_string()), "{l:?}");
    }

    #[test]
    fn trailing_slash_matches_directories_only() {
        let l = listed(&["cache/", "tmp/"], TREE);
        // The files named cache and tmp stay; the directories go, with their contents.
        assert!(l.contains(&"sub/cache".to_string()), "{l:?}");
        assert!(l.contains(&"data/tmp".to_string()), "{l:?}");
        for gone in [
            "cache",
            "cache/x",
            "tmp",
            "sub/deep/cache",
            "sub/deep/cache/y",
        ] {
            assert!(!l.contains(&gone.to_string()), "{gone} in {l:?}");
        }
    }

    #[test]
    fn star_does_not_cross_slashes_and_double_star_does() {
        let l = listed(&["*.log", "/sub/*.tmp"], TREE);
        assert!(!l.iter().any(|p| p.ends_with(".log")), "{l:?}");
        // `/sub/*.tmp` names only sub's own children.
        assert!(l.contains(&"sub/deep/z.tmp".to_string()), "{l:?}");
        let l = listed(&["/sub/**.tmp"], TREE);
        assert!(!l.contains(&"sub/deep/z.tmp".to_string()), "{l:?}");
        assert!(l.contains(&"sub/a.log".to_string()), "{l:?}");
    }

    #[test]
    fn question_mark_and_classes() {
        let l = listed(
            &["?.log", "[ab]*.txt"],
            &["a.log", "ab.log", "keep.txt", "b.txt"],
        );
        assert_eq!(l, ["ab.log", "keep.txt"]);
        let l = listed(&["[!k]*.txt"], &["keep.txt", "b.txt"]);
        assert_eq!(l, ["keep.txt"]);
    }

    #[test]
    fn path_patterns_match_the_end_of_a_path() {
        let l = listed(&["deep/cache"], TREE);
        assert!(!l.iter().any(|p| p.starts_with("sub/deep/cache")), "{l:?}");
        assert!(l.contains(&"cache/x".to_string()) && l.contains(&"sub/cache".to_string()));
    }

    #[test]
    fn regex_characters_in_names_are_literal() {
        let l = listed(&["a+b.(1)"], &["a+b.(1)", "aab.(1)", "a+bx(1)"]);
        assert_eq!(l, ["a+bx(1)", "aab.(1)"]);
    }

    /// The manifest and hash listings (a walker per subtree, over a tree
    /// wide enough to be cut) leave out the same names.
    #[test]
    fn manifest_and_hash_listings_use_the_exclusions() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..70 {
            let d = dir.path().join(format!("d{i}"));
            std::fs::create_dir_all(d.join("cache")).unwrap();
            std::fs::write(d.join("cache/blob"), b"c").unwrap();
            std::fs::write(d.join("keep.txt"), b"k").unwrap();
            std::fs::write(d.join("x.log"), b"l").unwrap();
        }
        let ex = Excludes::new(&["cache/".to_string(), "*.log".to_string()]).unwrap();
        let root = dir.path().to_str().unwrap();
        let m = Command::new("sh")
            .arg("-c")
            .arg(crate::manifest::find_command_excluding(root, &ex))
            .output()
            .unwrap();
        assert!(m.status.success(), "{m:?}");
        let entries = crate::manifest::parse(&m.stdout).unwrap();
        let names: Vec<String> = entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .collect();
        assert_eq!(names.iter().filter(|n| n.ends_with("keep.txt")).count(), 70);
        assert!(
            !names
                .iter()
                .any(|n| n.contains("cache") || n.ends_with(".log")),
            "{names:?}"
        );
        let h = Command::new("sh")
            .arg("-c")
            .arg(crate::manifest::hash_command_excluding(root, &ex))
            .output()
            .unwrap();
        assert!(h.status.success(), "{h:?}");
        let hashes = crate::manifest::parse_hashes(&h.stdout);
        assert_eq!(
            hashes.len(),
            70,
            "{:?}",
            hashes.keys().take(5).collect::<Vec<_>>()
        );
    }

    #[test]
    fn empty_components_are_refused() {
        for bad in ["", "/", "//", "a//b"] {
            assert!(Excludes::new(&[bad.to_string()]).is_err(), "{bad:?}");
        }
    }
}
