//! `migrate mail …`: mailboxes IMAP to IMAP, users on Mailu, the cutover
//! runbook.

use std::path::PathBuf;
use std::time::Instant;

use migrate_mail::cutover::Cutover;
use migrate_mail::run::{self, Job};
use migrate_mail::{AccountReport, ErrorKind, MailError, Options, Secret, Server};
use migrate_units::{human_bytes, human_rate};
use serde_json::{Value, json};

use super::Global;
use super::reply::{Failure, runtime};
use crate::exit;

const SYNC_HELP: &str = "\
Users file: CSV (`,` or `;`) with a header row, or imapsync's usual
`src_user;src_password;dst_user;dst_password` without one; or TOML with
[[account]] tables. Columns/keys: src_user, dst_user (default: src_user),
per side one of *_password, *_password_command (sh -c, first line of its
output), *_password_file, *_password_env; quota (for `mail users`).
Passwords are never read from the command line and never printed.

Messages are identified like imapsync does (normalised Message-Id and
Received headers; Date/From/To/Subject and size for messages without
them), so a rerun copies nothing twice, carries flag changes, and picks up
where a killed or failed run stopped.

Exit codes (the first failed account in the users file decides):
  0    every account in sync (or a dry run / folders-only run finished)
  2    bad input (users file, password source, option)
  3    refused: --delete after the cutover without --force (nothing deleted)
  6    no error, but messages or flags still differ
  10   connection failed            12   TLS failed (untrusted, pin mismatch, no STARTTLS)
  16   authentication failed        113  destination over quota
  114  the destination refused a message or folder
  1    other failures (unexpected server answers)";

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Copy mailboxes from one IMAP server to another: folders, messages,
    /// flags, internal dates; incremental and parallel, with a verdict.
    #[command(after_help = SYNC_HELP)]
    Sync(SyncArgs),
    /// Create the destination users from the users file: on Mailu through
    /// its REST API, or as a Mailu config-import YAML file.
    Users(UsersArgs),
    /// Print the mail cutover as ordered plan steps (a runbook).
    Cutover(CutoverArgs),
}

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Source server: imaps://HOST[:993], imap://HOST[:143] (STARTTLS,
    /// required) or imap+plain://HOST[:PORT] (no TLS, for loopback/labs).
    #[arg(long)]
    pub from: String,
    /// Destination server, same forms as --from.
    #[arg(long)]
    pub to: String,
    /// The users file (CSV or TOML, see below).
    #[arg(long)]
    pub users: PathBuf,
    /// Trust the source's certificate by its SHA-256 fingerprint
    /// (`openssl x509 -noout -fingerprint -sha256`), e.g. for a self-signed one.
    #[arg(long, value_name = "SHA256")]
    pub from_pin: Option<String>,
    /// Trust the CAs in this PEM file for the source instead of the built-in roots.
    #[arg(long, value_name = "PEM")]
    pub from_ca: Option<PathBuf>,
    /// Like --from-pin, for the destination.
    #[arg(long, value_name = "SHA256")]
    pub to_pin: Option<String>,
    /// Like --from-ca, for the destination.
    #[arg(long, value_name = "PEM")]
    pub to_ca: Option<PathBuf>,
    /// Sessions per server at once; each account uses one on each server.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub connections: u16,
    /// Show what would be copied; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only create the folder tree.
    #[arg(long)]
    pub folders_only: bool,
    /// Delete destination messages that the source does not have (only before
    /// the cutover: refused once the destination holds newer mail, unless --force).
    #[arg(long)]
    pub delete: bool,
    /// With --delete: delete even after the cutover.
    #[arg(long, requires = "delete")]
    pub force: bool,
    /// Put source folder SRC into destination folder DST (names as the
    /// per-folder table shows them, each with its server's separator), e.g.
    /// `--map-folder "Reports.Q1=Reports/Q1"`. Repeatable; wins over the
    /// automatic mapping.
    #[arg(long, value_name = "SRC=DST", value_parser = parse_rename)]
    pub map_folder: Vec<(String, String)>,
    /// Bytes of message bodies fetched per round trip (K/M/G suffixes).
    #[arg(long, default_value = "8M", value_parser = parse_size)]
    pub batch: u64,
}

fn parse_rename(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok((a.to_string(), b.to_string())),
        _ => Err("expected SRC=DST, e.g. \"Reports.Q1=Reports/Q1\"".into()),
    }
}

