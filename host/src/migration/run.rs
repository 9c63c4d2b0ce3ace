//! The executor: walks the plan's steps in order, journaling each start and
//! end. A rerun skips finished steps and resumes the interrupted one (every
//! step is safe to run again). Asks before the downtime window and before
//! each destructive step unless --yes; --dry-run prints every command and
//! changes nothing.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Instant;

use migrate_remote::{Location, sh_quote};
use serde_json::{Value, json};

use super::builder;
use super::checks::{self, CheckResult};
use super::commands;
use super::dbmove::DbMove;
use super::journal::{Event, Journal};
use super::layout::{DbEngine, DbShell, Project};
use super::plan::{Action, Phase, Plan, PlanStep, Risk, Where, human_bytes};
use super::secrets;
use super::sides::Sides;
use crate::plugin::Side;

pub struct RunOptions {
    pub yes: bool,
    pub dry_run: bool,
    pub force: bool,
    /// Steps a person has done by hand (`--done STEP`).
    pub done: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("step {step} failed: {message}")]
    Step { step: String, message: String },
    #[error("stopped before step {step}: {why}")]
    Declined { step: String, why: String },
    #[error("the journal could not be written: {0}")]
    Journal(#[from] super::journal::JournalError),
    #[error("{0}")]
    Unreachable(String),
}

pub struct Runner<'a> {
    pub plan: &'a Plan,
    pub sides: &'a Sides,
    pub journal: &'a mut Journal,
    pub opts: RunOptions,
    confirmed_plan: bool,
    confirmed_window: bool,
}

type StepResult = Result<(String, Value), String>;

impl<'a> Runner<'a> {
    pub fn new(
        plan: &'a Plan,
        sides: &'a Sides,
        journal: &'a mut Journal,
        opts: RunOptions,
    ) -> Self {
        Runner {
            plan,
            sides,
            journal,
            opts,
            confirmed_plan: false,
            confirmed_window: false,
        }
    }

    pub fn run(&mut self) -> Result<(), RunError> {
        let plan = self.plan;
        for step in &plan.steps {
            if self.journal.is_done(&step.id) {
                eprintln!(
                    "  done  [{}] {} (finished earlier)",
                    step.phase.name(),
                    step.title
                );
                continue;
            }
            let resuming = self.journal.last(&step.id).is_some();
            if self.opts.dry_run {
                self.print_dry(step);
                continue;
            }
            self.confirm(step)?;
            self.manual_gate(step)?;
            eprintln!(
                "{} [{}] {} ({})",
                if resuming { "resume" } else { "start " },
                step.phase.name(),
                step.title,
                step.on.name()
            );
            self.journal
                .append(&step.id, Event::Start, &step.title, Value::Null)?;
            let t = Instant::now();
            let res = {
                let _span =
                    tracing::info_span!("step", id = %step.id, phase = step.phase.name()).entered();
                self.execute(step)
            };
            match res {
                Ok((detail, mut data)) => {
                    if let Value::Object(m) = &mut data {
                        m.insert("seconds".into(), json!(t.elapsed().as_secs_f64()));
                    }
                    eprintln!("  done  {detail}");
                    self.journal.append(&step.id, Event::Done, &detail, data)?;
                }
                Err(message) => {
                    self.journal
                        .append(&step.id, Event::Failed, &message, Value::Null)?;
                    return Err(RunError::Step {
                        step: step.id.clone(),
                        message,
                    });
                }
            }
        }
        Ok(())
    }

    /// A step only a person can do, which later steps rely on (it changes
    /// something before or in the downtime window: deploy the new code,
    /// stop a service), stops an unattended run instead of being skipped:
    /// the run resumes here once it is done and named with `--done`.
    /// Reminders for afterwards and read-only checks only go to the report.
    fn manual_gate(&self, step: &PlanStep) -> Result<(), RunError> {
        let Action::Manual { text } = &step.action else {
            return Ok(());
        };
        let attended = !self.opts.yes && std::io::stdin().is_terminal();
        if attended
            || self.opts.done.contains(&step.id)
            || step.phase > Phase::Cutover
            || step.risk == Risk::ReadOnly
        {
            return Ok(());
        }
        eprintln!("  BY HAND: {text}");
        Err(RunError::Declined {
            step: step.id.clone(),
            why: format!(
                "it needs a person: {text} When that is done, run the same command with `--done {}` to go on from here",
                step.id
            ),
        })
    }

    fn ask(&self, question: &str) -> bool {
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        matches!(line.trim(), "y" | "Y" | "yes")
    }

