//! `migrate app mailu --from-imap URL --to-imap URL --users FILE
//! --mailu-api URL [--dns-file FILE]`: mail from another IMAP server into a
//! running Mailu, as imapsync's migration plan and Mailu's guide do it:
//! the users created through Mailu's REST API (with the passwords the users
//! file gives), every mailbox pre-synced while the old server still takes
//! mail, MX (the mail host's A/AAAA) pointed at Mailu, a wait while senders
//! still use the old address, and a final sync that carries what reached
//! the old server meanwhile. Every part is safe to run again: users that
//! exist are left as they are, the sync copies only what is missing (it
//! identifies messages as imapsync does), the DNS plan with the original
//! TTLs is kept beside the other migrations' journals.

use std::path::{Path, PathBuf};
use std::time::Duration;

use migrate_mail::run::{self, Job};
use migrate_mail::{AccountReport, MailError, Options, Secret, Server};
use migrate_units::human_bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Global;
use super::reply::{Failure, runtime};
use crate::exit;
use crate::migration::definition::Dns as DnsDef;
use crate::migration::dns as plan_dns;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ImapArgs {
    /// Move mail from this IMAP server into Mailu instead of moving a Mailu
    /// (imaps://HOST[:993], imap://HOST (STARTTLS), imap+plain://HOST:PORT).
    #[arg(long, value_name = "URL", requires_all = ["to_imap", "users", "mailu_api"])]
    pub from_imap: Option<String>,
    /// Mailu's IMAP server, same forms as --from-imap.
    #[arg(long, value_name = "URL")]
    pub to_imap: Option<String>,
    /// The accounts (as `migrate mail sync` reads them; dst passwords become
    /// the Mailu passwords).
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Mailu's API root, e.g. https://mail.example.net/api/v1; the token
    /// comes from MIGRATE_MAILU_TOKEN or --mailu-token-file.
    #[arg(long, value_name = "URL")]
    pub mailu_api: Option<String>,
    /// File holding the Mailu API token (first line).
    #[arg(long, value_name = "FILE")]
    pub mailu_token_file: Option<PathBuf>,
    /// TOML file with a [dns] table as in migration files: the mail host
    /// (--domain) is pointed at Mailu between the pre-sync and the final
    /// sync. Without it, MX is switched by hand when the run says so.
    #[arg(long, value_name = "FILE")]
    pub dns_file: Option<PathBuf>,
    /// Seconds to wait after the MX switch before the final sync, at least
    /// the TTL resolvers may still hold for the old address.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub settle: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DnsFile {
    dns: DnsDef,
}

const TOKEN_ENV: &str = "MIGRATE_MAILU_TOKEN";

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::new(exit::BAD_INPUT, "input", e.to_string())
}

fn token(a: &ImapArgs) -> Result<Secret, Failure> {
    let t = match &a.mailu_token_file {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| fail(format!("token file {}: {e}", p.display())))?
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string(),
        None => std::env::var(TOKEN_ENV)
            .unwrap_or_default()
            .trim()
            .to_string(),
    };
    if t.is_empty() {
        return Err(fail(format!(
            "no Mailu API token: set {TOKEN_ENV} or pass --mailu-token-file FILE"
        )));
    }
    Ok(Secret::new(t))
}

/// Where this move keeps its DNS plan (the original TTLs) between runs.
fn state_dir(a: &ImapArgs, domain: &str) -> PathBuf {
    let mut h = Sha256::new();
    for p in [
        a.from_imap.as_deref().unwrap_or(""),
        a.to_imap.as_deref().unwrap_or(""),
        domain,
    ] {
        h.update(p.as_bytes());
        h.update(b"\n");
    }
    crate::paths::data_dir()
        .join("migrations")
        .join(format!("mailu-imap-{}", hex::encode(&h.finalize()[..5])))
}

fn sync(
    rt: &tokio::runtime::Runtime,
    src: &Server,
    dst: &Server,
    users: &Path,
) -> Result<Vec<AccountReport>, Failure> {
    let accounts = migrate_mail::users::load(users).map_err(|e| Failure::of(&e))?;
    let job = Job {
        src: src.clone(),
        dst: dst.clone(),
        connections: 2,
        opts: Options {
            dry_run: false,
            folders_only: false,
            delete: false,
            force: false,
            batch_bytes: 4 << 20,
            progress: None,
            renames: Vec::new(),
        },
    };
    Ok(rt.block_on(run::run(job, accounts, |_| {})))
}

fn dst_counts(r: &AccountReport) -> (u64, u64) {
    r.folders
        .iter()
        .fold((0, 0), |(m, b), f| (m + f.dst_messages, b + f.dst_bytes))
}

fn src_counts(r: &AccountReport) -> (u64, u64) {
    r.folders
        .iter()
        .fold((0, 0), |(m, b), f| (m + f.src_messages, b + f.src_bytes))
}