fn parse_size(s: &str) -> Result<u64, String> {
    migrate_mail::users::parse_size(s)
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["mailu_api", "config_import"])))]
pub struct UsersArgs {
    /// The users file (the same as for `mail sync`); uses dst_user,
    /// the dst password and quota.
    #[arg(long)]
    pub users: PathBuf,
    /// Mailu API root, e.g. https://mail.example.org/api/v1. The token comes
    /// from --secret-file or MIGRATE_MAILU_TOKEN, never from the command line.
    #[arg(long, value_name = "URL")]
    pub mailu_api: Option<String>,
    /// File holding the Mailu API token (first line).
    #[arg(long, value_name = "FILE", alias = "token-file")]
    pub secret_file: Option<PathBuf>,
    /// Also set the password of users that already exist.
    #[arg(long)]
    pub reset_passwords: bool,
    /// Write a Mailu config-import YAML file (mode 0600) instead of calling the API.
    #[arg(long, value_name = "FILE")]
    pub config_import: Option<PathBuf>,
    /// Overwrite an existing --config-import file.
    #[arg(long)]
    pub force: bool,
    /// Show what would be done; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct CutoverArgs {
    /// The mail domain.
    #[arg(long)]
    pub domain: String,
    /// The mail server's host name, the MX target (Mailu's HOSTNAMES[0]).
    #[arg(long = "mail-host", value_name = "HOST", alias = "mx-host")]
    pub mail_host: String,
    /// The new server's address.
    #[arg(long)]
    pub new_ip: Option<std::net::IpAddr>,
    /// The TTL the MX and A records have today (seconds).
    #[arg(long, default_value_t = 3600)]
    pub old_ttl: u32,
    /// The TTL during the migration (seconds).
    #[arg(long, default_value_t = 300)]
    pub low_ttl: u32,
    /// Number of pre-sync rounds.
    #[arg(long, default_value_t = 2)]
    pub presyncs: u32,
    /// DKIM selector (Mailu's default is `dkim`).
    #[arg(long, default_value = "dkim")]
    pub dkim_selector: String,
}

pub fn run(cmd: Command, g: &Global) -> Result<Value, Failure> {
    match cmd {
        Command::Sync(a) => sync(a, g),
        Command::Users(a) => users(a, g),
        Command::Cutover(a) => Ok(cutover(a, g)),
    }
}

fn server(url: &str, pin: Option<&str>, ca: Option<&PathBuf>) -> Result<Server, MailError> {
    let mut s = Server::parse(url)?;
    if let Some(p) = pin {
        s.trust.pin_sha256 = Some(migrate_mail::server::parse_pin(p)?);
    }
    s.trust.ca_file = ca.cloned();
    if (pin.is_some() || ca.is_some()) && s.security == migrate_mail::Security::Plain {
        return Err(MailError::Input(format!(
            "{url}: a pin or CA was given for a server without TLS; use imaps:// or imap://"
        )));
    }
    Ok(s)
}

/// Inline passwords in a file others can read deserve a word.
fn warn_if_readable(path: &std::path::Path, accounts: &[migrate_mail::Account]) {
    use std::os::unix::fs::PermissionsExt;
    let inline = accounts.iter().any(|a| {
        matches!(
            a.src_password,
            Some(migrate_mail::PasswordSource::Inline(_))
        ) || matches!(
            a.dst_password,
            Some(migrate_mail::PasswordSource::Inline(_))
        )
    });
    if let Ok(m) = std::fs::metadata(path)
        && inline
        && m.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "warning: {} holds passwords and other users can read it: chmod 600 {}",
            path.display(),
            path.display()
        );
    }
}

fn print_account(r: &AccountReport) {
    println!("== {} -> {}", r.src_user, r.dst_user);
    if !r.folders.is_empty() {
        println!(
            "   {:<28} {:>8} {:>10} {:>8} {:>10} {:>7} {:>6} {:>7}",
            "folder", "src", "src size", "dst", "dst size", "copied", "flags", "missing"
        );
        for f in &r.folders {
            let name = if f.src == f.dst {
                f.src.clone()
            } else {
                format!("{} -> {}", f.src, f.dst)
            };
            println!(
                "   {:<28} {:>8} {:>10} {:>8} {:>10} {:>7} {:>6} {:>7}",
                name,
                f.src_messages,
                human_bytes(f.src_bytes),
                f.dst_messages,
                human_bytes(f.dst_bytes),
                f.copied,
                f.flags_synced,
                f.missing
            );
        }
    }
    for e in &r.item_errors {
        println!("   error: {e}");
    }
    if let Some(e) = &r.fatal {
        println!("   error: {e}");
        println!("   hint: {}", e.hint());
    }
    println!("   {}", r.verdict());
}