    fn confirm(&mut self, step: &PlanStep) -> Result<(), RunError> {
        if self.opts.yes {
            return Ok(());
        }
        let declined = |why: &str| RunError::Declined {
            step: step.id.clone(),
            why: why.to_string(),
        };
        let interactive = std::io::stdin().is_terminal();
        let need_plan = step.risk != Risk::ReadOnly && !self.confirmed_plan;
        let need_window = step.phase == Phase::Cutover && !self.confirmed_window;
        let need_step = step.risk == Risk::Destructive;
        if !(need_plan || need_window || need_step) {
            return Ok(());
        }
        if !interactive {
            return Err(declined(
                "this step changes things and there is no terminal to ask; rerun with --yes to run unattended (the journal keeps what is done)",
            ));
        }
        if need_plan {
            if !self.ask("Run the plan's changing steps (each is journaled)?") {
                return Err(declined("not confirmed"));
            }
            self.confirmed_plan = true;
        }
        if need_window {
            eprintln!("{}", self.prediction());
            if !self.ask("Start the downtime window now (the source app stops)?") {
                return Err(declined("downtime window not confirmed"));
            }
            self.confirmed_window = true;
        }
        if need_step && !self.ask(&format!("{}: continue?", step.title)) {
            return Err(declined("not confirmed"));
        }
        Ok(())
    }

    /// Predicted downtime from the last pre-sync's delta pass and the dump.
    pub fn prediction(&self) -> String {
        match predict(self.plan, self.journal) {
            Some(p) => format!(
                "Predicted downtime: about {p:.0} s (the last live delta pass plus the database at the pre-sync's rate, plus stop and start)"
            ),
            None => "Predicted downtime: unknown (no pre-sync measured yet)".into(),
        }
    }

    fn print_dry(&self, step: &PlanStep) {
        println!(
            "[{}] {} ({})",
            step.phase.name(),
            step.title,
            step.on.name()
        );
        for (side, cmd) in self.commands(step) {
            println!("    {side}$ {cmd}");
        }
    }

    /// What a step would run, for --dry-run (secrets are never in these).
    pub fn commands(&self, step: &PlanStep) -> Vec<(&'static str, String)> {
        let m = &self.plan.migration;
        let mount = self.sides.mount.as_deref();
        let src = (&m.source.host, &m.source.root);
        let dst = (&m.destination.host, &m.destination.root);
        match &step.action {
            Action::Preflight => vec![("both", "command -v tar sha256sum pg_dump psql".into())],
            Action::DestinationFree => vec![("destination", format!("ls -A {}", sh_quote(dst.1)))],
            Action::Backup => vec![("source", backup_script(self.plan))],
            Action::Baseline => vec![(
                "operator",
                format!(
                    "test plan against {} via {}",
                    m.domain,
                    m.source.http.as_deref().unwrap_or("?")
                ),
            )],
            Action::Copy { final_pass } => vec![(
                "operator",
                format!(
                    "migrate copy {}:{} {}:{}{}",
                    src.0,
                    src.1,
                    dst.0,
                    dst.1,
                    if *final_pass { " --final --verify" } else { "" }
                ),
            )],
            Action::StopApp => vec![("source", m.source.stop.clone().unwrap_or_default())],
            Action::StopDestination => vec![(
                "destination",
                m.destination.stop.clone().unwrap_or_default(),
            )],
            Action::Deploy => vec![(
                "destination",
                m.destination.deploy.clone().unwrap_or_default(),
            )],
            Action::StackSecrets { from, to } => vec![(
                "both",
                format!(
                    "for each secret stack {from} mounts: docker exec <container> cat /run/secrets/<target> (source) | docker secret create <name> - (destination, stack {to})"
                ),
            )],
            Action::StartApp => vec![(
                "destination",
                m.destination.start.clone().unwrap_or_default(),
            )],
            Action::Database {
                engine,
                source_name,
                destination_name,
                service,
                ..
            } => {
                let Some(kind) = DbEngine::parse(engine) else {
                    return vec![(
                        "by hand",
                        format!("move the {engine} database {source_name}"),
                    )];
                };
                let (a, b) = (
                    DbShell::for_engine(kind, &m.source, service.as_deref()),
                    DbShell::for_engine(kind, &m.destination, service.as_deref()),
                );
                let mut v = Vec::new();
                if let Some(up) = b.start() {
                    v.push(("destination", up));
                }
                v.push((
                    "destination",
                    format!(
                        "(the source's roles or accounts, then) CREATE DATABASE {destination_name}"
                    ),
                ));
                v.push((
                    "source",
                    format!(
                        "{} | (destination) {}",
                        a.dump(source_name),
                        b.load(destination_name)
                    ),
                ));
                v
            }
            Action::CreateVolume {
                compose_dir,
                project,
                volume,
                stack,
            } => vec![(
                "destination",
                Project {
                    dir: compose_dir.clone(),
                    project: project.clone(),
                    stack: *stack,
                }
                .create_volume(volume),
            )],
            Action::Exec(c) => {
                let side = if step.on == Where::Source {
                    &m.source
                } else {
                    &m.destination
                };
                vec![(
                    step.on.name(),
                    commands::script(mount, side, c).unwrap_or_else(|e| e.to_string()),
                )]
            }
            Action::Carry {
                file, key, secret, ..
            } => vec![(
                "destination",
                format!(
                    "set {key} in {file} to the source's value{}",
                    if *secret { " (secret, not shown)" } else { "" }
                ),
            )],
            Action::Http { path, .. } => {
                vec![("operator", format!("GET {path} (Host: {})", m.domain))]
            }
            Action::Tcp { port, .. } => vec![("operator", format!("connect to port {port}"))],
            Action::Manual { text } => vec![("by hand", text.clone())],
            Action::TestPlan => vec![(
                "operator",
                format!(
                    "test plan against {} via {}",
                    m.domain,
                    m.destination.http.as_deref().unwrap_or("?")
                ),
            )],
            Action::DnsLower => vec![(
                "operator",
                format!("migrate dns lower --domain {}", m.domain),
            )],
            Action::DnsCutover => vec![(
                "operator",
                format!(
                    "migrate dns cutover --domain {} (after the old TTL expired)",
                    m.domain
                ),
            )],
            Action::DnsRestore => vec![(
                "operator",
                format!("migrate dns restore --domain {}", m.domain),
            )],
        }
    }

