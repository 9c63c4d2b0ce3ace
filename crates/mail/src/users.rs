//! The users file: one line (CSV) or table (TOML) per account, shared by
//! `mail sync` and `mail users`.
//!
//! CSV (`,` or `;`, `#` comments) either with a header row naming the
//! columns below, or without one in imapsync's usual order
//! `src_user;src_password;dst_user;dst_password`.
//! TOML: `[[account]]` tables with the same keys.
//!
//! Keys: `src_user`, `dst_user` (defaults to src_user), and per side one of
//! `*_password`, `*_password_command`, `*_password_file`, `*_password_env`;
//! `quota` (bytes, or with K/M/G/T suffix, 1024-based) for provisioning.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{MailError, Result};
use crate::secret::{PasswordSource, Secret};

#[derive(Debug, Clone)]
pub struct Account {
    /// 1-based line (CSV) or table index (TOML), for error messages.
    pub entry: usize,
    pub src_user: String,
    pub src_password: Option<PasswordSource>,
    pub dst_user: String,
    pub dst_password: Option<PasswordSource>,
    pub quota_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    src_user: Option<String>,
    src_password: Option<String>,
    src_password_command: Option<String>,
    src_password_file: Option<PathBuf>,
    src_password_env: Option<String>,
    dst_user: Option<String>,
    dst_password: Option<String>,
    dst_password_command: Option<String>,
    dst_password_file: Option<PathBuf>,
    dst_password_env: Option<String>,
    quota: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    #[serde(default)]
    account: Vec<Row>,
}

/// Read and check a users file. Every problem names the file and the entry.
pub fn load(path: &Path) -> Result<Vec<Account>> {
    let err = |detail: String| MailError::UsersFile {
        path: path.to_path_buf(),
        detail,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    let rows = if is_toml {
        let f: TomlFile = toml::from_str(&text).map_err(|e| err(format!("not valid TOML: {e}")))?;
        f.account
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i + 1, r))
            .collect()
    } else {
        parse_csv(&text).map_err(err)?
    };
    if rows.is_empty() {
        return Err(err("no accounts in the file".into()));
    }
    let mut out = Vec::with_capacity(rows.len());
    let mut seen = std::collections::HashSet::new();
    for (entry, row) in rows {
        let acc = to_account(entry, row).map_err(|d| err(format!("entry {entry}: {d}")))?;
        if !seen.insert((acc.src_user.clone(), acc.dst_user.clone())) {
            return Err(err(format!(
                "entry {entry}: {} -> {} is listed twice",
                acc.src_user, acc.dst_user
            )));
        }
        out.push(acc);
    }
    Ok(out)
}

fn parse_csv(text: &str) -> std::result::Result<Vec<(usize, Row)>, String> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let delim = if first.contains(';') { b';' } else { b',' };
    let has_header = first.split([';', ',']).any(|c| c.trim() == "src_user");
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delim)
        .comment(Some(b'#'))
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("not valid CSV: {e}"))?;
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        if rec.iter().all(str::is_empty) {
            continue;
        }
        if has_header && header.is_none() {
            header = Some(rec.iter().map(str::to_string).collect());
            continue;
        }
        let mut row = Row::default();
        let cols: Vec<String> = match &header {
            Some(h) => h.clone(),
            None => [
                "src_user",
                "src_password",
                "dst_user",
                "dst_password",
                "quota",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        };
        if rec.len() > cols.len() {
            return Err(format!(
                "line {line}: {} fields, expected at most {}",
                rec.len(),
                cols.len()
            ));
        }
        for (name, value) in cols.iter().zip(rec.iter()) {
            if value.is_empty() {
                continue;
            }
            let v = Some(value.to_string());
            match name.as_str() {
                "src_user" => row.src_user = v,
                "src_password" => row.src_password = v,
                "src_password_command" => row.src_password_command = v,
                "src_password_file" => row.src_password_file = v.map(PathBuf::from),
                "src_password_env" => row.src_password_env = v,
                "dst_user" => row.dst_user = v,
                "dst_password" => row.dst_password = v,
                "dst_password_command" => row.dst_password_command = v,
                "dst_password_file" => row.dst_password_file = v.map(PathBuf::from),
                "dst_password_env" => row.dst_password_env = v,
                "quota" => row.quota = Some(toml::Value::String(value.to_string())),
                other => return Err(format!("unknown column {other:?}")),
            }
        }
        rows.push((line, row));
    }
    Ok(rows)
}

