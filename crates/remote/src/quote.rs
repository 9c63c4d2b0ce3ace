//! POSIX shell quoting for text still assembled with `format!`: every path
//! and argument spliced into a remote command goes through here, so names
//! with spaces, quotes or newlines stay one word.

/// Quote `s` for a POSIX shell as one word. New code builds scripts from
/// `script::ShellWord` instead, which also refuses what no word can hold.
pub fn sh_quote(s: &str) -> String {
    crate::script::quote(s)
}

#[cfg(test)]
mod tests {
    use super::sh_quote;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(sh_quote("/srv/data"), "/srv/data");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }

    #[test]
    fn quoted_words_survive_a_real_shell() {
        for s in ["a b", "it's", "x\ny", "$HOME", "`id`", "-n", "\\"] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", sh_quote(s)))
                .output()
                .expect("sh runs");
            assert_eq!(String::from_utf8_lossy(&out.stdout), s);
        }
    }
}