    fn execute(&mut self, step: &PlanStep) -> StepResult {
        let sides = self.sides;
        let m = &self.plan.migration;
        match &step.action {
            Action::Preflight => {
                let dbs = self.plan_databases(Side::Source);
                let refs: Vec<&crate::recipe::Database> = dbs.iter().collect();
                builder::preflight_tools(sides, &refs).map_err(|e| e.to_string())?;
                Ok(("both servers answer and have the tools".into(), json!({})))
            }
            Action::DestinationFree => self.destination_free(),
            Action::Backup => {
                let out = sides
                    .sh(Side::Source, "backup", &backup_script(self.plan))
                    .map_err(|e| e.to_string())?;
                Ok((
                    format!("backup in {}", backup_path(self.plan)),
                    json!({"dir": backup_path(self.plan), "sha256sums": out.trim()}),
                ))
            }
            Action::Baseline => {
                let results = checks::run_all(sides, Side::Source, &self.plan.checks);
                let failing: Vec<&CheckResult> = results.iter().filter(|r| !r.pass).collect();
                for f in &failing {
                    eprintln!(
                        "  warning: check {} already FAILS on the source, before anything moved: {}. The report will not blame the migration for it.",
                        f.id, f.detail
                    );
                }
                if !failing.is_empty()
                    && !self.opts.yes
                    && std::io::stdin().is_terminal()
                    && !self.ask("Some checks already fail on the source. Migrate anyway?")
                {
                    return Err("baseline checks fail on the source; fix them first or rerun to migrate anyway".into());
                }
                Ok((
                    format!(
                        "{} of {} checks pass on the source",
                        results.len() - failing.len(),
                        results.len()
                    ),
                    json!({"results": results}),
                ))
            }
            Action::Copy { final_pass } => self.copy(*final_pass),
            Action::StopApp => {
                let cmd = m.source.stop.clone().unwrap_or_default();
                sides
                    .sh(Side::Source, "stopping the app", &cmd)
                    .map_err(|e| e.to_string())?;
                Ok(("the source app is stopped".into(), json!({})))
            }
            Action::StopDestination => {
                let cmd = m.destination.stop.clone().unwrap_or_default();
                sides
                    .sh(Side::Destination, "stopping the fresh app", &cmd)
                    .map_err(|e| e.to_string())?;
                Ok((
                    "the destination's app services are stopped".into(),
                    json!({}),
                ))
            }
            Action::Deploy => {
                let cmd = m.destination.deploy.clone().unwrap_or_default();
                sides
                    .sh(Side::Destination, "deploying the app", &cmd)
                    .map_err(|e| e.to_string())?;
                Ok(("deployed on the destination".into(), json!({})))
            }
            Action::StackSecrets { from, to } => secrets::carry(sides, from, to),
            Action::StartApp => {
                let cmd = m.destination.start.clone().unwrap_or_default();
                sides
                    .sh(Side::Destination, "starting the app", &cmd)
                    .map_err(|e| e.to_string())?;
                // Containers answer a moment after `up -d` returns; the
                // test plan right after must not count that as a failure.
                if let Some(addr) = m.destination.http.as_deref() {
                    wait_for_port(addr, std::time::Duration::from_secs(60))?;
                }
                Ok(("the destination app is started".into(), json!({})))
            }
            Action::Database {
                engine,
                source_name,
                destination_name,
                owner,
                service,
            } => self.database(
                engine,
                source_name,
                destination_name,
                owner.as_deref(),
                service.as_deref(),
            ),
            Action::CreateVolume {
                compose_dir,
                project,
                volume,
                stack,
            } => {
                let c = Project {
                    dir: compose_dir.clone(),
                    project: project.clone(),
                    stack: *stack,
                };
                sides
                    .sh(
                        Side::Destination,
                        "creating the app's volume",
                        &c.create_volume(volume),
                    )
                    .map_err(|e| e.to_string())?;
                Ok((
                    format!("volume {} ready", c.volume_name(volume)),
                    json!({"volume": c.volume_name(volume)}),
                ))
            }
            Action::Exec(c) => {
                let side = match step.on {
                    Where::Source => Side::Source,
                    _ => Side::Destination,
                };
                let script = commands::script(sides.mount.as_deref(), sides.def(side), c)
                    .map_err(|e| e.to_string())?;
                let (status, out, err) = sides
                    .sh_status(side, &step.id, &script)
                    .map_err(|e| e.to_string())?;
                if status != 0 {
                    let tail: Vec<&str> = err.trim().lines().rev().take(3).collect();
                    return Err(format!(
                        "`{}` exited {status} on the {}: {}",
                        c.argv.join(" "),
                        step.on.name(),
                        tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
                    ));
                }
                let last = out
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect::<String>();
                Ok((format!("exit 0 {last}").trim().to_string(), json!({})))
            }
            Action::Carry {
                file, key, secret, ..
            } => self.carry(file, key, *secret),
            Action::Http {
                path,
                expect_status,
                body_contains,
                json_field,
                headers,
            } => {
                let spec = super::plan::CheckSpec {
                    id: step.id.clone(),
                    title: step.title.clone(),
                    origin: step.origin.clone(),
                    kind: super::plan::CheckKind::Http {
                        path: path.clone(),
                        status: *expect_status,
                        contains: body_contains.clone(),
                        json: json_field.clone(),
                        headers: headers.clone(),
                    },
                };
                let r = checks::run_one(sides, Side::Destination, &spec);
                if r.pass {
                    Ok((r.detail, json!({})))
                } else {
                    Err(r.detail)
                }
            }
            Action::Tcp {
                port,
                banner_prefix,
            } => {
                let spec = super::plan::CheckSpec {
                    id: step.id.clone(),
                    title: step.title.clone(),
                    origin: step.origin.clone(),
                    kind: super::plan::CheckKind::Tcp {
                        port: *port,
                        banner: banner_prefix.clone(),
                    },
                };
                let r = checks::run_one(sides, Side::Destination, &spec);
                if r.pass {
                    Ok((r.detail, json!({})))
                } else {
                    Err(r.detail)
                }
            }
            Action::Manual { text } => {
                if self.opts.done.contains(&step.id) {
                    return Ok(("done by hand (--done)".into(), json!({"confirmed": true})));
                }
                eprintln!("  BY HAND: {text}");
                if self.opts.yes || !std::io::stdin().is_terminal() {
                    Ok((
                        "shown, not confirmed (unattended run): tick it off in the report".into(),
                        json!({"confirmed": false}),
                    ))
                } else if self.ask("Done?") {
                    Ok(("done by hand".into(), json!({"confirmed": true})))
                } else {
                    Err("not done yet; rerun when it is".into())
                }
            }
            Action::DnsLower => self.dns_lower(),
            Action::DnsCutover => self.dns_cutover(),
            Action::DnsRestore => self.dns_restore(),
            Action::TestPlan => {
                let after = checks::run_all(sides, Side::Destination, &self.plan.checks);
                let before: Vec<CheckResult> = self
                    .journal
                    .done_data("baseline")
                    .and_then(|d| serde_json::from_value(d["results"].clone()).ok())
                    .unwrap_or_default();
                let cmp = checks::compare(&self.plan.checks, &before, &after);
                let (ok, line) = checks::verdict(&cmp);
                eprintln!("  {line}");
                if !ok {
                    return Err(format!(
                        "{line}. DNS was not moved; fix the destination and rerun, or `migrate abort` to restart the source"
                    ));
                }
                Ok((line, json!({"results": after})))
            }
        }
    }

