//! `migrate app plan|run|status|abort|list` (and `migrate app NAME …`): a
//! whole app migration as a plan, then a journal (host/src/migration).

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};

use super::Global;
use super::reply::Failure;
use crate::exit;
use crate::migration::builder::{self, BuildOptions};
use crate::migration::definition::{self, Migration, Side};
use crate::migration::journal::{self, Journal};
use crate::migration::plan::Plan;
use crate::migration::report;
use crate::migration::run::{RunOptions, Runner};
use crate::migration::sides::Sides;

/// Where the migration comes from: a file, or flags.
#[derive(Debug, Clone, clap::Args)]
pub struct DefArgs {
    /// The app's recipe (`migrate recipe list`); not with --file.
    pub app: Option<String>,
    /// A migration file (TOML) instead of the flags below.
    #[arg(long, conflicts_with_all = ["app", "from", "to", "domain", "src_compose", "dst_compose", "volume"])]
    pub file: Option<PathBuf>,
    /// The source server (`ssh://root@old`, `user@host`, an ssh alias, `local`).
    #[arg(long)]
    pub from: Option<String>,
    /// The destination server.
    #[arg(long)]
    pub to: Option<String>,
    /// The production hostname (sent as the Host header by the checks).
    #[arg(long)]
    pub domain: Option<String>,
    /// The app's directory on the source.
    #[arg(long, value_name = "DIR")]
    pub src_root: Option<String>,
    /// The app's directory on the destination (default: as on the source).
    #[arg(long, value_name = "DIR")]
    pub dst_root: Option<String>,
    /// ADDRESS:PORT the app answers HTTP on at the source.
    #[arg(long, value_name = "ADDR:PORT")]
    pub src_http: Option<String>,
    /// ADDRESS:PORT the app will answer HTTP on at the destination.
    #[arg(long, value_name = "ADDR:PORT")]
    pub dst_http: Option<String>,
    /// Shell command stopping the app on the source.
    #[arg(long, value_name = "CMD")]
    pub src_stop: Option<String>,
    /// Shell command starting the app on the source (used by abort).
    #[arg(long, value_name = "CMD")]
    pub src_start: Option<String>,
    /// Shell command starting the app on the destination.
    #[arg(long, value_name = "CMD")]
    pub dst_start: Option<String>,
    /// The source's docker-compose project directory (its app runs there).
    #[arg(long, value_name = "DIR")]
    pub src_compose: Option<String>,
    /// The destination's docker-compose project directory.
    #[arg(long, value_name = "DIR")]
    pub dst_compose: Option<String>,
    /// The compose volume holding the app's files, on both sides (the
    /// roots default to its directory).
    #[arg(long, value_name = "NAME")]
    pub volume: Option<String>,
    /// ADDRESS:PORT the app answers HTTPS on at the source (checks verify
    /// the certificate for --domain).
    #[arg(long, value_name = "ADDR:PORT")]
    pub src_https: Option<String>,
    /// ADDRESS:PORT the app will answer HTTPS on at the destination.
    #[arg(long, value_name = "ADDR:PORT")]
    pub dst_https: Option<String>,
    /// The version the destination runs (default: the source's).
    #[arg(long)]
    pub target_version: Option<String>,
    /// The hostname the app had on the source, when the move changes it.
    #[arg(long)]
    pub old_domain: Option<String>,
    /// A recipe database's name on both servers, e.g. `nextcloud=nc_prod`; repeatable.
    #[arg(long = "database", value_name = "RECIPE=NAME", value_parser = parse_pair)]
    pub databases: Vec<(String, String)>,
    /// Which of several installations found on the source to migrate
    /// (their number in the list the refusal shows).
    #[arg(long, value_name = "N")]
    pub pick: Option<usize>,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
            Ok((k.trim().to_string(), v.trim().to_string()))
        }
        _ => Err(format!("{s:?} is not RECIPE=NAME")),
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 planned, 2 bad input (file errors, unknown recipe), \
3 refused (impossible upgrade, no space, missing tool, destination holds the app), \
4 plugin broken, 5 a server is unreachable."
)]
pub struct PlanArgs {
    #[command(flatten)]
    pub def: DefArgs,
    /// `markdown` prints a runbook to hand a client.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Plan over a destination that already holds the app (it is moved aside, not deleted).
    #[arg(long)]
    pub force: bool,
    /// Fix (chown/chmod on the destination) the served files the web server cannot read.
    #[arg(long)]
    pub fix_permissions: bool,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reruns skip finished steps and resume the interrupted one. \
Exit codes: 0 migrated, 1 a step failed (the journal says where), 2 bad input, 3 refused, \
4 plugin broken, 5 unreachable, 6 the destination's checks differ from the source's."
)]
pub struct Args {
    #[command(flatten)]
    pub def: DefArgs,
    /// Answer yes to every confirmation (unattended runs).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print every step's commands and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Migrate over a destination that already holds the app (moved aside, not deleted).
    #[arg(long)]
    pub force: bool,
    /// Fix (chown/chmod on the destination) the served files the web server cannot read.
    #[arg(long)]
    pub fix_permissions: bool,
    /// A step done by hand (its id, as the run that stopped there named it); repeatable.
    #[arg(long, value_name = "STEP")]
    pub done: Vec<String>,
    /// Continue a journaled migration from its stored plan: the newest, or
    /// the one for --domain (and the app, --from, --to when given); no
    /// layout flags or file needed.
    #[arg(long)]
    pub resume: bool,
    /// Run the checks, the preparation and the live pre-syncs, then stop
    /// before the downtime window; each rerun with it copies again what
    /// changed since (shorter each time), a run without it goes on.
    #[arg(long)]
    pub pre_sync_only: bool,
    #[command(flatten)]
    pub imap: super::mailu_from_imap::ImapArgs,
}

