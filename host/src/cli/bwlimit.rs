//! `--bwlimit RATE` in rsync's units, so the number an operator already
//! uses with rsync means the same here: a bare number is KiB/s, a suffix
//! K, M, G or T (any case, optionally `iB`) multiplies by powers of 1024,
//! `KB`, `MB`, `GB`, `TB` by powers of 1000, `B` means bytes; fractions are
//! allowed (`1.5M`); 0 means no limit.

/// Bytes per second; 0 for no limit.
pub fn parse(s: &str) -> Result<u64, String> {
    const HOW: &str = "expected a rate in rsync's units: a number of KiB/s (5000), or with a suffix (500K, 20M, 1.5G; KB/MB/GB for powers of 1000)";
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') || num.matches('.').count() > 1
    {
        return Err(HOW.into());
    }
    let value: f64 = num.parse().map_err(|_| HOW.to_string())?;
    let multiplier: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "k" | "kib" => 1024.0,
        "b" => 1.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        _ => return Err(HOW.into()),
    };
    let bytes = (value * multiplier).round();
    if bytes == 0.0 && value == 0.0 {
        return Ok(0);
    }
    if !(1.0..=(u64::MAX as f64)).contains(&bytes) {
        return Err(format!("{s}: too small or too large a rate; {HOW}"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn bare_number_is_kib_per_second_as_in_rsync() {
        assert_eq!(parse("5000"), Ok(5000 * 1024));
        assert_eq!(parse("1"), Ok(1024));
    }

    #[test]
    fn suffixes_are_binary_unless_spelled_decimal() {
        assert_eq!(parse("500K"), Ok(500 * 1024));
        assert_eq!(parse("500k"), Ok(500 * 1024));
        assert_eq!(parse("20M"), Ok(20 * 1024 * 1024));
        assert_eq!(parse("20MiB"), Ok(20 * 1024 * 1024));
        assert_eq!(parse("1g"), Ok(1 << 30));
        assert_eq!(parse("1.5M"), Ok(1_572_864));
        assert_eq!(parse("2MB"), Ok(2_000_000));
        assert_eq!(parse("100KB"), Ok(100_000));
        assert_eq!(parse("4096b"), Ok(4096));
    }

    #[test]
    fn zero_is_no_limit() {
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("0M"), Ok(0));
    }

    #[test]
    fn nonsense_is_refused_with_the_units() {
        for bad in ["", "k", "-5", "5x", "1.2.3", ".5", "5.", "10 m", "0.1b"] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains("rsync"), "{bad}: {e}");
        }
    }
}
