//! Shell text built from types that quote on construction. A `ShellWord` is
//! quoted when it is made, so it stays one word whatever it holds. A
//! `Script` is built from words and fixed text written in this code base
//! (`&'static str`): text that arrives at run time (paths, host names,
//! database names, commands assembled elsewhere) can only enter a script as
//! a quoted word.

use std::fmt;

/// Why a value cannot be one shell word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WordError {
    /// A shell passes arguments as C strings: a NUL cannot travel in one.
    #[error("`{shown}` contains a NUL byte, which no shell word can hold")]
    Nul { shown: String },
    /// Scripts are text handed to `sh -c`; bytes that are not UTF-8 would
    /// have to be rewritten, and a rewritten path names another file.
    #[error("`{shown}` is not valid UTF-8; rename it, or copy its parent directory instead")]
    NotUtf8 { shown: String },
    /// A value this particular place cannot take (said why).
    #[error("`{shown}` {why}")]
    Invalid { shown: String, why: &'static str },
}

/// One word for a POSIX shell, quoted when made.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ShellWord {
    quoted: String,
}

impl ShellWord {
    /// Quote `s` as one word; refuses a NUL.
    pub fn new(s: &str) -> Result<ShellWord, WordError> {
        if s.contains('\0') {
            return Err(WordError::Nul {
                shown: s.escape_debug().to_string(),
            });
        }
        Ok(ShellWord { quoted: quote(s) })
    }

    /// Quote raw bytes as one word (a path read from a server); refuses NUL
    /// and bytes that are not UTF-8.
    pub fn from_bytes(b: &[u8]) -> Result<ShellWord, WordError> {
        match std::str::from_utf8(b) {
            Ok(s) => ShellWord::new(s),
            Err(_) => Err(WordError::NotUtf8 {
                shown: String::from_utf8_lossy(b).escape_debug().to_string(),
            }),
        }
    }

    /// A word fixed in this code base (an option name, a program). Quoted
    /// like any other, so even a mistake here cannot split it.
    pub fn fixed(s: &'static str) -> ShellWord {
        ShellWord { quoted: quote(s) }
    }

    /// The word as the shell reads it (quoted when needed).
    pub fn as_str(&self) -> &str {
        &self.quoted
    }
}

impl fmt::Display for ShellWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quoted)
    }
}

impl fmt::Debug for ShellWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShellWord({})", self.quoted)
    }
}

/// POSIX single-quoting: nothing is special inside '…' except `'` itself.
/// (A leading `-` needs no quotes: quoting cannot stop a program from
/// reading a word as an option; `--` before it does.)
pub(crate) fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%=,".contains(&b))
    {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// A shell script: fixed text and quoted words, nothing else.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Script {
    text: String,
}

impl Script {
    pub fn new() -> Script {
        Script::default()
    }

    /// Fixed text (operators, redirections, whole lines written here).
    pub fn raw(mut self, fixed: &'static str) -> Script {
        self.text.push_str(fixed);
        self
    }

    /// One word, separated from what precedes it by a space.
    pub fn word(mut self, w: &ShellWord) -> Script {
        if !self.text.is_empty() && !self.text.ends_with([' ', '\n', '(', '=']) {
            self.text.push(' ');
        }
        self.text.push_str(w.as_str());
        self
    }

