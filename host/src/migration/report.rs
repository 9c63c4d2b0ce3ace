//! The plan as text or a Markdown runbook, and the final report (Markdown
//! and JSON): what moved, each check before and after, the downtime, and
//! the follow-ups to tick off. No secret value is ever in a plan or journal,
//! so nothing here can print one.

use serde_json::{Value, json};

use super::checks::{self, CheckResult};
use super::journal::{Journal, StepState, state_of};
use super::plan::{Action, Phase, Plan, human_bytes};
use super::run::{measured_downtime, predict, prediction};
use super::steps::{Described, Planned, outcome};

fn facts_lines(plan: &Plan) -> Vec<String> {
    let f = &plan.facts;
    let m = &plan.migration;
    let mut v = vec![
        format!("Migration {} ({}) of {}", plan.id, plan.app_name, m.domain),
        format!(
            "From {}:{} to {}:{}",
            m.source.host, m.source.root, m.destination.host, m.destination.root
        ),
    ];
    if let Some(d) = &f.detected_display {
        v.push(format!(
            "Source runs {d} ({}); destination will run {}",
            f.detected_by.as_deref().unwrap_or("?"),
            f.target_version.as_deref().unwrap_or("the same")
        ));
    }
    if let Some(p) = &f.plugin {
        v.push(match &p.sha256 {
            Some(h) => format!("Plugin {}: user plugin {} (sha256 {h})", p.id, p.origin),
            None => format!("Plugin {}: {}", p.id, p.origin),
        });
    }
    v.push(if f.hops.is_empty() {
        "Upgrade hops: none (same version)".into()
    } else {
        format!("Upgrade hops: {}", f.hops.join(", "))
    });
    v.push(format!(
        "Data: {} in {} files, database {}; destination free: {}",
        human_bytes(f.source_bytes),
        f.source_files,
        human_bytes(f.database_bytes),
        human_bytes(f.destination_free_bytes)
    ));
    if let Some(r) = &f.redis {
        v.push(format!(
            "Redis (read now): {}; Sidekiq {}",
            r.keyspace_line(),
            r.sidekiq_line()
        ));
    }
    if plan.migration.dns.is_none() {
        v.push("DNS: not managed by this migration (point the name at the destination with `migrate dns` after the destination checks pass)".into());
    } else {
        for l in &f.dns {
            v.push(format!("DNS: {l}"));
        }
    }
    v
}

/// A step's commands, indented under it.
fn command_lines(planned: &[Planned], indent: &str) -> String {
    let mut s = String::new();
    for p in planned {
        s.push_str(&format!(
            "{indent}{}{}$ {}\n",
            p.on.name(),
            if p.conditional { " (when needed)" } else { "" },
            p.script
        ));
        if let Some(i) = &p.stdin {
            s.push_str(&format!("{indent}    < {i}\n"));
        }
    }
    s
}

/// The steps with the commands each will run (what --dry-run prints).
pub fn commands_text(described: &Described) -> String {
    let mut s = String::new();
    for (st, planned) in described {
        s.push_str(&format!(
            "[{}] {} ({})\n",
            st.phase.name(),
            st.title,
            st.on.name()
        ));
        s.push_str(&command_lines(planned, "    "));
    }
    s
}

/// The steps with their commands as JSON (`--dry-run --json`).
pub fn commands_json(plan: &Plan, described: &Described) -> Value {
    let steps: Vec<Value> = described
        .iter()
        .map(|(st, planned)| {
            json!({"id": st.id, "phase": st.phase, "on": st.on, "title": st.title, "risk": st.risk, "acts": super::run::acts(st, planned), "commands": planned})
        })
        .collect();
    json!({"migration": plan.id, "dry_run": true, "steps": steps})
}