/// `migrate app`: the verbs of a whole app migration; `app NAME …` with no
/// verb is `app run NAME …`, as before.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Group {
    #[command(subcommand)]
    pub command: Option<Verb>,
    #[command(flatten)]
    pub run: Args,
}

#[derive(Debug, clap::Subcommand)]
pub enum Verb {
    /// Plan a whole app migration: ordered steps from the recipe, the plugin and the servers.
    Plan(PlanArgs),
    /// Migrate a whole app, phase by phase, journaled and resumable.
    Run(Args),
    /// Where a migration stands (or its final report with --report).
    Status(StatusArgs),
    /// Return to the source before the point of no return.
    Abort(AbortArgs),
    /// The migrations this machine has journaled, newest first.
    List,
}

pub fn run_group(grp: Group, g: &Global) -> Result<Value, Failure> {
    match grp.command {
        Some(Verb::Plan(a)) => plan(a, g),
        Some(Verb::Run(a)) => run(a, g),
        Some(Verb::Status(a)) => status(a, g),
        Some(Verb::Abort(a)) => abort(a, g),
        Some(Verb::List) => list(g),
        None => run(grp.run, g),
    }
}

/// Every migration journaled on this machine, newest first: its app,
/// domain, servers, where it stands and its last event.
pub fn list(g: &Global) -> Result<Value, Failure> {
    let mut rows = Vec::new();
    for st in journal::stored_all()? {
        let m = &st.plan.migration;
        let last = st.entries.last();
        rows.push(json!({
            "id": st.plan.id,
            "app": m.app,
            "domain": m.domain,
            "from": m.source.host,
            "to": m.destination.host,
            "state": st.state(),
            "steps_done": st.done(),
            "steps": st.plan.steps.len(),
            "last_step": last.map(|e| e.step.clone()),
            "last_event": last.map(|e| e.event),
            "last_detail": last.map(|e| e.detail.clone()).filter(|d| !d.is_empty()),
            "last_at_ms": st.at_ms as u64,
            "journal": st.dir.join("journal.jsonl"),
        }));
    }
    if !g.json {
        if rows.is_empty() {
            println!("no migrations journaled on this machine");
        }
        for r in &rows {
            let s = |k: &str| r[k].as_str().unwrap_or("-").to_string();
            println!(
                "{}  {} {}  {} → {}  {}, {}/{} steps done",
                s("id"),
                s("app"),
                s("domain"),
                s("from"),
                s("to"),
                s("state"),
                r["steps_done"],
                r["steps"],
            );
            let at = journal_time(r["last_at_ms"].as_u64().unwrap_or(0));
            match (r["last_step"].as_str(), r["last_event"].as_str()) {
                (Some(step), Some(ev)) => {
                    let detail = r["last_detail"]
                        .as_str()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default();
                    println!("    last: {step} {ev} at {at}{detail}");
                }
                _ => println!("    planned at {at}, no step started"),
            }
            println!("    journal: {}", s("journal"));
        }
    }
    Ok(json!({ "migrations": rows }))
}

