//! Media kept in object storage (Mastodon's `S3_ENABLED=true`): the bucket
//! stays where it is, so the copy leaves `public/system` out, and before
//! DNS moves the destination must reach the bucket. The check asks for one
//! object the source's database names, by its public URL, with a HEAD
//! request made from the destination; media are public-read (browsers load
//! them by that URL), so the request carries no credentials and none of
//! `.env.production`'s secrets is ever read.
//!
//! The public URL follows Mastodon's config/initializers/paperclip.rb:
//! `S3_ALIAS_HOST` (with `S3_PROTOCOL`) when set, else the path-style
//! `S3_ENDPOINT/S3_BUCKET/key`, else `S3_PROTOCOL://S3_HOSTNAME/S3_BUCKET/key`
//! (AWS's `s3-REGION.amazonaws.com` when no hostname is given). Keys are
//! paperclip's: `media_attachments/files/<id partition>/original/<file>`.

use migrate_remote::sh_quote;
use serde::{Deserialize, Serialize};

use super::{Cx, Exec, Outcome, Planned, StepKind};
use crate::plugin::Side;

/// What the plan found on the source about its object storage.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ObjectStorage {
    /// Where the media live, as the plan names it (`<endpoint>/<bucket>`).
    pub place: String,
    /// The public URL of one object the source's database names; None when
    /// the database names none.
    pub probe_url: Option<String>,
    /// Copy exclusions relative to the copied root (rsync rules).
    pub excluded: Vec<String>,
}

/// The media directory the copy leaves out, relative to the copied root.
pub const MEDIA: &str = "/public/system/";

/// The `.env.production` keys this reads: none of them is a secret.
const KEYS: &[&str] = &[
    "S3_ENABLED",
    "S3_BUCKET",
    "S3_ENDPOINT",
    "S3_ALIAS_HOST",
    "S3_PROTOCOL",
    "S3_HOSTNAME",
    "S3_REGION",
];

/// The source's object storage, read at plan time: `.env.production` (only
/// the keys above, filtered on the server so secrets never leave it) and
/// one media attachment's id and file name from the database. None when
/// the app keeps its media on disk.
pub fn plan_reading(
    sides: &super::super::sides::Sides,
    mig: &super::super::definition::Migration,
    recipe: &crate::recipe::Recipe,
    notes: &mut Vec<String>,
) -> Option<ObjectStorage> {
    use super::super::layout::Layout;
    if !recipe
        .directories
        .iter()
        .any(|d| d.path == ".env.production")
        || Layout::of(&mig.source) != Layout::Directory
    {
        return None;
    }
    let script = format!(
        "f={}/.env.production; test -f \"$f\" || exit 0; grep -E '^({})=' \"$f\"; true",
        sh_quote(&mig.source.root),
        KEYS.join("|")
    );
    let env = match sides.sh(Side::Source, "reading object storage settings", &script) {
        Ok(out) => parse_env(&out),
        Err(e) => {
            notes.push(format!(
                "The object storage settings (S3_*) in .env.production could not be read on the source: {e}"
            ));
            return None;
        }
    };
    if get(&env, "S3_ENABLED") != Some("true") {
        return None;
    }
    let db = recipe
        .databases
        .iter()
        .find(|d| d.engine == crate::recipe::Engine::Postgresql)
        .map(|d| super::super::builder::db_name(mig, Side::Source, &d.name))?;
    let query = format!(
        "cd / && runuser -u postgres -- psql -XAtq -d {} -c {}",
        sh_quote(&db),
        sh_quote(
            "select id, file_file_name from media_attachments where file_file_name is not null order by id limit 1"
        )
    );
    let key = match sides.sh(Side::Source, "finding one media object", &query) {
        Ok(out) => out.lines().find_map(media_key),
        Err(e) => {
            notes.push(format!(
                "No media attachment could be read from the source's database ({e}); the bucket is not checked from the destination."
            ));
            None
        }
    };
    let st = from_env(&env, key.as_deref());
    if st.probe_url.is_none() {
        notes.push(
            "The source's database names no media attachment: the bucket is not checked from the destination.".into(),
        );
    }
    Some(st)
}