    fn dns_def(&self) -> Result<&super::definition::Dns, String> {
        self.plan
            .migration
            .dns
            .as_ref()
            .ok_or_else(|| "the migration has no [dns] section".to_string())
    }

    fn dns_lower(&mut self) -> StepResult {
        let def = self.dns_def()?;
        let d = super::dns::dns(def)?;
        let req = super::dns::request(&self.plan.migration.domain, def)?;
        // A plan saved by an interrupted run keeps the original TTLs: a
        // fresh read would take the lowered ones for the originals.
        let previous = super::dns::load_saved(&self.journal.dir);
        let mut p = self
            .sides
            .rt
            .block_on(d.plan(&req, previous))
            .map_err(|e| e.to_string())?;
        super::dns::save(&self.journal.dir, &p)?;
        let out = self
            .sides
            .rt
            .block_on(d.lower(&mut p, false))
            .map_err(|e| e.to_string())?;
        super::dns::save(&self.journal.dir, &p)?;
        Ok((
            format!(
                "TTLs lowered to {} s ({}); earliest safe cutover {}",
                p.lowered_ttl,
                if out.applied {
                    "changed"
                } else {
                    "already low"
                },
                p.earliest_cutover
                    .map(migrate_dns::plan::fmt_time)
                    .unwrap_or_default()
            ),
            json!({"ttls": super::dns::ttl_lines(&p)}),
        ))
    }

