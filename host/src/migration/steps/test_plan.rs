//! The test plan (the recipe's checks and the plugin's smoke checks): on
//! the source as the baseline, on the destination through the production
//! hostname afterwards, diffed with the baseline into one verdict.

use super::super::checks::{self, CheckResult};
use super::{Cx, Exec, Outcome, Planned, StepKind, outcome};
use crate::plugin::Side;

pub struct TestPlan {
    pub side: Side,
}

fn key(id: &str) -> String {
    format!("check-{id}")
}

impl StepKind for TestPlan {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        cx.plan
            .checks
            .iter()
            .map(|c| match checks::script(cx.sides, self.side, c) {
                Some(Ok(script)) => Planned::on(key(&c.id), self.side, script),
                Some(Err(e)) => Planned::operator(key(&c.id), format!("(cannot run: {e})")),
                None => Planned::operator(key(&c.id), checks::describe(cx.sides, self.side, c)),
            })
            .collect()
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        let cx = &x.cx;
        let results = checks::run_all(cx.sides, self.side, &cx.plan.checks, &mut |c, _script| {
            x.status(&key(&c.id), "a check")
        });
        match self.side {
            Side::Source => baseline(x, results),
            Side::Destination => compare(x, results),
        }
    }
}

fn baseline(x: &Exec, results: Vec<CheckResult>) -> Result<Outcome, String> {
    let failing: Vec<&CheckResult> = results.iter().filter(|r| !r.pass).collect();
    for f in &failing {
        eprintln!(
            "  warning: check {} already FAILS on the source, before anything moved: {}. The report will not blame the migration for it.",
            f.id, f.detail
        );
    }
    if !failing.is_empty()
        && x.cx.attended()
        && !x
            .cx
            .ask("Some checks already fail on the source. Migrate anyway?")
    {
        return Err(
            "baseline checks fail on the source; fix them first or rerun to migrate anyway".into(),
        );
    }
    Ok(Outcome::new(
        format!(
            "{} of {} checks pass on the source",
            results.len() - failing.len(),
            results.len()
        ),
        &outcome::Checks { results },
    ))
}

fn compare(x: &Exec, after: Vec<CheckResult>) -> Result<Outcome, String> {
    let before =
        x.cx.journal()?
            .outcome::<outcome::Checks>("baseline")
            .map(|c| c.results)
            .unwrap_or_default();
    let cmp = checks::compare(&x.cx.plan.checks, &before, &after);
    let (ok, line) = checks::verdict(&cmp);
    eprintln!("  {line}");
    if !ok {
        return Err(format!(
            "{line}. DNS was not moved; fix the destination and rerun, or `migrate abort` to restart the source"
        ));
    }
    Ok(Outcome::new(line, &outcome::Checks { results: after }))
}