pub fn plan_text(plan: &Plan, described: &Described) -> String {
    let mut s = String::new();
    for l in facts_lines(plan) {
        s.push_str(&l);
        s.push('\n');
    }
    s.push('\n');
    for (i, st) in plan.steps.iter().enumerate() {
        let planned = described.get(i).map(|(_, p)| p.as_slice()).unwrap_or(&[]);
        s.push_str(&format!(
            "{:>2}. [{}] {} ({}, {}){}\n",
            i + 1,
            st.phase.name(),
            st.title,
            st.on.name(),
            class(st, planned),
            if st.origin == "migrate" {
                String::new()
            } else {
                format!(" <{}>", st.origin)
            }
        ));
        if let Some((_, planned)) = described.get(i) {
            s.push_str(&command_lines(planned, "      "));
        }
    }
    for (id, title) in &plan.skipped {
        s.push_str(&format!(
            "    skipped by the migration file: {id} ({title})\n"
        ));
    }
    if !plan.notes.is_empty() {
        s.push_str("\nNotes:\n");
        for n in &plan.notes {
            s.push_str(&format!("  - {n}\n"));
        }
    }
    s.push_str(&format!(
        "\nTest plan: {} checks before (source) and after (destination)\n",
        plan.checks.len()
    ));
    s
}

/// The step's risk as the host classes it: a step declared read-only
/// that runs a plugin's or recipe's commands acts, and says so.
fn class(st: &super::plan::PlanStep, planned: &[Planned]) -> &'static str {
    if st.risk != super::plan::Risk::ReadOnly || !super::run::acts(st, planned) {
        return risk(st.risk);
    }
    match st.action {
        Action::Baseline | Action::TestPlan => "acting: runs the plugin's or recipe's commands",
        _ => "acting",
    }
}

fn risk(r: super::plan::Risk) -> &'static str {
    match r {
        super::plan::Risk::ReadOnly => "read-only",
        super::plan::Risk::Reversible => "reversible",
        super::plan::Risk::Destructive => "destructive",
    }
}

/// The runbook to hand a client.
pub fn plan_markdown(plan: &Plan, described: &Described) -> String {
    let m = &plan.migration;
    let mut s = format!("# Moving {} ({})\n\n", m.domain, plan.app_name);
    for l in facts_lines(plan) {
        s.push_str(&format!("- {l}\n"));
    }
    let mut phase = None;
    let mut n = 0;
    for st in &plan.steps {
        if phase != Some(st.phase) {
            phase = Some(st.phase);
            s.push_str(&format!("\n## {}\n\n", phase_heading(st.phase)));
        }
        n += 1;
        let planned = described
            .iter()
            .find(|(d, _)| d.id == st.id)
            .map(|(_, p)| p.as_slice())
            .unwrap_or(&[]);
        s.push_str(&format!(
            "{n}. **{}** ({}, {})",
            st.title,
            st.on.name(),
            class(st, planned)
        ));
        if let Action::Manual { text } = &st.action {
            s.push_str(&format!(": by hand: {text}"));
        }
        s.push('\n');
        if planned.iter().any(|p| p.on != super::steps::On::ByHand) {
            s.push_str("\n   ```sh\n");
            s.push_str(&command_lines(planned, "   "));
            s.push_str("   ```\n\n");
        }
    }
    if !plan.skipped.is_empty() {
        s.push_str("\nLeft out on request:\n\n");
        for (id, title) in &plan.skipped {
            s.push_str(&format!("- {title} (`{id}`)\n"));
        }
    }
    s.push_str("\n## Test plan (run before on the old server and after on the new one)\n\n| check | what |\n|---|---|\n");
    for c in &plan.checks {
        s.push_str(&format!(
            "| `{}` | {} |\n",
            c.id,
            c.title.replace('|', "\\|")
        ));
    }
    if !plan.notes.is_empty() {
        s.push_str("\n## Notes\n\n");
        for note in &plan.notes {
            s.push_str(&format!("- {note}\n"));
        }
    }
    s.push_str("\n## After the move (by hand)\n\n");
    for f in &plan.follow_ups {
        s.push_str(&format!("- [ ] {f}\n"));
    }
    s
}

fn phase_heading(p: Phase) -> &'static str {
    match p {
        Phase::Check => "1. Check (nothing changes)",
        Phase::Prepare => "2. Prepare (backups, baseline)",
        Phase::Sync => "3. Sync (the app stays up)",
        Phase::Cutover => "4. Cutover (downtime)",
        Phase::Finish => "5. Finish",
    }
}

pub fn plan_json(plan: &Plan, described: &Described) -> Value {
    let mut v = serde_json::to_value(plan).unwrap_or(Value::Null);
    if let Some(steps) = v.get_mut("steps").and_then(Value::as_array_mut) {
        for (step, (st, planned)) in steps.iter_mut().zip(described) {
            if let Value::Object(m) = step {
                m.insert("acts".into(), json!(super::run::acts(st, planned)));
                m.insert("commands".into(), json!(planned));
            }
        }
    }
    v
}