    fn dns_cutover(&mut self) -> StepResult {
        let def = self.dns_def()?;
        let d = super::dns::dns(def)?;
        let mut p = super::dns::load_saved(&self.journal.dir)
            .ok_or("no stored DNS plan: the dns-lower step did not run")?;
        if let Some(t) = p.earliest_cutover {
            let now = migrate_dns::verify::now_unix();
            if t > now {
                eprintln!(
                    "        waiting {} s until resolvers have dropped the old TTL",
                    t - now
                );
                std::thread::sleep(std::time::Duration::from_secs(t - now));
            }
        }
        let out = self
            .sides
            .rt
            .block_on(d.cutover(&mut p, false, false, false))
            .map_err(|e| e.to_string())?;
        super::dns::save(&self.journal.dir, &p)?;
        Ok((
            format!(
                "{} now points at {}",
                self.plan.migration.domain,
                def.to.join(", ")
            ),
            json!({"changes": out.changes.diff()}),
        ))
    }

    fn dns_restore(&mut self) -> StepResult {
        let def = self.dns_def()?;
        let d = super::dns::dns(def)?;
        let mut p = super::dns::load_saved(&self.journal.dir)
            .ok_or("no stored DNS plan: the dns-lower step did not run")?;
        self.sides
            .rt
            .block_on(d.restore(&mut p, false))
            .map_err(|e| e.to_string())?;
        super::dns::save(&self.journal.dir, &p)?;
        let restored: Vec<String> = p
            .original
            .iter()
            .map(|r| format!("{} {} TTL {}", r.name, r.rtype, r.ttl))
            .collect();
        Ok((
            format!("TTLs restored: {}", restored.join(", ")),
            json!({"restored": restored}),
        ))
    }

