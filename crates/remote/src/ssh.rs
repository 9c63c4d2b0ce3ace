//! An ssh command line as a structure: options and a destination, rendered
//! once into a `Script`. Callers add options (a control master, a cipher
//! list) by building a new command, never by editing rendered text.

use crate::script::{Script, ShellWord, WordError};

/// One command-line option of ssh: a flag and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshOpt {
    flag: &'static str,
    value: String,
}

impl SshOpt {
    /// `-o NAME=VALUE`. ssh reads the value as a config line, so a newline
    /// (or NUL) in it is refused.
    pub fn option(name: &'static str, value: &str) -> Result<SshOpt, WordError> {
        if value.contains(['\n', '\r', '\0']) {
            return Err(WordError::Invalid {
                shown: value.escape_debug().to_string(),
                why: "cannot be an ssh option value (a line break or NUL)",
            });
        }
        Ok(SshOpt {
            flag: "-o",
            value: format!("{name}={value}"),
        })
    }

    /// `-i FILE`.
    pub fn identity(path: &str) -> Result<SshOpt, WordError> {
        ShellWord::new(path)?;
        Ok(SshOpt {
            flag: "-i",
            value: path.to_string(),
        })
    }

    /// `-p PORT`.
    pub fn port(p: u16) -> SshOpt {
        SshOpt {
            flag: "-p",
            value: p.to_string(),
        }
    }

    /// `-l USER`.
    pub fn user(u: &str) -> Result<SshOpt, WordError> {
        ShellWord::new(u)?;
        Ok(SshOpt {
            flag: "-l",
            value: u.to_string(),
        })
    }

    pub fn flag(&self) -> &'static str {
        self.flag
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    fn words(&self) -> [ShellWord; 2] {
        [
            ShellWord::fixed(self.flag),
            // Checked when made.
            ShellWord::new(&self.value).unwrap_or_else(|_| ShellWord::fixed("")),
        ]
    }
}

/// `ssh OPTS -- DEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshCommand {
    pub opts: Vec<SshOpt>,
    pub dest: String,
}

impl SshCommand {
    /// A destination as the operator's (or the server's) ssh understands it:
    /// `user@host`, `ssh://…`, an alias. A leading `-` would be an option.
    pub fn new(dest: &str, opts: Vec<SshOpt>) -> Result<SshCommand, WordError> {
        ShellWord::new(dest)?;
        if dest.is_empty() || dest.starts_with('-') {
            return Err(WordError::Invalid {
                shown: dest.escape_debug().to_string(),
                why: "is not an ssh destination (empty, or it starts with '-')",
            });
        }
        Ok(SshCommand {
            opts,
            dest: dest.to_string(),
        })
    }

    /// The same command with `first` in front: ssh takes the first value it
    /// is given for an option, so these override the command's own.
    pub fn with_first(&self, first: Vec<SshOpt>) -> SshCommand {
        let mut opts = first;
        opts.extend(self.opts.iter().cloned());
        SshCommand {
            opts,
            dest: self.dest.clone(),
        }
    }

    /// `ssh OPTS -- DEST`, to be followed by one remote command word.
    pub fn render(&self) -> Script {
        self.render_with("")
    }

    /// `ssh FIXED OPTS -- DEST`: `fixed` is text written in this code base,
    /// e.g. a shell variable holding extra options (`$CIPHERS`).
    pub fn render_with(&self, fixed: &'static str) -> Script {
        let mut s = Script::new().raw("ssh");
        if !fixed.is_empty() {
            s = s.raw(" ").raw(fixed);
        }
        for o in &self.opts {
            s = s.words(&o.words());
        }
        s.raw(" --")
            .word(&ShellWord::new(&self.dest).unwrap_or_else(|_| ShellWord::fixed("")))
    }

    /// Run `script` on the destination with `sh -c`, whatever the remote
    /// user's login shell is.
    pub fn run(&self, script: &Script) -> Script {
        self.run_sh(&script.quoted())
    }

    /// Run a command line given as one word (assembled elsewhere) on the
    /// destination with `sh -c`.
    pub fn run_sh(&self, command: &ShellWord) -> Script {
        let line = Script::new().raw("sh -c").word(command);
        self.render().word(&line.quoted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd() -> SshCommand {
        SshCommand::new(
            "127.0.0.3",
            vec![
                SshOpt::identity("/root/.local/state/migrate/copy/ab c/key").unwrap(),
                SshOpt::option("BatchMode", "yes").unwrap(),
                SshOpt::port(2222),
                SshOpt::user("root").unwrap(),
            ],
        )
        .unwrap()
    }

    #[test]
    fn renders_once_with_quoted_words() {
        assert_eq!(
            cmd().render().as_str(),
            "ssh -i '/root/.local/state/migrate/copy/ab c/key' -o BatchMode=yes -p 2222 -l root -- 127.0.0.3"
        );
        let c = cmd().with_first(vec![SshOpt::option("ControlMaster", "auto").unwrap()]);
        assert!(
            c.render_with("$CIPHERS")
                .as_str()
                .starts_with("ssh $CIPHERS -o ControlMaster=auto -i "),
            "{}",
            c.render_with("$CIPHERS")
        );
    }

    #[test]
    fn refuses_what_would_change_the_command() {
        assert!(SshCommand::new("-oProxyCommand=x", vec![]).is_err());
        assert!(SshCommand::new("", vec![]).is_err());
        assert!(SshOpt::option("HostKeyAlias", "a\nProxyCommand x").is_err());
        assert!(SshOpt::user("a\0b").is_err());
    }

    #[test]
    fn the_remote_script_is_one_word_for_the_login_shell() {
        // What the remote login shell would get: the last word, unquoted by
        // a local shell, then run by `sh -c` (here: a local one).
        let s = Script::new()
            .raw("printf '%s\\0'")
            .word(&ShellWord::new("it's $(id) `x`").unwrap());
        let line = cmd().run(&s);
        let last = line.as_str().rsplit_once(" -- 127.0.0.3 ").unwrap().1;
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("eval {last}"))
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"it's $(id) `x`\0");
    }
}