fn source(
    inline: Option<String>,
    command: Option<String>,
    file: Option<PathBuf>,
    env: Option<String>,
    side: &str,
) -> std::result::Result<Option<PasswordSource>, String> {
    let mut found: Vec<PasswordSource> = Vec::new();
    found.extend(inline.map(|s| PasswordSource::Inline(Secret::new(s))));
    found.extend(command.map(PasswordSource::Command));
    found.extend(file.map(PasswordSource::File));
    found.extend(env.map(PasswordSource::Env));
    if found.len() > 1 {
        return Err(format!(
            "give one of {side}_password, {side}_password_command, {side}_password_file, {side}_password_env"
        ));
    }
    Ok(found.pop())
}

fn to_account(entry: usize, r: Row) -> std::result::Result<Account, String> {
    let src_user = r
        .src_user
        .filter(|u| !u.is_empty())
        .ok_or("src_user is missing")?;
    let dst_user = r.dst_user.unwrap_or_else(|| src_user.clone());
    let quota_bytes = match r.quota {
        None => None,
        Some(toml::Value::Integer(n)) if n >= 0 => Some(n as u64),
        Some(toml::Value::String(s)) => Some(parse_size(&s)?),
        Some(v) => return Err(format!("quota {v} is not a size")),
    };
    Ok(Account {
        entry,
        src_password: source(
            r.src_password,
            r.src_password_command,
            r.src_password_file,
            r.src_password_env,
            "src",
        )?,
        dst_password: source(
            r.dst_password,
            r.dst_password_command,
            r.dst_password_file,
            r.dst_password_env,
            "dst",
        )?,
        src_user,
        dst_user,
        quota_bytes,
    })
}

/// `1048576`, `512M`, `2G`, `1.5G` → bytes (1024-based, like Mailu's UI).
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                'B' => 1,
                _ => {
                    return Err(format!(
                        "quota {s:?}: unknown unit {c:?} (use K, M, G or T)"
                    ));
                }
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("quota {s:?} is not a size"))?;
    if !(n.is_finite() && n >= 0.0) {
        return Err(format!("quota {s:?} is not a size"));
    }
    Ok((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    #[test]
    fn imapsync_style_csv_without_header() {
        let (_d, p) = write("u.csv", "# comment\na@x;pa;b@y;pb\nc@x;pc;c@x;pd\n");
        let a = load(&p).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].dst_user, "b@y");
        assert_eq!(
            a[0].src_password,
            Some(PasswordSource::Inline(Secret::new("pa")))
        );
        assert_eq!(a[1].entry, 3);
    }

    #[test]
    fn csv_with_header_and_sources() {
        let (_d, p) = write(
            "u.csv",
            "src_user,src_password_env,dst_password_command,quota\na@x,PW_A,pass show a,2G\n",
        );
        let a = load(&p).unwrap();
        assert_eq!(a[0].dst_user, "a@x");
        assert_eq!(a[0].src_password, Some(PasswordSource::Env("PW_A".into())));
        assert_eq!(
            a[0].dst_password,
            Some(PasswordSource::Command("pass show a".into()))
        );
        assert_eq!(a[0].quota_bytes, Some(2 << 30));
    }

    #[test]
    fn toml_accounts() {
        let (_d, p) = write(
            "u.toml",
            "[[account]]\nsrc_user='a@x'\nsrc_password='p'\ndst_password_file='/f'\nquota=1000\n",
        );
        let a = load(&p).unwrap();
        assert_eq!(a[0].dst_password, Some(PasswordSource::File("/f".into())));
        assert_eq!(a[0].quota_bytes, Some(1000));
    }

    #[test]
    fn bad_files_name_the_problem() {
        let (_d, p) = write("u.csv", "src_user,src_password,src_password_env\na,b,C\n");
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("entry 2") && e.contains("give one of"), "{e}");
        let (_d, p) = write("u.csv", "src_user,colour\na,red\n");
        assert!(
            load(&p)
                .unwrap_err()
                .to_string()
                .contains("unknown column \"colour\"")
        );
        let (_d, p) = write("u.toml", "[[account]]\nsrc_pasword='x'\n");
        assert!(load(&p).unwrap_err().to_string().contains("not valid TOML"));
        let (_d, p) = write("u.csv", "# nothing\n");
        assert!(load(&p).unwrap_err().to_string().contains("no accounts"));
        let (_d, p) = write("u.csv", "a;b;c;d\na;b;c;d\n");
        assert!(load(&p).unwrap_err().to_string().contains("listed twice"));
    }

    #[test]
    fn debug_never_shows_passwords() {
        let (_d, p) = write("u.csv", "a@x;hunter2;b@y;swordfish\n");
        let a = load(&p).unwrap();
        let dbg = format!("{a:?}");
        assert!(
            !dbg.contains("hunter2") && !dbg.contains("swordfish"),
            "{dbg}"
        );
    }
}