    /// The plan's databases as recipe entries, named as on `side`.
    fn plan_databases(&self, side: Side) -> Vec<crate::recipe::Database> {
        self.plan
            .steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Database {
                    engine,
                    source_name,
                    destination_name,
                    service,
                    ..
                } => Some(crate::recipe::Database {
                    engine: if engine == "postgresql" {
                        crate::recipe::Engine::Postgresql
                    } else {
                        crate::recipe::Engine::Mariadb
                    },
                    name: if side == Side::Source {
                        source_name.clone()
                    } else {
                        destination_name.clone()
                    },
                    service: service.clone(),
                    user: None,
                }),
                _ => None,
            })
            .collect()
    }

    fn destination_free(&mut self) -> StepResult {
        let sides = self.sides;
        let m = &self.plan.migration;
        let root = &m.destination.root;
        let suffix = format!(".before-{}", self.plan.id);
        let out = sides
            .sh(
                Side::Destination,
                "looking at the destination",
                &format!(
                    "if [ -d {r} ]; then ls -A {r} | head -n 1; fi",
                    r = sh_quote(root)
                ),
            )
            .map_err(|e| e.to_string())?;
        let mut moved = Vec::new();
        if Project::of(&m.destination).is_some_and(|p| p.stack) {
            // Deployed fresh before the data comes in: judged by its database.
            return match builder::stack_destination_holds(
                sides,
                m,
                &self
                    .plan_databases(Side::Destination)
                    .iter()
                    .collect::<Vec<_>>(),
            )
            .map_err(|e| e.to_string())?
            {
                Some(what) => Err(format!(
                    "the destination already holds the app ({what}); nothing was changed. Remove that data by hand or deploy a fresh app there"
                )),
                None => Ok(("the destination holds no app data".into(), json!({}))),
            };
        }
        if !out.trim().is_empty() && Project::of(&m.destination).is_some() {
            return Err(format!(
                "the destination's app volume {root} is not empty; nothing was changed. A docker volume is not moved aside: empty or remove it by hand"
            ));
        }
        if !out.trim().is_empty() {
            if !self.opts.force {
                return Err(format!(
                    "the destination now holds files in {root}; nothing was changed. Rerun with --force to move them aside"
                ));
            }
            let aside = format!("{root}{suffix}");
            sides
                .sh(
                    Side::Destination,
                    "moving the old app aside",
                    &format!(
                        "test ! -e {a} && mv -- {r} {a}",
                        r = sh_quote(root),
                        a = sh_quote(&aside)
                    ),
                )
                .map_err(|e| format!("could not move {root} aside to {aside}: {e}"))?;
            moved.push(aside);
        }
        if Project::of(&m.destination).is_some() {
            // A compose project's databases live in its containers: the
            // project must not exist yet, and is not moved aside (its
            // volumes are docker's, not a directory to rename).
            if let Some(what) =
                builder::compose_containers(sides, Side::Destination).map_err(|e| e.to_string())?
            {
                return Err(format!(
                    "the destination already holds the app ({what}); nothing was changed. Remove the project by hand (`docker-compose down`, then its volumes) or choose another project name"
                ));
            }
        }
        for s in &self.plan.steps {
            if let Action::Database {
                engine,
                destination_name,
                service,
                ..
            } = &s.action
                && Project::of(&m.destination).is_none()
                && builder::database_exists(
                    sides,
                    Side::Destination,
                    engine,
                    service.as_deref(),
                    destination_name,
                )
                .map_err(|e| e.to_string())?
            {
                if !self.opts.force {
                    return Err(format!(
                        "the destination already has a database {destination_name}; rerun with --force to rename it aside"
                    ));
                }
                if engine != "postgresql" {
                    return Err(format!(
                        "the destination already has a {engine} database {destination_name}, which cannot be renamed in place; dump and drop it by hand, then rerun"
                    ));
                }
                let aside = format!("{destination_name}_before_migrate");
                sides
                    .sh(
                        Side::Destination,
                        "renaming the old database",
                        &DbShell::new(&m.destination, service.as_deref()).sql(
                            None,
                            &format!("ALTER DATABASE \"{destination_name}\" RENAME TO \"{aside}\""),
                        ),
                    )
                    .map_err(|e| e.to_string())?;
                moved.push(aside);
            }
        }
        if moved.is_empty() {
            Ok(("the destination holds no app".into(), json!({})))
        } else {
            Ok((
                format!("moved aside (kept): {}", moved.join(", ")),
                json!({"moved_aside": moved}),
            ))
        }
    }

    fn copy(&mut self, final_pass: bool) -> StepResult {
        let m = &self.plan.migration;
        let loc = |host: &str, path: &str| -> Result<Location, String> {
            Ok(Location {
                host: migrate_remote::HostSpec::parse(host).map_err(|e| e.to_string())?,
                path: path.to_string(),
            })
        };
        let opts = migrate_copy::CopyOptions {
            src: loc(&m.source.host, &m.source.root)?,
            dst: loc(&m.destination.host, &m.destination.root)?,
            final_pass,
            verify: final_pass,
            streams: 2,
            compress: false,
            relay: false,
            detach: false,
            bwlimit: None,
            // The destination-free step proved the directory empty (or
            // moved the old one aside) before the first pass, so it holds
            // only what this migration copied. Without force, migrate-copy
            // refuses to resume into it after a pass that died without
            // recording its result (seen in the lab under load).
            force: true,
        };
        let mut last = Instant::now();
        let mut on_progress = |p: &migrate_copy::Progress| {
            if last.elapsed().as_secs() >= 5 {
                last = Instant::now();
                eprintln!(
                    "        {} of {} files, {} of {}",
                    p.files_done,
                    p.files_total,
                    human_bytes(p.bytes_done),
                    human_bytes(p.bytes_total)
                );
            }
        };
        // A copy left running by a killed run finishes on the server; wait for it.
        let mut tries = 0;
        let mut auth_retries = 0;
        let mut link_retries = 0;
        let outcome = loop {
            match self
                .sides
                .rt
                .block_on(migrate_copy::run(&opts, &mut on_progress))
            {
                Err(migrate_copy::CopyError::AlreadyRunning { .. }) if tries < 120 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
                // Back-to-back passes of one copy job: the previous pass's
                // temporary key removal can race the next pass's key (seen in
                // the lab as the destination refusing the source's login).
                // The pass is safe to repeat, so try again a few times.
                // A dropped server-to-server link: the copy resumes from what fully
                // arrived, so an unattended run tries again a few times.
                Err(migrate_copy::CopyError::Interrupted { detail }) if link_retries < 3 => {
                    link_retries += 1;
                    eprintln!(
                        "        the copy was interrupted ({}); resuming ({link_retries}/3)",
                        detail.lines().next().unwrap_or("")
                    );
                    std::thread::sleep(std::time::Duration::from_secs(2));
                }
                Err(migrate_copy::CopyError::Remote(
                    migrate_remote::RemoteError::AuthRefused { .. },
                )) if auth_retries < 3 => {
                    auth_retries += 1;
                    tracing::warn!(
                        "the destination refused the source's temporary key; retrying the pass"
                    );
                    std::thread::sleep(std::time::Duration::from_secs(2));
                }
                other => break other,
            }
        };
        match outcome.map_err(|e| e.to_string())? {
            migrate_copy::Outcome::Detached { job_id, .. } => Err(format!(
                "the copy {job_id} detached unexpectedly; rerun to resume it"
            )),
            migrate_copy::Outcome::Finished(s) => {
                if let Some(v) = &s.verdict
                    && !v.identical()
                {
                    return Err(format!(
                        "the trees differ after the copy: {}",
                        v.differences
                            .iter()
                            .take(5)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join("; ")
                    ));
                }
                Ok((
                    format!(
                        "{} files, {} sent in {:.1} s{}",
                        s.files_sent,
                        human_bytes(s.bytes_sent),
                        s.seconds,
                        match &s.verdict {
                            Some(v) => format!(
                                "; verified identical ({} entries, {} hashed)",
                                v.files, v.hashed
                            ),
                            None => String::new(),
                        }
                    ),
                    json!({"files_sent": s.files_sent, "bytes_sent": s.bytes_sent, "copy_seconds": s.seconds, "verified": s.verdict.as_ref().map(|v| v.files)}),
                ))
            }
        }
    }

    fn database(
        &mut self,
        engine: &str,
        src: &str,
        dst: &str,
        owner: Option<&str>,
        service: Option<&str>,
    ) -> StepResult {
        DbMove {
            sides: self.sides,
            plan_id: &self.plan.id,
            engine,
            src,
            dst,
            owner,
            service,
        }
        .run()
    }

    fn carry(&mut self, file: &str, key: &str, secret: bool) -> StepResult {
        let sides = self.sides;
        let read = |side| sides.read_file(side, file).map_err(|e| e.to_string());
        let src_text = read(Side::Source)?;
        let dst_text = read(Side::Destination)?;
        let Some(want) = config_get(&src_text, key) else {
            return Ok((
                format!("the source's {file} has no {key}; nothing to carry"),
                json!({"carried": false}),
            ));
        };
        let shown = |v: &str| {
            if secret {
                "(secret, not shown)".to_string()
            } else {
                format!("{v:?}")
            }
        };
        if config_get(&dst_text, key).as_deref() == Some(want.as_str()) {
            return Ok((
                format!("{key} already equal on both sides {}", shown(&want)),
                json!({"carried": false, "value": if secret { Value::Null } else { json!(want) }}),
            ));
        }
        let Some(new) = config_set(&dst_text, key, &want) else {
            return Err(format!(
                "the destination's {file} has no {key} line to set; add it by hand"
            ));
        };
        let path = sides.map_path(Side::Destination, file);
        // The value travels on stdin, never on a command line.
        let script = format!(
            "f={p}; t=\"$f.migrate-tmp\"; cat > \"$t\" && chown --reference=\"$f\" \"$t\" && chmod --reference=\"$f\" \"$t\" && mv -- \"$t\" \"$f\"",
            p = sh_quote(&path)
        );
        sides
            .rt
            .block_on(
                sides
                    .dst
                    .sh("writing a config file", &script, Some(new.as_bytes())),
            )
            .map_err(|e| e.to_string())?;
        Ok((
            format!(
                "{key} set on the destination to the source's value {}",
                shown(&want)
            ),
            json!({"carried": true, "value": if secret { Value::Null } else { json!(want) }}),
        ))
    }
}

