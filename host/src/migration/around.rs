//! What lives around the app on the source and moves with it: the plan's
//! steps for it (steps/around.rs carries the files). Its systemd units
//! first: their files are carried and enabled on the destination before
//! the app is started there with them.

use super::definition::Migration;
use super::plan::{Action, Phase, PlanStep, Risk, Where};

fn unit_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The steps, in the order they run, just before the destination starts.
pub fn steps(mig: &Migration) -> Vec<PlanStep> {
    let mut steps = Vec::new();
    let units = &mig.source.units;
    if !units.is_empty() {
        let names: Vec<String> = units
            .iter()
            .map(|u| migrate_remote::sh_quote(unit_name(u)))
            .collect();
        steps.push(PlanStep {
            id: "carry-units".into(),
            phase: Phase::Cutover,
            on: Where::Destination,
            title: format!(
                "Carry the app's systemd units ({}) to the destination and enable them there",
                units
                    .iter()
                    .map(|u| unit_name(u))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            risk: Risk::Reversible,
            origin: "migrate".into(),
            action: Action::Around {
                what: "systemd units".into(),
                paths: units.clone(),
                enable: Some(format!(
                    "systemctl daemon-reload && systemctl enable {}",
                    names.join(" ")
                )),
            },
        });
    }
    steps
}