fn sync(a: SyncArgs, g: &Global) -> Result<Value, Failure> {
    let src = server(&a.from, a.from_pin.as_deref(), a.from_ca.as_ref())?;
    let dst = server(&a.to, a.to_pin.as_deref(), a.to_ca.as_ref())?;
    let accounts = migrate_mail::users::load(&a.users)?;
    warn_if_readable(&a.users, &accounts);
    let rt = runtime()?;
    let progress = std::sync::Arc::new(migrate_mail::Progress::default());
    let job = Job {
        src,
        dst,
        connections: usize::from(a.connections),
        opts: Options {
            dry_run: a.dry_run,
            folders_only: a.folders_only,
            delete: a.delete,
            force: a.force,
            batch_bytes: a.batch,
            progress: Some(progress.clone()),
            renames: a.map_folder,
        },
    };
    let json = g.json;
    let t0 = Instant::now();
    let n_accounts = accounts.len();
    // The sync's shared counters, shown by the one progress renderer.
    let shown = g.progress();
    let show = {
        let (p, shown) = (progress.clone(), shown.clone());
        move || {
            use migrate_progress::{Report, Unit};
            use std::sync::atomic::Ordering::Relaxed;
            let total = n_accounts as u64;
            shown.update(
                "mail accounts",
                Unit::Items("accounts"),
                p.accounts_done.load(Relaxed),
                Some(total),
            );
            shown.update(
                "mail messages",
                Unit::Items("messages"),
                p.messages.load(Relaxed),
                Some(p.messages_planned.load(Relaxed)),
            );
            shown.update(
                "mail data",
                Unit::Bytes,
                p.bytes.load(Relaxed),
                Some(p.bytes_planned.load(Relaxed)),
            );
        }
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = {
        let (stop, show) = (stop.clone(), show.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                show();
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
        })
    };
    let reports = rt.block_on(run::run(job, accounts, |r| {
        if !json {
            shown.suspend(|| print_account(r));
        }
    }));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = ticker.join();
    show();
    {
        use migrate_progress::Report;
        for t in ["mail accounts", "mail messages", "mail data"] {
            shown.finish(t);
        }
    }
    let elapsed = t0.elapsed();
    let totals = run::totals(&reports);
    let verdict = run::verdict(&reports);
    let secs = elapsed.as_secs_f64().max(1e-3);
    if !json {
        println!(
            "copied {} messages ({}) in {:.1} s: {:.1} messages/s, {}; {} flag changes carried",
            totals.copied,
            human_bytes(totals.copied_bytes),
            secs,
            totals.copied as f64 / secs,
            human_rate(totals.copied_bytes as f64 / secs),
            totals.flags_synced
        );
        println!("{verdict}");
    }
    let result = json!({
        "verdict": verdict,
        "totals": totals,
        "seconds": secs,
        "accounts": reports,
    });
    // The first failed account in the users file decides the exit code.
    if let Some((r, e)) = reports.iter().find_map(|r| r.worst().map(|e| (r, e))) {
        let mut f = Failure::of(e);
        f.message = format!("{}: {}", r.src_user, f.message);
        return Err(f.with_result(result).told());
    }
    if reports
        .iter()
        .all(|r| r.dry_run || r.folders_only || r.good())
    {
        Ok(result)
    } else {
        Err(Failure::new(exit::VERIFY_FAILED, "differences", verdict)
            .with_result(result)
            .told())
    }
}

/// Where the Mailu API token is read from when no --secret-file is given;
/// the old name still works, with a note.
const TOKEN_ENV: &str = "MIGRATE_MAILU_TOKEN";
const OLD_TOKEN_ENV: &str = "MAILU_API_TOKEN";

fn token(a: &UsersArgs) -> Result<Secret, MailError> {
    if let Some(p) = &a.secret_file {
        let t = std::fs::read_to_string(p)
            .map_err(|e| MailError::Input(format!("token file {}: {e}", p.display())))?;
        let t = t.lines().next().unwrap_or("").trim().to_string();
        if t.is_empty() {
            return Err(MailError::Input(format!(
                "token file {} is empty",
                p.display()
            )));
        }
        return Ok(Secret::new(t));
    }
    match super::deprecated::env_var(TOKEN_ENV, OLD_TOKEN_ENV) {
        Some(t) if !t.trim().is_empty() => Ok(Secret::new(t.trim())),
        _ => Err(MailError::Input(format!(
            "no Mailu API token: set {TOKEN_ENV} or pass --secret-file FILE"
        ))),
    }
}

