//! What a command ends with, and the one way it is told.
//!
//! Every command returns `Result<Value, Failure>`: its result as JSON, or
//! why it did not succeed (with the partial result where there is one: a
//! verification's differences, the accounts of a mail sync). [`finish`]
//! turns that into the exit code and, with `--json`, into exactly one JSON
//! document on stdout, the same envelope for every command:
//!
//! ```json
//! {"format_version": 1, "command": "copy", "ok": false, "exit_code": 2,
//!  "error": {"kind": "bad-address", "message": "bad address ..."}}
//! ```
//!
//! - `ok` is `exit_code == 0`; `exit_code` is the process's exit status
//!   (the table in `exit`), so a script may read either.
//! - `result` is the command's own report; present on success, and on
//!   failure when the command got far enough to have one.
//! - `error` is present exactly when `ok` is false: `kind` is a stable
//!   kebab-case name to branch on, `message` the text a person reads, and
//!   `hint`, `causes` and `suggestions` appear when there are any.
//! - `format_version` changes only when a field is removed, renamed or
//!   changes type; new fields may appear at any time, as may new kinds and
//!   new exit codes (an unknown one means failure).
//!
//! Progress and logs go to stderr, never to stdout, so the document is
//! always parseable. A failure is also told on stderr as `error: MESSAGE`,
//! its causes and its hint (without `--json`, unless the command already
//! said it in its own words).

use std::io::{IsTerminal, Write};

use serde::Serialize;
use serde_json::Value;

use crate::exit::{self, Classify};

/// Bumped only for changes that break a reader (see the module doc).
pub const FORMAT_VERSION: u32 = 1;

/// Why a command did not succeed (boxed: commands return it by value in
/// every `Result`, and it is only ever built once per run).
#[derive(Debug, Clone)]
pub struct Failure(Box<Problem>);

/// What a failure says: the `error` object of the envelope.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(skip)]
    pub exit_code: u8,
    pub kind: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The errors under this one, outermost first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
    /// The nearest valid choices, when the input was not one of them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
    /// The command's report, when it has one despite the failure.
    #[serde(skip)]
    pub result: Option<Value>,
    /// The command already told a person (in its own words on stdout or
    /// stderr); without `--json` nothing more is printed.
    #[serde(skip)]
    pub told: bool,
}

impl std::ops::Deref for Failure {
    type Target = Problem;
    fn deref(&self) -> &Problem {
        &self.0
    }
}

impl std::ops::DerefMut for Failure {
    fn deref_mut(&mut self) -> &mut Problem {
        &mut self.0
    }
}

impl Failure {
    pub fn new(exit_code: u8, kind: impl Into<String>, message: impl Into<String>) -> Self {
        Failure(Box::new(Problem {
            exit_code,
            kind: kind.into(),
            message: message.into(),
            hint: None,
            causes: Vec::new(),
            suggestions: Vec::new(),
            result: None,
            told: false,
        }))
    }

    /// The report the command has despite the failure.
    pub fn with_result(mut self, result: Value) -> Self {
        self.result = Some(result);
        self
    }

    pub fn with_suggestions(mut self, suggestions: Vec<String>) -> Self {
        self.suggestions = suggestions;
        self
    }

    /// The command has printed this failure for a person already.
    pub fn told(mut self) -> Self {
        self.told = true;
        self
    }
}

/// Every classified error becomes a failure with its code, kind, hint and
/// causes, so commands end on errors with `?`.
impl<E: Classify> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::of(&e)
    }
}

impl Failure {
    /// The failure an error stands for, when the error is only borrowed
    /// (the worst of a mail sync's accounts).
    pub fn of<E: Classify + ?Sized>(e: &E) -> Self {
        let message = e.to_string();
        let mut causes = Vec::new();
        let mut src = e.source();
        while let Some(s) = src {
            let text = s.to_string();
            // Many messages already end with their cause's text.
            if !message.contains(&text) {
                causes.push(text);
            }
            src = s.source();
        }
        let mut f = Failure::new(e.exit_code(), e.kind(), message);
        f.hint = e.hint().map(str::to_string);
        f.causes = causes;
        f
    }
}

/// The runtime every async command runs on (see `crate::runtime`).
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    crate::runtime::build().map_err(|e| {
        Failure::new(
            exit::FAILURE,
            "runtime",
            format!("cannot start the async runtime: {e}"),
        )
    })
}

