//! Something on the source switched off while the window is open (the
//! app's cron lines and timers: they would run against an app that is
//! stopped and being copied) with a script `migrate app abort` undoes.

use super::{Cx, Exec, Outcome, Planned, StepKind};
use crate::plugin::Side;

pub struct Toggle<'a> {
    pub what: &'a str,
    pub script: &'a str,
}

impl StepKind for Toggle<'_> {
    fn describe(&self, _cx: &Cx) -> Vec<Planned> {
        vec![Planned::on("off", Side::Source, self.script)]
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        x.run("off", &format!("disabling the {}", self.what))?;
        Ok(Outcome::plain(format!(
            "disabled on the source: {} (an abort restores them)",
            self.what
        )))
    }
}
