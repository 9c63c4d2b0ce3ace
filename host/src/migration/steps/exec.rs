//! A command of the plugin's or of an upgrade hop, run in the app's context
//! on one side (in its container, as its user, in its directory).

use super::super::commands;
use super::super::plan::{Cmd, Where};
use super::{Cx, Exec as Run, Outcome, Planned, StepKind, tail};
use crate::plugin::Side;

pub struct Exec<'a> {
    pub cmd: &'a Cmd,
}

fn side(cx: &Cx) -> Side {
    match cx.step.on {
        Where::Source => Side::Source,
        _ => Side::Destination,
    }
}

impl StepKind for Exec<'_> {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        let side = side(cx);
        match commands::script(cx.sides.mount.as_deref(), cx.sides.def(side), self.cmd) {
            Ok(s) => vec![Planned::on("command", side, s)],
            // Shown as it would run, its environment included (a secret
            // stays its `secret:NAME` reference).
            Err(e) => vec![Planned::by_hand(format!(
                "`{}`: {e}",
                self.cmd
                    .env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .chain(self.cmd.argv.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(" ")
            ))],
        }
    }

    fn execute(&self, x: &mut Run) -> Result<Outcome, String> {
        if let Ok(p) = x.planned("by-hand") {
            return Err(p.script.clone());
        }
        let (status, out, err) = x.status("command", &x.cx.step.id)?;
        if status != 0 {
            return Err(format!(
                "`{}` exited {status} on the {}: {}",
                self.cmd.argv.join(" "),
                x.cx.step.on.name(),
                tail(&err)
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
        Ok(Outcome::plain(format!("exit 0 {last}").trim().to_string()))
    }
}