fn parse_env(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

fn get<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Paperclip's key for `ID|FILE`: the id zero-padded to nine digits, cut
/// into groups of three (Ruby's `scan(/\d{3}/)`, which drops a shorter
/// tail).
fn media_key(line: &str) -> Option<String> {
    let (id, file) = line.trim().split_once('|')?;
    let id: u64 = id.parse().ok()?;
    if file.is_empty() {
        return None;
    }
    let digits = format!("{id:09}");
    let parts: Vec<&str> = digits
        .as_bytes()
        .chunks_exact(3)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    Some(format!(
        "media_attachments/files/{}/original/{}",
        parts.join("/"),
        encode(file)
    ))
}

/// A path segment as a URL carries it.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn from_env(env: &[(String, String)], key: Option<&str>) -> ObjectStorage {
    let protocol = get(env, "S3_PROTOCOL").unwrap_or("https");
    let bucket = get(env, "S3_BUCKET").unwrap_or("");
    let endpoint = match (get(env, "S3_ENDPOINT"), get(env, "S3_HOSTNAME")) {
        (Some(e), _) => e.trim_end_matches('/').to_string(),
        (None, Some(h)) => format!("{protocol}://{h}"),
        (None, None) => format!(
            "{protocol}://s3-{}.amazonaws.com",
            get(env, "S3_REGION").unwrap_or("us-east-1")
        ),
    };
    let base = match get(env, "S3_ALIAS_HOST") {
        Some(alias) => format!("{protocol}://{}", alias.trim_end_matches('/')),
        None => format!("{endpoint}/{bucket}"),
    };
    ObjectStorage {
        place: format!("{endpoint}/{bucket}"),
        probe_url: key.map(|k| format!("{base}/{k}")),
        excluded: vec![MEDIA.to_string()],
    }
}

/// The HEAD request the destination makes: the status code on stdout,
/// curl's own error on stderr.
fn head(url: &str) -> String {
    format!(
        "curl -sS -I -o /dev/null -w '%{{http_code}}' --max-time 15 -- {}",
        sh_quote(url)
    )
}

pub struct ObjectStorageCheck<'a> {
    pub place: &'a str,
    pub url: &'a str,
}

impl StepKind for ObjectStorageCheck<'_> {
    fn describe(&self, _cx: &Cx) -> Vec<Planned> {
        vec![Planned::on("head", Side::Destination, head(self.url))]
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        let (code, out, err) = x.status("head", "asking the bucket for one media object")?;
        let status = out.trim();
        if code == 0 && status == "200" {
            return Ok(Outcome::plain(format!(
                "the destination reaches the media at {} (HEAD {} answered 200)",
                self.place, self.url
            )));
        }
        let why = if code != 0 || status == "000" {
            format!("no answer ({})", super::tail(&err))
        } else {
            format!("HTTP {status}")
        };
        Err(format!(
            "the destination cannot reach the media in object storage: HEAD {} from the destination: {why}. The media stay at {}; make that endpoint reachable from the destination (firewall, DNS, S3_ALIAS_HOST) and rerun before DNS moves",
            self.url, self.place
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keys_are_paperclip_partitions() {
        assert_eq!(
            media_key("60|file60.png").as_deref(),
            Some("media_attachments/files/000/000/060/original/file60.png")
        );
        assert_eq!(
            media_key("109418243588134927|a b.png").as_deref(),
            Some("media_attachments/files/109/418/243/588/134/927/original/a%20b.png")
        );
        assert_eq!(media_key("x|y"), None);
        assert_eq!(media_key("1|"), None);
    }

    #[test]
    fn urls_follow_mastodons_settings() {
        let k = Some("k.png");
        let s = from_env(
            &env(&[
                ("S3_ENDPOINT", "http://127.0.0.1:9000/"),
                ("S3_BUCKET", "b"),
            ]),
            k,
        );
        assert_eq!(s.place, "http://127.0.0.1:9000/b");
        assert_eq!(
            s.probe_url.as_deref(),
            Some("http://127.0.0.1:9000/b/k.png")
        );
        let s = from_env(
            &env(&[
                ("S3_ENDPOINT", "https://s3.example"),
                ("S3_BUCKET", "b"),
                ("S3_ALIAS_HOST", "files.example.test"),
            ]),
            k,
        );
        assert_eq!(
            s.probe_url.as_deref(),
            Some("https://files.example.test/k.png")
        );
        let s = from_env(
            &env(&[
                ("S3_HOSTNAME", "h.example"),
                ("S3_PROTOCOL", "http"),
                ("S3_BUCKET", "b"),
            ]),
            None,
        );
        assert_eq!(s.place, "http://h.example/b");
        assert_eq!(s.probe_url, None);
        assert_eq!(s.excluded, [MEDIA]);
    }

    #[test]
    fn quoted_values_are_read_and_the_last_one_wins() {
        let e = parse_env("S3_ENABLED=\"true\"\nS3_BUCKET=a\nS3_BUCKET='b'\n");
        assert_eq!(get(&e, "S3_ENABLED"), Some("true"));
        assert_eq!(get(&e, "S3_BUCKET"), Some("b"));
    }
}
