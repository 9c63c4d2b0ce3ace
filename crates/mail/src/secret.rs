//! Passwords and tokens: a type that never prints its content, and the
//! places a password may come from (never the command line).

use std::fmt;
use std::path::PathBuf;

use crate::error::{MailError, Result};

/// A secret string. `Debug` and `Display` print a placeholder so a secret
/// that ends up in a log line or an error message shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a password comes from. A command or a file keeps it out of the
/// users file; an inline value is allowed because the users file is already
/// a secret the operator protects. A command is never shown, in messages
/// or in `Debug`: it can hold the password itself (`echo …`) or a token.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Inline(Secret),
    /// Run with `sh -c`; the first line of its stdout is the password.
    Command(String),
    /// The file's content without the trailing newline.
    File(PathBuf),
    /// An environment variable of the `migrate` process.
    Env(String),
}

impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Inline(s) => f.debug_tuple("Inline").field(s).finish(),
            PasswordSource::Command(_) => f.write_str("Command(***)"),
            PasswordSource::File(p) => f.debug_tuple("File").field(p).finish(),
            PasswordSource::Env(v) => f.debug_tuple("Env").field(v).finish(),
        }
    }
}

impl PasswordSource {
    pub fn describe(&self) -> String {
        match self {
            PasswordSource::Inline(_) => "inline password".into(),
            PasswordSource::Command(_) => "password command".into(),
            PasswordSource::File(p) => format!("password file {}", p.display()),
            PasswordSource::Env(v) => format!("environment variable {v}"),
        }
    }

    /// Fetch the password. Errors name the source, never its output.
    pub async fn resolve(&self, user: &str) -> Result<Secret> {
        let err = |detail: String| MailError::Password {
            user: user.to_string(),
            detail,
        };
        let value = match self {
            PasswordSource::Inline(s) => return Ok(s.clone()),
            PasswordSource::Env(var) => std::env::var(var)
                .map_err(|_| err(format!("environment variable {var} is not set")))?,
            PasswordSource::File(path) => tokio::fs::read_to_string(path)
                .await
                .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?,
            PasswordSource::Command(cmd) => {
                let out = tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .stdin(std::process::Stdio::null())
                    .stderr(std::process::Stdio::inherit())
                    .output()
                    .await
                    .map_err(|e| err(format!("cannot run the password command: {e}")))?;
                if !out.status.success() {
                    return Err(err(format!(
                        "the password command failed ({}); its own messages are above",
                        out.status
                    )));
                }
                String::from_utf8(out.stdout)
                    .map_err(|_| err("the password command printed something not UTF-8".into()))?
            }
        };
        // Only the first line: `pass show` prints extra lines after it.
        let line = value.lines().next().unwrap_or("").to_string();
        if line.is_empty() {
            return Err(err(format!("{} gave an empty password", self.describe())));
        }
        Ok(Secret(line))
    }
}

#[cfg(test)]
mod tests {
    use super::PasswordSource;

    /// A password command can hold the password itself: no message about
    /// it, and no `Debug` of it, shows its text.
    #[tokio::test]
    async fn a_password_command_is_never_echoed() {
        let secret = "s3cret-in-the-command";
        for cmd in [
            format!("exit 3; echo {secret}"),
            format!("true {secret}"),
            format!("printf '\\377'; : {secret}"),
            format!("/nonexistent/{secret}"),
        ] {
            let src = PasswordSource::Command(cmd.clone());
            let e = src.resolve("alice@example.test").await.unwrap_err();
            let shown = format!("{e} {e:?} {src:?} {}", src.describe());
            assert!(!shown.contains(secret), "{cmd:?} shown: {shown}");
            assert!(shown.contains("alice@example.test"), "{shown}");
        }
        // And it still works.
        let ok = PasswordSource::Command("printf 'pw\\nsecond line\\n'".into());
        assert_eq!(ok.resolve("a").await.unwrap().expose(), "pw");
    }
}
