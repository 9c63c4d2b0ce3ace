//! `migrate dns …`: plan, lower, wildcard, cutover, restore, verify and
//! mail-check, over the `migrate-dns` library. Secrets (TSIG key, API
//! tokens) come from `--secret-file` or an environment variable, never from
//! a command-line value; they are never printed or stored in the plan.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use migrate_dns::mail::{self, MailCheck};
use migrate_dns::plan::{self, Source};
use migrate_dns::{
    Dns, DnsError, Outcome, Plan, PlanRequest, ProviderConfig, Secret, Servers, discover,
};
use serde_json::{Value, json};

use super::Global;
use super::reply::{Failure, runtime};
use crate::exit;

/// stdout writes that do not panic when the reader went away (`| head`).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
macro_rules! say_raw {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Read the records and TTLs from every authoritative server; show and store the plan.
    Plan(Args),
    /// Lower the TTLs (delete + add in one update), then verify on every authoritative server.
    Lower(Args),
    /// Add *.DOMAIN pointing at the new server, to test it before the real cutover.
    Wildcard(Args),
    /// Point the A/AAAA records at the new server in one update (refused before the safe time unless --now).
    Cutover(Args),
    /// Put the original TTLs back from the stored plan and remove the wildcard.
    Restore(Args),
    /// Check that every authoritative server serves the same data and serial.
    Verify(Args),
    /// Check MX, SPF, DKIM, DMARC and the PTR of the new address.
    MailCheck(MailArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ProviderKind {
    /// RFC 2136 UPDATE with TSIG (BIND, Knot, PowerDNS, ...); key in --secret-file or MIGRATE_TSIG_KEY.
    Rfc2136,
    /// PowerDNS Authoritative HTTP API; key in --secret-file or MIGRATE_PDNS_API_KEY.
    Powerdns,
    /// Gandi LiveDNS v5; personal access token in --secret-file or MIGRATE_GANDI_TOKEN.
    Gandi,
    /// deSEC; token in --secret-file or MIGRATE_DESEC_TOKEN.
    Desec,
    /// Print numbered instructions for a DNS panel, then wait until the servers serve the change.
    Manual,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SourceArg {
    /// The authoritative servers (default).
    Dns,
    /// The provider's API (when its servers cannot be queried from here).
    Provider,
}

#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Resolver used only to find the zone's NS records and their addresses (default: /etc/resolv.conf).
    #[arg(long)]
    pub resolver: Option<SocketAddr>,
    /// Port the authoritative servers answer on (53 outside test labs).
    #[arg(long, default_value_t = 53)]
    pub ns_port: u16,
    /// Ask exactly these authoritative servers (repeatable) instead of looking up NS.
    #[arg(long = "authoritative", value_name = "ADDR:PORT")]
    pub authoritative: Vec<SocketAddr>,
    /// Seconds to wait for one DNS answer.
    #[arg(long, default_value_t = 3)]
    pub query_timeout: u64,
}

impl ServerArgs {
    fn servers(&self) -> Result<Servers, DnsError> {
        if !self.authoritative.is_empty() {
            return Ok(Servers::Fixed(self.authoritative.clone()));
        }
        match self.resolver {
            Some(r) => Ok(Servers::Resolver {
                resolver: r,
                ns_port: self.ns_port,
            }),
            None => Servers::system().map(|s| match s {
                Servers::Resolver { resolver, .. } => Servers::Resolver {
                    resolver,
                    ns_port: self.ns_port,
                },
                other => other,
            }),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The name being moved (e.g. social.example.net).
    #[arg(long)]
    pub domain: String,
    /// The zone, if it cannot be found from the domain.
    #[arg(long)]
    pub zone: Option<String>,
    /// The new server's address (repeat for IPv4 and IPv6).
    #[arg(long = "new-ip", value_name = "ADDR", alias = "to")]
    pub new_ip: Vec<IpAddr>,
    /// More names to lower and cut over with the domain (repeatable).
    #[arg(long = "name")]
    pub names: Vec<String>,
    /// TTL to lower to (default 300, never below the provider's minimum).
    #[arg(long)]
    pub lowered_ttl: Option<u32>,
    #[command(flatten)]
    pub servers: ServerArgs,
    /// Where changes are made (default: the stored plan's, else manual).
    #[arg(long, value_enum)]
    pub provider: Option<ProviderKind>,
    /// rfc2136: the server that takes UPDATEs (default: the first authoritative server).
    #[arg(long)]
    pub server: Option<SocketAddr>,
    /// powerdns/gandi/desec: API base URL (defaults: the providers' public APIs).
    #[arg(long)]
    pub api_url: Option<String>,
    /// powerdns: server id in the API path.
    #[arg(long, default_value = "localhost")]
    pub pdns_server_id: String,
    /// gandi: minimum TTL if Gandi's documented 300 s no longer applies.
    #[arg(long)]
    pub provider_min_ttl: Option<u32>,
    /// File holding the TSIG key (`hmac-sha256:NAME:SECRET`, BIND or Knot format) or API token.
    #[arg(long)]
    pub secret_file: Option<PathBuf>,
    /// Read current records from the authoritative servers (dns) or the provider's API.
    #[arg(long, value_enum)]
    pub source: Option<SourceArg>,
    /// Seconds to wait for every authoritative server to serve a change.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Do not poll the authoritative servers after a change.
    #[arg(long)]
    pub no_verify: bool,
    /// Refuse changes touching more than this share of the zone's RRsets (octoDNS uses 0.3).
    #[arg(long, default_value_t = 0.3)]
    pub max_change_share: f64,
    /// Go past the safety limit.
    #[arg(long)]
    pub force: bool,
    /// Show the exact diff; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// cutover: do not wait for the earliest safe time.
    #[arg(long)]
    pub now: bool,
    /// cutover: delete AAAA records when the new server has no IPv6 address.
    #[arg(long)]
    pub drop_aaaa: bool,
}

#[derive(Debug, clap::Args)]
pub struct MailArgs {
    #[arg(long)]
    pub domain: String,
    /// The mail server's host name (MX target, SPF a:, PTR).
    #[arg(long)]
    pub mail_host: Option<String>,
    /// The new mail server's address.
    #[arg(long = "new-ip", value_name = "ADDR", aliases = ["ip", "to"])]
    pub new_ip: Option<IpAddr>,
    /// DKIM selector (Mailu's default is `dkim`).
    #[arg(long, default_value = "dkim")]
    pub dkim_selector: String,
    #[arg(long)]
    pub zone: Option<String>,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn run(cmd: Command, g: &Global) -> Result<Value, Failure> {
    let rt = runtime()?;
    let json = g.json;
    rt.block_on(async move {
        match cmd {
            Command::MailCheck(a) => mail_check(a, json).await,
            Command::Plan(a) => act(Act::Plan, a, json).await,
            Command::Lower(a) => act(Act::Lower, a, json).await,
            Command::Wildcard(a) => act(Act::Wildcard, a, json).await,
            Command::Cutover(a) => act(Act::Cutover, a, json).await,
            Command::Restore(a) => act(Act::Restore, a, json).await,
            Command::Verify(a) => act(Act::Verify, a, json).await,
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Plan,
    Lower,
    Wildcard,
    Cutover,
    Restore,
    Verify,
}

fn provider_config(
    a: &Args,
    stored: Option<&Plan>,
    first_authority: Option<SocketAddr>,
) -> Result<ProviderConfig, DnsError> {
    let Some(kind) = a.provider else {
        if let Some(p) = stored {
            return Ok(p.provider.clone());
        }
        return Ok(ProviderConfig::Manual);
    };
    Ok(match kind {
        ProviderKind::Rfc2136 => {
            let server = a
                .server
                .or_else(|| match stored.map(|p| &p.provider) {
                    Some(ProviderConfig::Rfc2136 { server }) => Some(*server),
                    _ => None,
                })
                .or(first_authority)
                .ok_or_else(|| {
                    DnsError::Invalid(
                        "rfc2136 needs --server ADDR:PORT (the primary that takes updates)".into(),
                    )
                })?;
            ProviderConfig::Rfc2136 { server }
        }
        ProviderKind::Powerdns => ProviderConfig::Powerdns {
            api_url: a
                .api_url
                .clone()
                .unwrap_or_else(|| "http://127.0.0.1:8081".into()),
            server_id: a.pdns_server_id.clone(),
        },
        ProviderKind::Gandi => ProviderConfig::Gandi {
            api_url: a
                .api_url
                .clone()
                .unwrap_or_else(|| "https://api.gandi.net/v5/livedns".into()),
            min_ttl: a.provider_min_ttl,
        },
        ProviderKind::Desec => ProviderConfig::Desec {
            api_url: a
                .api_url
                .clone()
                .unwrap_or_else(|| "https://desec.io/api/v1".into()),
        },
        ProviderKind::Manual => ProviderConfig::Manual,
    })
}

async fn act(what: Act, a: Args, json: bool) -> Result<Value, Failure> {
    let qt = Duration::from_secs(a.servers.query_timeout.max(1));
    let stored = plan::load(&a.domain)?;
    let source = match a.source {
        Some(SourceArg::Provider) => Source::Provider,
        Some(SourceArg::Dns) => Source::Dns,
        None => stored.as_ref().map(|p| p.source).unwrap_or(Source::Dns),
    };
    // The update server defaults to the first authoritative server, which
    // needs discovery before the provider can be built.
    let needs_server = matches!(a.provider, Some(ProviderKind::Rfc2136))
        && a.server.is_none()
        && !matches!(
            stored.as_ref().map(|p| &p.provider),
            Some(ProviderConfig::Rfc2136 { .. })
        );
    let first = if needs_server && source == Source::Dns {
        let servers = a.servers.servers()?;
        let zone = match &a.zone {
            Some(z) => migrate_dns::record::fqdn(z),
            None => discover::find_zone(&servers, &a.domain, qt).await?,
        };
        discover::authorities(&servers, &zone, qt)
            .await?
            .first()
            .map(|x| x.addr)
    } else {
        None
    };
    let config = provider_config(&a, stored.as_ref(), first)?;
    let secret = match config.secret_env() {
        Some(env) => Secret::from_file_or_env(a.secret_file.as_deref(), env)?,
        None => None,
    };
    let provider = config.build(secret, Duration::from_secs(30))?;
    let mut dns = Dns::new(provider);
    dns.query_timeout = qt;
    dns.verify_timeout = Duration::from_secs(a.timeout);
    dns.max_share = a.max_change_share;
    dns.force = a.force;
    dns.verify = !a.no_verify;

    // A fresh plan for `plan`, or when there is none yet, or when the
    // operator changes what is planned (new --new-ip / --name / TTL / provider).
    let replan = what == Act::Plan
        || stored.is_none()
        || !a.new_ip.is_empty()
        || !a.names.is_empty()
        || a.lowered_ttl.is_some()
        || a.provider.is_some()
        || a.source.is_some()
        || !a.servers.authoritative.is_empty()
        || a.servers.resolver.is_some();
    let mut plan = if replan {
        if matches!(what, Act::Restore) && stored.is_none() {
            return Err(DnsError::NoPlan {
                domain: a.domain.clone(),
                path: plan::plan_path(&a.domain)?,
            }
            .into());
        }
        let req = PlanRequest {
            domain: a.domain.clone(),
            zone: a
                .zone
                .clone()
                .or_else(|| stored.as_ref().map(|p| p.zone.clone())),
            names: if a.names.is_empty() {
                stored.as_ref().map(|p| p.names.clone()).unwrap_or_default()
            } else {
                a.names.clone()
            },
            to: if a.new_ip.is_empty() {
                stored.as_ref().map(|p| p.to.clone()).unwrap_or_default()
            } else {
                a.new_ip.clone()
            },
            lowered_ttl: a.lowered_ttl,
            servers: match (
                &stored,
                a.servers.authoritative.is_empty() && a.servers.resolver.is_none(),
            ) {
                (Some(p), true) if source == Source::Dns => {
                    Servers::Fixed(p.authorities.iter().map(|x| x.addr).collect())
                }
                _ if source == Source::Provider => Servers::Fixed(vec![]),
                _ => a.servers.servers()?,
            },
            provider: config.clone(),
            source,
        };
        let mut p = dns.plan(&req, stored.clone()).await?;
        if let Some(prev) = &stored
            && matches!(req.servers, Servers::Fixed(_))
            && a.servers.authoritative.is_empty()
        {
            // Keep the discovered names of the servers.
            p.authorities = prev.authorities.clone();
        }
        p
    } else {
        let mut p = stored.clone().ok_or_else(|| DnsError::NoPlan {
            domain: a.domain.clone(),
            path: plan::plan_path(&a.domain).unwrap_or_default(),
        })?;
        p.provider = config.clone();
        p
    };

    let outcome: Option<Outcome> = match what {
        Act::Plan => None,
        Act::Verify => {
            let r = dns.verify_now(&plan).await?;
            if !json {
                say!(
                    "all {} authoritative servers serve the same data:\n{}",
                    r.servers.len(),
                    r.summary()
                );
            }
            return Ok(json!({ "verify": r }));
        }
        act => {
            let manual = dns.provider.is_manual();
            if manual && !a.dry_run {
                let set = match act {
                    Act::Lower => dns.lower_changes(&plan).await?,
                    Act::Wildcard => dns.wildcard_changes(&plan).await?,
                    Act::Cutover => dns.cutover_changes(&plan, a.drop_aaaa).await?,
                    _ => dns.restore_changes(&plan).await?,
                };
                // With --json stdout holds only the envelope: the
                // instructions go to stderr, where the operator still sees them.
                if !set.is_empty() && json {
                    eprintln!("{}", set.manual_instructions());
                    eprintln!(
                        "Waiting up to {}s for every authoritative server to serve this...",
                        a.timeout
                    );
                } else if !set.is_empty() {
                    say!("{}", set.manual_instructions());
                    say!(
                        "Waiting up to {}s for every authoritative server to serve this...",
                        a.timeout
                    );
                    use std::io::Write;
                    let _ = std::io::stdout().flush();
                }
            }
            let out = match act {
                Act::Lower => dns.lower(&mut plan, a.dry_run).await,
                Act::Wildcard => dns.wildcard(&mut plan, a.dry_run).await,
                Act::Cutover => dns.cutover(&mut plan, a.dry_run, a.now, a.drop_aaaa).await,
                _ => dns.restore(&mut plan, a.dry_run).await,
            };
            let out = match out {
                Ok(o) => o,
                Err(e) => {
                    // The failure must not lose what the plan already knew.
                    if !a.dry_run && replan {
                        let _ = plan::save(&plan);
                    }
                    return Err(e.into());
                }
            };
            Some(out)
        }
    };
    let saved = if a.dry_run {
        None
    } else {
        Some(plan::save(&plan)?)
    };
    // `plan` also shows what the next steps would change, read fresh.
    let mut preview: Vec<(String, Result<migrate_dns::ChangeSet, String>)> = Vec::new();
    if what == Act::Plan {
        if plan.lowered_at.is_none() {
            preview.push((
                "lower".into(),
                dns.lower_changes(&plan).await.map_err(|e| e.to_string()),
            ));
        }
        if !plan.to.is_empty() && plan.cutover_at.is_none() {
            preview.push((
                "cutover".into(),
                dns.cutover_changes(&plan, a.drop_aaaa)
                    .await
                    .map_err(|e| e.to_string()),
            ));
        }
    }
    let pv: serde_json::Map<String, Value> = preview
        .iter()
        .map(|(k, v)| {
            let val = match v {
                Ok(set) => json!(set),
                Err(e) => json!({"error": e}),
            };
            (k.clone(), val)
        })
        .collect();
    let result = json!({"plan": plan, "outcome": outcome, "preview": pv, "saved": saved});
    if !json {
        for (step, set) in &preview {
            match set {
                Ok(set) => say_raw!("`migrate dns {step}` would change {}", set.diff()),
                Err(e) => say!("`migrate dns {step}` would stop: {e}"),
            }
        }
        if let Some(o) = &outcome {
            say_raw!("{}", o.changes.diff());
            for n in &o.notes {
                say!("note: {n}");
            }
            if o.dry_run {
                say!("dry run: nothing was changed");
            } else if o.applied {
                match &o.verify {
                    Some(v) => say!(
                        "applied via {}; every authoritative server serves it ({} ms):\n{}",
                        plan.provider.kind(),
                        v.elapsed_ms,
                        v.summary()
                    ),
                    None => say!("applied via {}", plan.provider.kind()),
                }
            }
        }
        if what == Act::Plan || outcome.as_ref().is_some_and(|o| o.applied) {
            say_raw!("{}", plan.render());
        }
        if let Some(p) = saved {
            say!("plan saved: {}", p.display());
        }
    }
    Ok(result)
}

async fn mail_check(a: MailArgs, json: bool) -> Result<Value, Failure> {
    let qt = Duration::from_secs(a.servers.query_timeout.max(1));
    let servers = a.servers.servers()?;
    let zone = match &a.zone {
        Some(z) => migrate_dns::record::fqdn(z),
        None => discover::find_zone(&servers, &a.domain, qt).await?,
    };
    let auth = discover::authorities(&servers, &zone, qt).await?;
    let server = auth
        .first()
        .map(|x| x.addr)
        .ok_or_else(|| DnsError::Invalid("no authoritative server found".into()))?;
    let (lookup, recursive) = match &servers {
        Servers::Resolver { resolver, .. } => (*resolver, true),
        Servers::Fixed(_) => (server, false),
    };
    let findings = mail::check(&MailCheck {
        domain: a.domain.clone(),
        host: a.mail_host.clone(),
        ip: a.new_ip,
        dkim_selector: a.dkim_selector.clone(),
        server,
        lookup,
        lookup_recursive: recursive,
        timeout: qt,
    })
    .await?;
    let bad = findings.iter().filter(|f| !f.ok).count();
    if !json {
        say!("mail records of {} (asked {server}):", a.domain);
        for f in &findings {
            say!(
                "  {:5} {}  {}",
                f.check,
                if f.ok { "ok  " } else { "FAIL" },
                f.found
            );
            if !f.ok {
                say!("        -> {}", f.fix);
            }
        }
        say!("{} problem(s)", bad);
    }
    let result = json!({ "findings": findings });
    if bad == 0 {
        Ok(result)
    } else {
        Err(Failure::new(
            exit::VERIFY_FAILED,
            "mail-records",
            format!("{bad} mail record problem(s) on {}", a.domain),
        )
        .with_result(result)
        .told())
    }
}