/// Wait until `addr` accepts TCP connections.
fn wait_for_port(addr: &str, within: std::time::Duration) -> Result<(), String> {
    let sock: std::net::SocketAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not ADDRESS:PORT"))?;
    let t = Instant::now();
    loop {
        match std::net::TcpStream::connect_timeout(&sock, std::time::Duration::from_secs(2)) {
            Ok(_) => return Ok(()),
            Err(e) if t.elapsed() >= within => {
                return Err(format!(
                    "the app was started but nothing answers on {addr} after {} s ({e}); look at its logs on the destination",
                    within.as_secs()
                ));
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(250)),
        }
    }
}

pub fn backup_path(plan: &Plan) -> String {
    format!("{}/{}", plan.migration.backup_dir(), plan.id)
}

/// The backup, safe to rerun: a run killed mid-backup leaves its script
/// running on the source, so a rerun waits for that one's lock, and each
/// writes its own partial files before renaming them into place.
fn backup_script(plan: &Plan) -> String {
    let b = backup_path(plan);
    let mut s = format!(
        "set -e; umask 077; mkdir -p {b}; exec 9>>{b}/.lock; flock -w 3600 9; tar -C {r} -cf {b}/files.tar.partial.$$ . && mv {b}/files.tar.partial.$$ {b}/files.tar; ",
        b = sh_quote(&b),
        r = sh_quote(&plan.migration.source.root)
    );
    for st in &plan.steps {
        if let Action::Database {
            engine,
            source_name,
            service,
            ..
        } = &st.action
            && let Some(kind) = DbEngine::parse(engine)
        {
            let (dump, suffix) =
                DbShell::for_engine(kind, &plan.migration.source, service.as_deref())
                    .backup(source_name);
            s.push_str(&format!(
                "{dump} > {b}/db-{f}.{suffix}.partial.$$ && mv {b}/db-{f}.{suffix}.partial.$$ {b}/db-{f}.{suffix}; ",
                b = sh_quote(&b),
                f = source_name.replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "_")
            ));
        }
    }
    s.push_str(&format!("cd {} && rm -f -- *.partial.*; if ls db-* >/dev/null 2>&1; then sha256sum files.tar db-*; else sha256sum files.tar; fi > SHA256SUMS; cat SHA256SUMS", sh_quote(&b)));
    s
}