/// Step states for `migrate app-status`.
pub fn status_json(plan: &Plan, journal: &Journal) -> Value {
    let steps: Vec<Value> = plan
        .steps
        .iter()
        .map(|s| {
            let last = journal.last(&s.id);
            json!({
                "id": s.id, "phase": s.phase.name(), "title": s.title,
                "state": state_of(&journal.entries, &s.id),
                "detail": last.map(|e| e.detail.clone()),
            })
        })
        .collect();
    json!({
        "migration": plan.id,
        "state": overall(plan, journal),
        "journal": journal.path(),
        "steps": steps,
    })
}

pub fn overall(plan: &Plan, journal: &Journal) -> &'static str {
    if journal.aborted() {
        return "aborted";
    }
    let states: Vec<StepState> = plan
        .steps
        .iter()
        .map(|s| state_of(&journal.entries, &s.id))
        .collect();
    if states.iter().all(|s| *s == StepState::Done) {
        "finished"
    } else if states.contains(&StepState::Failed) {
        "failed"
    } else if states.iter().all(|s| *s == StepState::Pending) {
        "planned"
    } else {
        "interrupted"
    }
}

pub fn status_text(plan: &Plan, journal: &Journal) -> String {
    let mut s = format!(
        "Migration {}: {} (journal {})\n",
        plan.id,
        overall(plan, journal),
        journal.path().display()
    );
    for st in &plan.steps {
        let state = state_of(&journal.entries, &st.id);
        let mark = match state {
            StepState::Done => "done   ",
            StepState::Running => "RUNNING",
            StepState::Failed => "FAILED ",
            StepState::Pending => "       ",
        };
        s.push_str(&format!("  {mark} [{}] {}", st.phase.name(), st.title));
        if matches!(
            state,
            StepState::Failed | StepState::Running | StepState::Done
        ) && let Some(e) = journal.last(&st.id)
            && !e.detail.is_empty()
            && state != StepState::Done
        {
            s.push_str(&format!(": {}", e.detail));
        }
        s.push('\n');
    }
    s
}

fn results(journal: &Journal, step: &str) -> Vec<CheckResult> {
    journal
        .outcome::<outcome::Checks>(step)
        .map(|c| c.results)
        .unwrap_or_default()
}

pub fn report_json(plan: &Plan, journal: &Journal) -> Value {
    let before = results(journal, "baseline");
    let after = results(journal, "test-destination");
    let cmp = checks::compare(&plan.checks, &before, &after);
    let (pass, verdict) = checks::verdict(&cmp);
    let moved: Vec<Value> = plan
        .steps
        .iter()
        .filter(|s| matches!(s.action, Action::Copy { .. } | Action::Database { .. } | Action::Redis { .. } | Action::Permissions { .. } | Action::Carry { .. } | Action::MailuStopSmtp | Action::MailuCheck | Action::MailuDns { .. } | Action::MailuRelay | Action::MailuSwitchOff | Action::MailuMailboxes))
        .map(|s| json!({"step": s.id, "title": s.title, "result": journal.last(&s.id).map(|e| e.detail.clone())}))
        .collect();
    let by_hand: Vec<Value> = plan
        .steps
        .iter()
        .filter(|s| {
            journal
                .outcome::<outcome::Manual>(&s.id)
                .is_some_and(|m| !m.confirmed)
        })
        .map(|s| json!({"step": s.id, "title": s.title}))
        .collect();
    json!({
        "migration": plan.id,
        "app": plan.migration.app,
        "domain": plan.migration.domain,
        "state": overall(plan, journal),
        "versions": {"source": plan.facts.detected_version, "destination": plan.facts.target_version, "hops": plan.facts.hops},
        "moved": moved,
        "backup": journal.outcome::<outcome::Backup>("backup"),
        "checks": cmp,
        "verdict": {"pass": pass, "line": verdict},
        "downtime_seconds": {
            "measured": measured_downtime(plan, journal),
            "predicted": predict(plan, journal),
            "predicted_steps": prediction(plan, journal).map(|p| p.parts.iter().map(|(id, s, from)| json!({"step": id, "seconds": s, "from": from})).collect::<Vec<_>>()),
        },
        "dns": {
            "managed": plan.migration.dns.is_some(),
            "ttls_changed": journal.outcome::<outcome::DnsLowered>("dns-lower").map(|d| d.ttls),
            "cutover": journal.last("dns-cutover").map(|e| e.detail.clone()),
            "ttls_restored": journal.outcome::<outcome::DnsRestored>("dns-restore").map(|d| d.restored),
        },
        "skipped": plan.skipped,
        "manual_steps_not_confirmed": by_hand,
        "follow_ups": plan.follow_ups,
    })
}