pub fn run(a: &ImapArgs, domain: Option<&str>, g: &Global) -> Result<Value, Failure> {
    let say = |s: String| {
        if !g.json {
            println!("{s}");
        }
    };
    let (Some(from), Some(to), Some(users), Some(api_url)) =
        (&a.from_imap, &a.to_imap, &a.users, &a.mailu_api)
    else {
        return Err(fail("--from-imap needs --to-imap, --users and --mailu-api"));
    };
    let src = Server::parse(from).map_err(|e| Failure::of(&e))?;
    let dst = Server::parse(to).map_err(|e| Failure::of(&e))?;
    let accounts = migrate_mail::users::load(users).map_err(|e| Failure::of(&e))?;
    let dns = match &a.dns_file {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| fail(format!("{}: {e}", p.display())))?;
            let f: DnsFile =
                toml::from_str(&text).map_err(|e| fail(format!("{}: {e}", p.display())))?;
            let Some(d) = domain else {
                return Err(fail("--dns-file needs --domain, the mail host MX names"));
            };
            Some((f.dns, d.to_string()))
        }
        None => None,
    };
    let rt = runtime()?;
    let api = migrate_mail::mailu::Api::new(api_url, token(a)?).map_err(|e| Failure::of(&e))?;

    // 1. Users through the admin API (existing ones are left as they are).
    say(format!("1. users on Mailu through {api_url}"));
    let mut provisioned = Vec::new();
    for acc in &accounts {
        let pw = match &acc.dst_password {
            Some(s) => rt.block_on(s.resolve(&acc.dst_user)),
            None => Err(MailError::Password {
                user: acc.dst_user.clone(),
                detail: format!("the users file gives no dst password (entry {})", acc.entry),
            }),
        }
        .map_err(|e| Failure::of(&e))?;
        let o = api
            .provision(&acc.dst_user, &pw, acc.quota_bytes, false, false)
            .map_err(|e| Failure::of(&e))?;
        say(format!("   {}: {o:?}", acc.dst_user));
        provisioned.push(json!({"user": acc.dst_user, "outcome": format!("{o:?}")}));
    }

    // 2. Pre-sync while the old server still takes mail.
    say("2. pre-sync of every mailbox while the old server still takes mail".into());
    let pre = sync(&rt, &src, &dst, users)?;
    for r in &pre {
        say(format!("   {}", r.verdict()));
    }

    // 3. MX: the mail host's address moves to Mailu.
    let mut dns_line = "MX not managed here: point the mail host at Mailu now, then run this again to carry what reached the old server".to_string();
    if let Some((def, host)) = &dns {
        say(format!("3. MX: {host} pointed at {}", def.to.join(", ")));
        let dir = state_dir(a, host);
        std::fs::create_dir_all(&dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
        let d = plan_dns::dns(def).map_err(fail)?;
        let req = plan_dns::request(host, def).map_err(fail)?;
        let mut p = match plan_dns::load_saved(&dir) {
            Some(p) => p,
            None => {
                let p = rt
                    .block_on(d.plan(&req, None))
                    .map_err(|e| fail(e.to_string()))?;
                plan_dns::save(&dir, &p).map_err(fail)?;
                p
            }
        };
        if p.cutover_at.is_none() {
            if p.lowered_at.is_none() {
                rt.block_on(d.lower(&mut p, false))
                    .map_err(|e| fail(e.to_string()))?;
                plan_dns::save(&dir, &p).map_err(fail)?;
            }
            if let Some(t) = p.earliest_cutover {
                let now = migrate_dns::verify::now_unix();
                if t > now {
                    say(format!(
                        "   waiting {} s for resolvers to drop the old TTL",
                        t - now
                    ));
                    std::thread::sleep(Duration::from_secs(t - now));
                }
            }
            rt.block_on(d.cutover(&mut p, false, false, false))
                .map_err(|e| fail(e.to_string()))?;
            plan_dns::save(&dir, &p).map_err(fail)?;
        }
        let wait = a.settle.max(u64::from(p.lowered_ttl));
        dns_line = format!(
            "{host} points at {} on every authoritative server",
            def.to.join(", ")
        );
        say(format!(
            "   {dns_line}; waiting {wait} s for mail still sent to the old address"
        ));
        std::thread::sleep(Duration::from_secs(wait));
        if p.restored_at.is_none() {
            rt.block_on(d.restore(&mut p, false))
                .map_err(|e| fail(e.to_string()))?;
            plan_dns::save(&dir, &p).map_err(fail)?;
        }
    } else {
        say(format!("3. {dns_line}"));
    }

    // 4. The final sync carries what reached the old server meanwhile.
    say("4. final sync: what reached the old server meanwhile".into());
    let fin = sync(&rt, &src, &dst, users)?;
    let mut rows = Vec::new();
    for (r, before) in fin
        .iter()
        .zip(pre.iter().map(Some).chain(std::iter::repeat(None)))
    {
        let (sm, sb) = src_counts(r);
        let (dm, db) = dst_counts(r);
        let pre_dst = before.map(dst_counts).unwrap_or_default();
        say(format!(
            "   {} -> {}: old server {sm} messages ({}), Mailu {dm} messages ({}); {} after the pre-sync; {}",
            r.src_user,
            r.dst_user,
            human_bytes(sb),
            human_bytes(db),
            pre_dst.0,
            r.verdict()
        ));
        rows.push(json!({
            "account": r.dst_user,
            "src_messages": sm, "src_bytes": sb,
            "dst_messages": dm, "dst_bytes": db,
            "dst_messages_after_pre_sync": pre_dst.0,
            "good": r.good(),
            "verdict": r.verdict(),
        }));
    }
    let verdict = run::verdict(&fin);
    say(verdict.clone());
    let result = json!({
        "users": provisioned,
        "dns": dns_line,
        "accounts": rows,
        "verdict": verdict,
    });
    if fin.iter().all(|r| r.good()) {
        Ok(result)
    } else {
        Err(Failure::new(exit::VERIFY_FAILED, "differences", verdict)
            .with_result(result)
            .told())
    }
}