/// Seconds: the final pass costs about what the last live delta pass cost,
/// once for the copy and once more for its verification; the database
/// streams at the pipe's rate, for which the bulk pre-sync's rate is a floor
/// (its per-file overhead dominates small trees, so it is capped below at
/// 50 MB/s, a third of the lab's measured relayed ssh pipe, lab/README.md);
/// plus about 0.4 s for each other step of the window (a command over the
/// shared ssh connection, as measured in the lab).
pub fn predict(plan: &Plan, journal: &Journal) -> Option<f64> {
    let bulk = journal.done_data("pre-sync")?;
    let delta = journal.done_data("pre-sync-delta").unwrap_or(bulk);
    let bytes = bulk["bytes_sent"].as_f64().unwrap_or(0.0);
    let secs = bulk["copy_seconds"].as_f64().unwrap_or(0.0);
    let rate = if secs > 0.0 {
        (bytes / secs).max(50e6)
    } else {
        50e6
    };
    Some(
        2.0 * delta["copy_seconds"].as_f64().unwrap_or(0.0)
            + plan.facts.database_bytes as f64 / rate
            + 0.4
                * plan
                    .steps
                    .iter()
                    .filter(|s| s.phase == Phase::Cutover)
                    .count() as f64,
    )
}

/// Measured downtime: from the first step of the window to the destination
/// test plan passing.
pub fn measured_downtime(plan: &Plan, journal: &Journal) -> Option<f64> {
    let start = journal.first_start(&plan.downtime_starts()?.id)?.at_ms;
    let end = journal
        .entries
        .iter()
        .find(|e| e.step == "test-destination" && e.event == Event::Done)?
        .at_ms;
    Some((end.saturating_sub(start)) as f64 / 1000.0)
}

/// A value of config.php (`'key' => 'value',`) or an env file (`KEY=value`).
pub fn config_get(text: &str, key: &str) -> Option<String> {
    let needle = format!("'{key}'");
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix(&needle) {
            let rest = rest.trim_start().strip_prefix("=>")?.trim_start();
            let rest = rest.strip_prefix('\'')?;
            return Some(rest[..rest.find('\'')?].to_string());
        }
        if let Some(v) = l.strip_prefix(&format!("{key}=")) {
            return Some(v.trim_matches('"').to_string());
        }
    }
    None
}

pub fn config_set(text: &str, key: &str, value: &str) -> Option<String> {
    let needle = format!("'{key}'");
    let mut found = false;
    let out: Vec<String> = text
        .lines()
        .map(|line| {
            let l = line.trim_start();
            let indent = &line[..line.len() - l.len()];
            if !found && l.starts_with(&needle) {
                found = true;
                format!(
                    "{indent}'{key}' => '{}',",
                    value.replace('\\', "\\\\").replace('\'', "\\'")
                )
            } else if !found && l.starts_with(&format!("{key}=")) {
                found = true;
                format!("{indent}{key}={value}")
            } else {
                line.to_string()
            }
        })
        .collect();
    found.then(|| {
        let mut s = out.join("\n");
        if text.ends_with('\n') {
            s.push('\n');
        }
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_are_read_and_replaced_in_both_formats() {
        let php = "<?php\n$CONFIG = array (\n  'instanceid' => 'oc123',\n  'secret' => 's3',\n);\n";
        assert_eq!(config_get(php, "instanceid").as_deref(), Some("oc123"));
        let new = config_set(php, "instanceid", "ocABC").unwrap();
        assert!(new.contains("  'instanceid' => 'ocABC',\n"), "{new}");
        assert!(new.contains("'secret' => 's3'"));
        let env = "LOCAL_DOMAIN=a.test\nSECRET_KEY_BASE=xyz\n";
        assert_eq!(config_get(env, "SECRET_KEY_BASE").as_deref(), Some("xyz"));
        assert_eq!(
            config_set(env, "SECRET_KEY_BASE", "q").unwrap(),
            "LOCAL_DOMAIN=a.test\nSECRET_KEY_BASE=q\n"
        );
        assert!(config_set(env, "NOPE", "x").is_none());
    }
}