    /// Several words.
    pub fn words<'a>(self, ws: impl IntoIterator<Item = &'a ShellWord>) -> Script {
        ws.into_iter().fold(self, |s, w| s.word(w))
    }

    /// Another script appended as it is (both were built from words).
    pub fn then(mut self, other: &Script) -> Script {
        self.text.push_str(&other.text);
        self
    }

    /// A fixed template whose `{{name}}` placeholders are replaced by the
    /// given words; every other character is kept as written. A placeholder
    /// without a value is a mistake in this code base: tests catch it, and
    /// a release build leaves it as it is (the shell then fails on it).
    pub fn template(fixed: &'static str, words: &[(&str, &ShellWord)]) -> Script {
        let mut text = String::with_capacity(fixed.len() + 64);
        let mut rest = fixed;
        while let Some(i) = rest.find("{{") {
            text.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let name_end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..name_end];
            match (
                after[name_end..].starts_with("}}"),
                words.iter().find(|(n, _)| *n == name),
            ) {
                (true, Some((_, w))) if !name.is_empty() => {
                    text.push_str(w.as_str());
                    rest = &after[name_end + 2..];
                }
                (true, None) if !name.is_empty() => {
                    debug_assert!(false, "template placeholder {{{{{name}}}}} has no value");
                    text.push_str("{{");
                    rest = after;
                }
                _ => {
                    text.push_str("{{");
                    rest = after;
                }
            }
        }
        text.push_str(rest);
        Script { text }
    }

    /// The whole script as one word (for `sh -c WORD` or an ssh command line).
    pub fn quoted(&self) -> ShellWord {
        ShellWord {
            quoted: quote(&self.text),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Script({:?})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a real shell makes of `printf '%s\0' WORD...`.
    fn shell_args(script: &str) -> Vec<Vec<u8>> {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{script}: {:?}", out);
        let mut v: Vec<Vec<u8>> = out.stdout.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
        v.pop();
        v
    }

    const HOSTILE: &[&str] = &[
        "",
        " ",
        "a b",
        "it's",
        "'",
        "''",
        "\"",
        "x\ny",
        "\n",
        "$HOME",
        "$(touch /tmp/migrate-pwned)",
        "`id`",
        "-n",
        "--",
        "-rf",
        "\\",
        "a\\'b",
        "*",
        "~root",
        "{a,b}",
        "!",
        "a;b|c&d>e<f",
        "tab\there",
        "é ünïcödé",
        "\u{7f}\u{1b}[31m",
    ];

    #[test]
    fn hostile_words_stay_one_word_in_a_real_shell() {
        for s in HOSTILE {
            let w = ShellWord::new(s).unwrap();
            let script = Script::new()
                .raw("printf '%s\\0'")
                .word(&w)
                .word(&ShellWord::fixed("end"));
            assert_eq!(
                shell_args(script.as_str()),
                vec![s.as_bytes().to_vec(), b"end".to_vec()],
                "{s:?} -> {script:?}"
            );
        }
    }

    #[test]
    fn plain_words_stay_readable() {
        assert_eq!(ShellWord::new("-rf").unwrap().as_str(), "-rf");
        assert_eq!(ShellWord::new("/srv/data").unwrap().as_str(), "/srv/data");
        assert_eq!(ShellWord::new("").unwrap().as_str(), "''");
    }

    #[test]
    fn nul_and_non_utf8_are_refused_not_rewritten() {
        assert!(matches!(ShellWord::new("a\0b"), Err(WordError::Nul { .. })));
        let e = ShellWord::from_bytes(b"caf\xe9").unwrap_err();
        assert!(matches!(e, WordError::NotUtf8 { .. }));
        assert!(e.to_string().contains("not valid UTF-8"), "{e}");
        assert_eq!(
            ShellWord::from_bytes(b"ok dir").unwrap().as_str(),
            "'ok dir'"
        );
    }

    #[test]
    fn a_script_quoted_as_one_word_survives_a_second_shell() {
        for s in HOSTILE {
            let inner = Script::new()
                .raw("printf '%s\\0'")
                .word(&ShellWord::new(s).unwrap());
            let outer = Script::new().raw("sh -c").word(&inner.quoted());
            assert_eq!(
                shell_args(outer.as_str()),
                vec![s.as_bytes().to_vec()],
                "{s:?}"
            );
            // And a third time, as ssh's remote shell would add.
            let third = Script::new().raw("sh -c").word(&outer.quoted());
            assert_eq!(shell_args(third.as_str()), vec![s.as_bytes().to_vec()]);
        }
    }

    #[test]
    fn templates_take_only_words() {
        let p = ShellWord::new("/tmp/a b/$(id)").unwrap();
        let s = Script::template(
            "printf '%s\\0' {{p}} {{p}}; f() { echo {x}; }; echo ${HOME:+x}",
            &[("p", &p)],
        );
        assert_eq!(
            s.as_str(),
            "printf '%s\\0' '/tmp/a b/$(id)' '/tmp/a b/$(id)'; f() { echo {x}; }; echo ${HOME:+x}"
        );
    }
}