/// Milliseconds since the epoch as UTC `YYYY-MM-DD HH:MM:SS`.
fn journal_time(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub def: DefArgs,
    /// Print the final report (Markdown, or JSON with --json) instead of the steps.
    #[arg(long)]
    pub report: bool,
}

#[derive(Debug, clap::Args)]
pub struct AbortArgs {
    #[command(flatten)]
    pub def: DefArgs,
    /// Say what would be undone, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

fn definition(d: &DefArgs) -> Result<Migration, String> {
    if let Some(f) = &d.file {
        // A file that names no layout for the source leaves it to discovery.
        let mut m = definition::load_open(f).map_err(|e| e.to_string())?;
        let s = &m.source;
        if s.root.is_empty() && s.compose.is_none() && s.stack.is_none() {
            let c = crate::migration::discover::find(&m.app, &s.host, Some(&m.domain), d.pick)?;
            c.apply(&mut m);
            m.source.resolve();
            m.destination.resolve();
        }
        m.validate(&f.display().to_string())
            .map_err(|e| e.to_string())?;
        return Ok(m);
    }
    let need = |v: &Option<String>, flag: &str| {
        v.clone()
            .ok_or_else(|| format!("{flag} is required (or give a migration file with --file)"))
    };
    let app = need(&d.app, "the app (first argument)")?;
    // No layout named: find the app on the source; any flag still wins.
    let found = match (&d.src_root, &d.src_compose) {
        (None, None) => Some(crate::migration::discover::find(
            &app,
            &need(&d.from, "--from")?,
            d.domain.as_deref(),
            d.pick,
        )?),
        _ => None,
    };
    // With a compose volume the roots follow from it.
    let src_root = match (&d.src_root, &d.src_compose, &d.volume) {
        (Some(r), _, _) => r.clone(),
        (None, Some(_), Some(_)) => String::new(),
        _ if found.is_some() => String::new(),
        _ => need(&d.src_root, "--src-root")?,
    };
    let dst_root = match (&d.dst_root, &d.dst_compose, &d.volume) {
        (Some(r), _, _) => r.clone(),
        (None, Some(_), Some(_)) => String::new(),
        _ => src_root.clone(),
    };
    let mut m = Migration {
        app,
        domain: match (&d.domain, found.as_ref().and_then(|c| c.domain.clone())) {
            (Some(given), _) => given.clone(),
            (None, Some(seen)) => seen,
            (None, None) => need(&d.domain, "--domain")?,
        },
        old_domain: d.old_domain.clone(),
        target_version: d.target_version.clone(),
        backup_dir: None,
        skip_steps: vec![],
        fix_permissions: false,
        source: Side {
            host: need(&d.from, "--from")?,
            root: src_root.clone(),
            http: d.src_http.clone(),
            start: d.src_start.clone(),
            stop: d.src_stop.clone(),
            databases: d.databases.iter().cloned().collect(),
            compose: d.src_compose.clone(),
            volume: d.src_compose.as_ref().and(d.volume.clone()),
            https: d.src_https.clone(),
            ..Default::default()
        },
        destination: Side {
            host: need(&d.to, "--to")?,
            root: dst_root,
            http: d.dst_http.clone(),
            start: d.dst_start.clone(),
            databases: d.databases.iter().cloned().collect(),
            compose: d.dst_compose.clone(),
            volume: d.dst_compose.as_ref().and(d.volume.clone()),
            https: d.dst_https.clone(),
            ..Default::default()
        },
        dns: None,
        tls_ca: None,
        logical: false,
        mailu: None,
    };
    if let Some(c) = &found {
        c.apply(&mut m);
    }
    m.source.resolve();
    m.destination.resolve();
    m.validate("command line").map_err(|e| e.to_string())?;
    Ok(m)
}

/// A migration definition that does not hold together (exit 2).
fn bad_definition(message: String) -> Failure {
    Failure::new(exit::BAD_INPUT, "definition", message)
}

fn recipe_dirs() -> Vec<PathBuf> {
    vec![crate::paths::data_dir().join("recipes")]
}

/// Connect, load the recipe and plugin, build the plan (refusing early).
fn make_plan(mig: &Migration, g: &Global, force: bool) -> Result<(Plan, Arc<Sides>), Failure> {
    let recipe = crate::recipe::find(&mig.app, &recipe_dirs())?;
    let mut plugin = match &recipe.app.plugin {
        Some(id) => Some(super::registry(g)?.load(id)?),
        None => None,
    };
    let mount = recipe.volumes.first().map(|v| v.mount.clone());
    let sides = Arc::new(Sides::connect(mig, mount)?);
    let plan = builder::build(
        mig,
        &recipe,
        plugin.as_mut(),
        &sides,
        &BuildOptions { force },
    )?;
    Ok((plan, sides))
}

pub fn plan(args: PlanArgs, g: &Global) -> Result<Value, Failure> {
    let mut mig = definition(&args.def).map_err(bad_definition)?;
    mig.fix_permissions |= args.fix_permissions;
    let (plan, sides) = make_plan(&mig, g, args.force)?;
    let described = crate::migration::steps::describe_plan(&plan, &sides, None);
    // After live pre-syncs (`--pre-sync-only`) their journal holds the
    // rehearsals the downtime is predicted from; only an existing journal
    // is opened, so planning writes nothing.
    let predicted = journal::dir_for(&plan.id)
        .join("journal.jsonl")
        .exists()
        .then(|| Journal::open(&plan.id).ok())
        .flatten()
        .and_then(|j| crate::migration::run::prediction(&plan, &j));
    if !g.json {
        match args.format {
            Format::Text => print!("{}", report::plan_text(&plan, &described)),
            Format::Markdown => print!("{}", report::plan_markdown(&plan, &described)),
        }
        match &predicted {
            Some(p) => {
                println!(
                    "Predicted downtime: about {:.0} s, from the live rehearsals:",
                    p.seconds
                );
                for (step, secs, from) in p.parts.iter().filter(|p| p.1 >= 0.5) {
                    println!("  {step}: {secs:.1} s ({from})");
                }
            }
            None => println!(
                "Predicted downtime: after a live pre-sync (`migrate app --pre-sync-only`), which rehearses the window"
            ),
        }
    }
    let mut v = report::plan_json(&plan, &described);
    v["predicted_downtime"] = serde_json::to_value(&predicted).unwrap_or_default();
    Ok(v)
}

pub fn run(args: Args, g: &Global) -> Result<Value, Failure> {
    if args.imap.from_imap.is_some() && args.def.app.as_deref() == Some("mailu") {
        return super::mailu_from_imap::run(&args.imap, args.def.domain.as_deref(), g);
    }
    // --resume takes the stored plan as it is: its migration is the
    // definition, so neither flags nor discovery are needed again.
    let resumed = match args.resume {
        true => Some(stored(&args.def)?.0),
        false => None,
    };
    let mut mig = match &resumed {
        Some(p) => p.migration.clone(),
        None => definition(&args.def).map_err(bad_definition)?,
    };
    mig.fix_permissions |= args.fix_permissions;
    let id = resumed.as_ref().map_or_else(|| mig.id(), |p| p.id.clone());
    let mut journal = Journal::open(&id)?;
    let stored = journal::load_plan(&id)?;
    if journal.aborted() {
        return Err(Failure::new(
            exit::REFUSED,
            "aborted",
            format!(
                "migration {id} was aborted; its journal is {}. Move that directory away to start it again from the beginning",
                journal.dir.display()
            ),
        ));
    }
    // A started migration resumes its stored plan: re-probing a source in
    // maintenance mode would plan something else.
    // The stored plan's migration carries what the recipe implies (compose
    // stop/start commands); compare like with like.
    let mut implied = mig.clone();
    if let Ok(r) = crate::recipe::find(&mig.app, &recipe_dirs()) {
        builder::compose_defaults(&mut implied, &r);
    }
    let resuming = resumed
        .or_else(|| stored.filter(|p| !journal.entries.is_empty() && p.migration == implied));
    let (plan, sides) = match resuming {
        Some(p) => {
            eprintln!(
                "Resuming migration {id} from its journal ({})",
                journal.path().display()
            );
            let recipe = crate::recipe::find(&mig.app, &recipe_dirs())?;
            let mount = recipe.volumes.first().map(|v| v.mount.clone());
            (p, Arc::new(Sides::connect(&mig, mount)?))
        }
        None => make_plan(&mig, g, args.force)?,
    };
    if !args.dry_run {
        journal::save_plan(&plan)?;
    } else if !g.json {
        println!("Dry run of migration {id}: nothing is changed.\n");
    }
    let opts = RunOptions {
        yes: args.yes,
        dry_run: args.dry_run,
        force: args.force,
        done: args.done.clone(),
        pre_sync_only: args.pre_sync_only,
    };
    if args.dry_run && g.json {
        return Ok(dry_run_json(&plan, &sides, &journal));
    }
    sides.set_progress(g.progress());
    let res = Runner::new(&plan, &sides, &mut journal, opts).run();
    if args.dry_run {
        return Ok(dry_run_json(&plan, &sides, &journal));
    }
    let write_reports = |journal: &Journal| {
        let _ = std::fs::write(
            journal.dir.join("report.md"),
            report::report_markdown(&plan, journal),
        );
        let _ = std::fs::write(
            journal.dir.join("report.json"),
            serde_json::to_string_pretty(&report::report_json(&plan, journal)).unwrap_or_default(),
        );
    };
    write_reports(&journal);
    let result = report::report_json(&plan, &journal);
    match res {
        Ok(()) if args.pre_sync_only => {
            if !g.json {
                print!("{}", crate::migration::pre_sync::summary(&plan, &journal));
            }
            Ok(result)
        }
        Ok(()) => {
            if !g.json {
                println!("{}", report::report_markdown(&plan, &journal));
            }
            Ok(result)
        }
        Err(e) => {
            let mut f = Failure::from(e);
            f.message = format!(
                "{}\n  The journal ({}) records where it stopped; nothing was lost. Fix the cause and run the same command again to resume, or `migrate app abort` to restart the source.",
                f.message,
                journal.path().display()
            );
            Err(f.with_result(result))
        }
    }
}

/// What a dry run would do, step by step: the commands each step would
/// send (the same descriptions a run executes), and the steps an earlier
/// run finished, which a run skips.
fn dry_run_json(plan: &Plan, sides: &Sides, journal: &Journal) -> Value {
    let mut described = crate::migration::steps::describe_plan(plan, sides, Some(journal));
    for (st, planned) in described.iter_mut() {
        if journal.is_done(&st.id) {
            planned.clear();
        }
    }
    let mut v = report::commands_json(plan, &described);
    if let Some(steps) = v.get_mut("steps").and_then(Value::as_array_mut) {
        for s in steps {
            let done = s["id"].as_str().is_some_and(|id| journal.is_done(id));
            s["done_earlier"] = json!(done);
        }
    }
    v
}

/// No file and no layout flag: the command names a migration only by what
/// the journals can match (the app, --domain, --from, --to).
fn by_journal(d: &DefArgs) -> bool {
    d.file.is_none()
        && d.src_root.is_none()
        && d.dst_root.is_none()
        && d.src_compose.is_none()
        && d.dst_compose.is_none()
        && d.volume.is_none()
}

/// Enough given to work the migration's id out again (discovery fills the
/// layout): a file, or the app with both servers.
fn complete(d: &DefArgs) -> bool {
    d.file.is_some() || (d.app.is_some() && d.from.is_some() && d.to.is_some())
}

/// The newest journaled migration matching what the command names, said
/// on stderr so the operator sees which one was taken.
fn from_journals(d: &DefArgs) -> Result<Option<journal::Stored>, Failure> {
    if !by_journal(d) {
        return Ok(None);
    }
    let filter = journal::Filter {
        app: d.app.as_deref(),
        domain: d.domain.as_deref(),
        from: d.from.as_deref(),
        to: d.to.as_deref(),
    };
    let found = journal::newest(&filter)?;
    if let Some(st) = &found {
        let m = &st.plan.migration;
        eprintln!(
            "Migration {} ({} {}, {} → {}; {}), the newest journaled matching {}",
            st.plan.id,
            m.app,
            m.domain,
            m.source.host,
            m.destination.host,
            st.state(),
            filter.words()
        );
    } else if !complete(d) {
        return Err(Failure::new(
            exit::BAD_INPUT,
            "no-migration",
            format!(
                "no migration journaled on this machine matches {}; `migrate app list` shows those there are (or name one completely: the app, --from, --to, or --file)",
                filter.words()
            ),
        ));
    }
    Ok(found)
}

fn stored(d: &DefArgs) -> Result<(Plan, Journal), Failure> {
    if let Some(st) = from_journals(d)? {
        let journal = Journal::open(&st.plan.id)?;
        return Ok((st.plan, journal));
    }
    let mig = definition(d).map_err(bad_definition)?;
    let id = mig.id();
    let plan = journal::load_plan(&id)?.ok_or_else(|| {
        Failure::new(
            exit::BAD_INPUT,
            "no-migration",
            format!("no migration {id} has been started (run `migrate app` first)"),
        )
    })?;
    let journal = Journal::open(&id)?;
    Ok((plan, journal))
}

pub fn status(args: StatusArgs, g: &Global) -> Result<Value, Failure> {
    let (plan, journal) = stored(&args.def)?;
    match (args.report, g.json) {
        (true, true) => Ok(report::report_json(&plan, &journal)),
        (false, true) => Ok(report::status_json(&plan, &journal)),
        (true, false) => {
            print!("{}", report::report_markdown(&plan, &journal));
            Ok(Value::Null)
        }
        (false, false) => {
            print!("{}", report::status_text(&plan, &journal));
            Ok(Value::Null)
        }
    }
}

pub fn abort(args: AbortArgs, g: &Global) -> Result<Value, Failure> {
    let (plan, mut journal) = stored(&args.def)?;
    let recipe = crate::recipe::find(&plan.migration.app, &recipe_dirs())?;
    let sides = Sides::connect(
        &plan.migration,
        recipe.volumes.first().map(|v| v.mount.clone()),
    )?;
    let did = crate::migration::abort::abort(&plan, &sides, &mut journal, args.dry_run)?;
    if !g.json {
        for d in &did {
            println!("{d}");
        }
        println!(
            "Migration {} {}; the source serves the app again. What was copied stays on the destination.",
            plan.id,
            if args.dry_run {
                "would be aborted"
            } else {
                "aborted"
            }
        );
    }
    Ok(json!({"aborted": !args.dry_run, "undone": did, "dry_run": args.dry_run}))
}
