//! What progress output says, read the way a person reads it: the
//! counters (`A of B`, `A / B`, `a/b files`) in captured text, the lines of
//! one task, and a tree on the lab's src whose size the test knows.

use crate::support::lab::ok as on;

/// `(done, total)` for every counter shown in `text`: `A / B` and `A of B`
/// amounts (bytes in binary units, or counted things), and `a/b files`.
pub fn counters(text: &str) -> Vec<(f64, f64, String)> {
    let unit = |u: &str| -> Option<f64> {
        let u = u.trim_end_matches(',');
        Some(match u {
            "B" => 1.0,
            "KiB" => 1024.0,
            "MiB" => 1024.0 * 1024.0,
            "GiB" => 1024.0 * 1024.0 * 1024.0,
            "TiB" => 1024f64.powi(4),
            "steps" | "accounts" | "messages" | "files" => 1.0,
            _ => return None,
        })
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        for i in 0..w.len() {
            // `19.1 MiB / 19.1 MiB` and `3.9 MiB of 19.1 MiB`
            if i + 4 < w.len()
                && (w[i + 2] == "/" || w[i + 2] == "of")
                && let (Ok(a), Some(ua), Ok(b), Some(ub)) = (
                    w[i].parse::<f64>(),
                    unit(w[i + 1]),
                    w[i + 3].parse::<f64>(),
                    unit(w[i + 4]),
                )
            {
                out.push((a * ua, b * ub, line.to_string()));
            }
            // `340/340 files`
            if let Some((a, b)) = w[i].split_once('/')
                && let (Ok(a), Ok(b)) = (a.parse::<f64>(), b.parse::<f64>())
            {
                out.push((a, b, line.to_string()));
            }
        }
    }
    out
}

pub fn assert_no_counter_passes_its_total(text: &str) {
    for (a, b, line) in counters(text) {
        assert!(a <= b, "a counter passed its total: {line}");
    }
}

/// A tree on src of `big` files of 1 MiB in 8 directories and 200 small
/// ones; returns (files, bytes) as this test made them.
pub fn make_tree(root: &str, big: u64) -> (u64, u64) {
    on(
        "src",
        &format!(
            "rm -rf {root} && mkdir -p {root} && cd {root} && \
             for i in $(seq 0 {last}); do d=d$((i % 8)); mkdir -p $d; head -c 1048576 /dev/urandom > $d/big$i; done && \
             mkdir -p small && for i in $(seq 1 200); do printf 'small file %05d\\n' $i > small/s$i; done",
            last = big - 1
        ),
    );
    // Each small line is "small file NNNNN\n": 17 bytes.
    (big + 200, big * 1048576 + 200 * 17)
}

/// The destination tree's regular files and bytes, counted on dst.
pub fn counted_on_dst(root: &str) -> (u64, u64) {
    let t = on(
        "dst",
        &format!(
            "cd {root} && find . -type f -printf '%s\\n' | awk '{{n++; b += $1}} END {{print n, b}}'"
        ),
    );
    let mut it = t.split_whitespace().map(|x| x.parse::<u64>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

/// The progress lines of `task` (`TASK: …, RATE, ETA …`), not the
/// command's own report.
pub fn lines_of<'a>(text: &'a str, task: &str) -> Vec<&'a str> {
    let head = format!("{task}: ");
    text.lines()
        .filter(|l| l.starts_with(&head) && l.contains(", ETA "))
        .collect()
}