fn users(a: UsersArgs, g: &Global) -> Result<Value, Failure> {
    let accounts = migrate_mail::users::load(&a.users)?;
    warn_if_readable(&a.users, &accounts);
    let rt = runtime()?;
    // Resolve every password first: a missing one stops nothing half-done.
    let mut resolved = Vec::new();
    // The first failure decides the exit code.
    let mut first: Option<Failure> = None;
    let mut results = Vec::new();
    for acc in &accounts {
        let r = match &acc.dst_password {
            Some(src) => rt.block_on(src.resolve(&acc.dst_user)),
            None => Err(MailError::Password {
                user: acc.dst_user.clone(),
                detail: format!("the users file gives no dst password (entry {})", acc.entry),
            }),
        };
        match r {
            Ok(pw) => resolved.push((acc, pw)),
            Err(e) => {
                first.get_or_insert_with(|| Failure::of(&e));
                results.push(json!({"user": acc.dst_user, "error": e.to_string()}));
                if !g.json {
                    println!("{}: error: {e}", acc.dst_user);
                }
            }
        }
    }
    if let Some(path) = &a.config_import {
        if let Some(mut f) = first {
            f.message = format!(
                "not writing {}: some passwords are missing (see above): {}",
                path.display(),
                f.message
            );
            return Err(f.with_result(json!({ "users": results })));
        }
        let list: Vec<_> = resolved
            .iter()
            .map(|(acc, pw)| migrate_mail::mailu::ImportUser {
                email: &acc.dst_user,
                password: pw,
                quota_bytes: acc.quota_bytes,
            })
            .collect();
        if a.dry_run {
            if !g.json {
                println!(
                    "dry run: would write {} users to {}",
                    list.len(),
                    path.display()
                );
            }
            return Ok(json!({"dry_run": true, "path": path, "users": list.len()}));
        }
        migrate_mail::mailu::write_config_import(path, &list, a.force)?;
        if !g.json {
            println!(
                "wrote {} users to {} (mode 0600; it holds passwords)",
                list.len(),
                path.display()
            );
            println!(
                "import with: docker compose exec -T admin flask mailu config-import --update -v < {}",
                path.display()
            );
        }
        return Ok(json!({"written": path, "users": list.len()}));
    }
    let Some(url) = &a.mailu_api else {
        return Err(Failure::new(
            exit::BAD_INPUT,
            "input",
            "name the target: --mailu-api URL or --config-import FILE",
        ));
    };
    let api = token(&a).and_then(|t| migrate_mail::mailu::Api::new(url, t))?;
    let mut failed = 0;
    for (acc, pw) in &resolved {
        match api.provision(
            &acc.dst_user,
            pw,
            acc.quota_bytes,
            a.reset_passwords,
            a.dry_run,
        ) {
            Ok(o) => {
                if !g.json {
                    println!("{}: {}", acc.dst_user, o.describe());
                }
                results.push(json!({"user": acc.dst_user, "outcome": o}));
            }
            Err(e) => {
                failed += 1;
                first.get_or_insert_with(|| Failure::of(&e));
                if !g.json {
                    println!("{}: error: {e}", acc.dst_user);
                }
                results
                    .push(json!({"user": acc.dst_user, "error": e.to_string(), "kind": e.kind()}));
                // A refused token refuses every user: stop asking.
                if e.kind() == ErrorKind::Auth {
                    if !g.json {
                        println!("   hint: {}", e.hint());
                    }
                    break;
                }
            }
        }
    }
    let result = json!({ "users": results });
    match first {
        None => {
            if !g.json {
                println!("all {} users provisioned", accounts.len());
            }
            Ok(result)
        }
        Some(f) => {
            if !g.json {
                println!("{failed} of {} users failed", accounts.len());
            }
            Err(f.with_result(result).told())
        }
    }
}

fn cutover(a: CutoverArgs, g: &Global) -> Value {
    let mut c = Cutover::new(&a.domain, &a.mail_host);
    c.new_ip = a.new_ip;
    c.old_ttl = a.old_ttl;
    c.low_ttl = a.low_ttl;
    c.presyncs = a.presyncs;
    c.dkim_selector = a.dkim_selector;
    let steps = c.steps();
    if !g.json {
        println!("# Mail cutover for {}\n", a.domain);
        for (i, s) in steps.iter().enumerate() {
            let phase = serde_json::to_value(s.phase)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let target = serde_json::to_value(s.target)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            println!("{}. [{phase}, {target}] {}", i + 1, s.text);
        }
    }
    json!({ "steps": steps })
}