/// A value as JSON for a result. Serialising our own report types cannot
/// fail (string keys, no non-finite floats); if it ever did, the result
/// says so rather than the command failing after its work is done.
pub fn to_json<T: Serialize + ?Sized>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_else(|e| serde_json::json!({"unencodable": e.to_string()}))
}

#[derive(Serialize)]
struct Envelope<'a> {
    format_version: u32,
    command: &'a str,
    ok: bool,
    exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a Problem>,
}

fn envelope_of<'a>(command: &'a str, outcome: &'a Result<Value, Failure>) -> Envelope<'a> {
    let (exit_code, result, error) = match outcome {
        Ok(v) => (exit::OK, Some(v), None),
        Err(f) => (f.exit_code, f.result.as_ref(), Some(&**f)),
    };
    Envelope {
        format_version: FORMAT_VERSION,
        command,
        ok: exit_code == exit::OK,
        exit_code,
        result,
        error,
    }
}

/// The envelope of a finished command, as a JSON value.
pub fn envelope(command: &str, outcome: &Result<Value, Failure>) -> Value {
    to_json(&envelope_of(command, outcome))
}

/// Tell how a command ended and return its exit code. With `--json`: the
/// envelope on stdout and, on failure, the error on stderr too, for the
/// person watching. Without: the failure on stderr, unless the command
/// told it already in its own words.
pub fn finish(command: &str, outcome: Result<Value, Failure>, json: bool) -> u8 {
    if json {
        print_envelope(command, &outcome);
    }
    match &outcome {
        Ok(_) => exit::OK,
        Err(f) => {
            if json || !f.told {
                tell(f);
            }
            f.exit_code
        }
    }
}

/// The envelope on stdout: indented on a terminal, one line otherwise.
pub fn print_envelope(command: &str, outcome: &Result<Value, Failure>) {
    // Serialised from the struct, so the envelope's own fields come first,
    // in the documented order.
    let v = envelope_of(command, outcome);
    let stdout = std::io::stdout();
    let text = if stdout.is_terminal() {
        serde_json::to_string_pretty(&v)
    } else {
        serde_json::to_string(&v)
    }
    .unwrap_or_default();
    // A reader that went away (`| head`) is not this command's failure.
    let _ = writeln!(stdout.lock(), "{text}");
}

/// A failure for a person, on stderr.
pub fn tell(f: &Problem) {
    eprintln!("error: {}", f.message);
    for c in &f.causes {
        eprintln!("  caused by: {c}");
    }
    if let Some(h) = &f.hint {
        eprintln!("  hint: {h}");
    }
    if !f.suggestions.is_empty() {
        eprintln!("  nearest valid choices: {}", f.suggestions.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_carries_the_result_and_no_error() {
        let v = envelope("recipe list", &Ok(serde_json::json!({"recipes": []})));
        assert_eq!(v["command"], "recipe list");
        assert_eq!(v["ok"], true);
        assert_eq!(v["exit_code"], 0);
        assert_eq!(v["format_version"], FORMAT_VERSION);
        assert_eq!(v["result"]["recipes"], serde_json::json!([]));
        assert!(v.get("error").is_none(), "{v}");
    }

    #[test]
    fn a_classified_error_keeps_its_code_kind_and_hint() {
        let e = migrate_remote::RemoteError::BadAddress {
            input: "a b".into(),
            why: "spaces".into(),
        };
        let v = envelope("copy", &Err(Failure::from(e)));
        assert_eq!(v["ok"], false);
        assert_eq!(v["exit_code"], exit::BAD_INPUT);
        assert_eq!(v["error"]["kind"], "bad-address");
        assert!(v["error"]["message"].as_str().unwrap_or("").contains("a b"));
        assert!(v.get("result").is_none(), "{v}");
        assert!(v["error"].get("hint").is_none(), "{v}");

        let m = migrate_mail::MailError::Input("no users file".into());
        let v = envelope("mail sync", &Err(Failure::from(m)));
        assert_eq!(v["exit_code"], exit::BAD_INPUT);
        assert_eq!(v["error"]["kind"], "input");
        assert!(v["error"]["hint"].is_string(), "{v}");
    }

    #[test]
    fn a_failure_with_a_report_carries_both() {
        let f = Failure::new(exit::VERIFY_FAILED, "differences", "2 differences")
            .with_result(serde_json::json!({"differences": ["a", "b"]}));
        let v = envelope("copy", &Err(f));
        assert_eq!(v["ok"], false);
        assert_eq!(v["exit_code"], 6);
        assert_eq!(v["result"]["differences"][1], "b");
        assert_eq!(v["error"]["kind"], "differences");
    }
}
