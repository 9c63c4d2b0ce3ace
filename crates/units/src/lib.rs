//! How `migrate` writes byte counts and rates for people: one formatter,
//! binary units (1 KiB = 1024 B) everywhere, so a size in a plan, a copy's
//! progress line, a docker inventory and a mail sync's rate read alike.
//!
//! It is a crate of its own because the host and the crates that print
//! sizes (copy, docker) cannot share a home otherwise: crates cannot depend
//! on the host, and the one crate they all depend on (remote) is about ssh,
//! not about text. It has no dependencies, so depending on it costs nothing.

const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/// `512 B`, `1.5 KiB`, `442.0 MiB`: whole bytes below 1 KiB, then one
/// decimal in the largest binary unit that keeps the number at 1 or more.
pub fn human_bytes(n: u64) -> String {
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// A transfer rate in the same units: `12.3 MiB/s`. Negative, infinite or
/// NaN rates (an elapsed time of zero) read as `0 B/s`.
pub fn human_rate(bytes_per_second: f64) -> String {
    let n = if bytes_per_second.is_finite() && bytes_per_second > 0.0 {
        bytes_per_second as u64
    } else {
        0
    };
    format!("{}/s", human_bytes(n))
}

#[cfg(test)]
mod tests {
    use super::{human_bytes, human_rate};

    #[test]
    fn bytes_use_binary_units_with_one_decimal() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(442 * 1024 * 1024), "442.0 MiB");
        assert_eq!(human_bytes(2 * 1024 * 1024 * 1024), "2.0 GiB");
        // The largest unit stays the unit past it.
        assert_eq!(human_bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn rates_never_show_nonsense() {
        assert_eq!(human_rate(1536.0), "1.5 KiB/s");
        assert_eq!(human_rate(f64::INFINITY), "0 B/s");
        assert_eq!(human_rate(f64::NAN), "0 B/s");
        assert_eq!(human_rate(-5.0), "0 B/s");
    }
}