pub fn report_markdown(plan: &Plan, journal: &Journal) -> String {
    let r = report_json(plan, journal);
    let m = &plan.migration;
    let mut s = format!("# Migration report: {} ({})\n\n", m.domain, plan.app_name);
    s.push_str(&format!("- State: {}\n", overall(plan, journal)));
    s.push_str(&format!(
        "- From {}:{} to {}:{}\n",
        m.source.host, m.source.root, m.destination.host, m.destination.root
    ));
    if let Some(v) = &plan.facts.detected_display {
        s.push_str(&format!(
            "- Version: {v} on the source, {} on the destination\n",
            plan.facts.target_version.as_deref().unwrap_or("?")
        ));
    }
    let secs = |v: &Value| v.as_f64().map_or("unknown".into(), |x| format!("{x:.1} s"));
    s.push_str(&format!(
        "- Downtime: {} measured (predicted {})\n",
        secs(&r["downtime_seconds"]["measured"]),
        secs(&r["downtime_seconds"]["predicted"])
    ));
    if let Some(b) = journal.outcome::<outcome::Backup>("backup") {
        s.push_str(&format!("- Backup on the source: {}\n", b.dir));
    }
    if let Some(r) = journal.outcome::<outcome::Redis>("redis") {
        s.push_str(&format!(
            "- Sidekiq: {} on the source before the window, {} on the destination after\n",
            r.before.sidekiq_line(),
            r.after.sidekiq_line()
        ));
    }
    if plan.migration.dns.is_none() {
        s.push_str("- DNS: not managed by this migration; no TTL was changed\n");
    } else {
        let lines = |v: &Value| -> String {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_else(|| "not yet".into())
        };
        s.push_str(&format!(
            "- DNS TTLs changed: {}\n",
            lines(&r["dns"]["ttls_changed"])
        ));
        s.push_str(&format!(
            "- DNS cutover: {}\n",
            r["dns"]["cutover"].as_str().unwrap_or("not yet")
        ));
        s.push_str(&format!(
            "- DNS TTLs restored: {}\n",
            lines(&r["dns"]["ttls_restored"])
        ));
    }
    s.push_str("\n## What moved\n\n");
    for mv in r["moved"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "- {}: {}\n",
            mv["title"].as_str().unwrap_or(""),
            mv["result"].as_str().unwrap_or("not run")
        ));
    }
    s.push_str(
        "\n## Checks\n\n| check | source (before) | destination (after) | |\n|---|---|---|---|\n",
    );
    let cell = |c: &Value| -> String {
        if c.is_null() {
            return "not run".into();
        }
        let mark = if c["pass"] == json!(true) {
            "pass"
        } else {
            "FAIL"
        };
        match c["value"].as_str() {
            Some(v) => format!("{mark} ({v})"),
            None => mark.to_string(),
        }
    };
    for c in r["checks"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            c["id"].as_str().unwrap_or(""),
            cell(&c["before"]),
            cell(&c["after"]),
            c["outcome"].as_str().unwrap_or("")
        ));
    }
    s.push_str(&format!(
        "\n{}\n",
        r["verdict"]["line"].as_str().unwrap_or("")
    ));
    let by_hand = r["manual_steps_not_confirmed"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !by_hand.is_empty() {
        s.push_str("\n## Steps shown but not confirmed (unattended run)\n\n");
        for b in by_hand {
            s.push_str(&format!("- [ ] {}\n", b["title"].as_str().unwrap_or("")));
        }
    }
    s.push_str("\n## What a tool cannot do for you\n\n");
    for f in &plan.follow_ups {
        s.push_str(&format!("- [ ] {f}\n"));
    }
    s
}
