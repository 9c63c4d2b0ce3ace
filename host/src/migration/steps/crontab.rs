//! A user's crontab lines naming the app, carried to the same user's
//! crontab on the destination: the lines are read on the source (with the
//! window's marker taken off) and each one the destination's crontab lacks
//! is appended there; its other lines stay as they are.

use migrate_remote::sh_quote;

use super::{Cx, Exec, Outcome, Planned, StepKind};
use crate::migration::around::MARK;
use crate::plugin::Side;

pub struct Crontab<'a> {
    pub user: &'a str,
    pub needle: &'a str,
}

impl StepKind for Crontab<'_> {
    fn describe(&self, _cx: &Cx) -> Vec<Planned> {
        let u = sh_quote(self.user);
        vec![
            Planned::on(
                "read",
                Side::Source,
                format!(
                    "crontab -l -u {u} | sed 's/^{MARK}//' | grep -v '^[[:space:]]*#' | grep -F -- {}",
                    sh_quote(self.needle)
                ),
            ),
            Planned::on(
                "write",
                Side::Destination,
                format!(
                    "new=$(cat); cur=$(crontab -l -u {u} 2>/dev/null || true); add=$(printf '%s\\n' \"$new\" | while IFS= read -r l; do [ -n \"$l\" ] || continue; printf '%s\\n' \"$cur\" | grep -qxF -- \"$l\" || printf '%s\\n' \"$l\"; done); [ -z \"$add\" ] || printf '%s\\n%s\\n' \"$cur\" \"$add\" | sed '/^$/d' | crontab -u {u} -"
                ),
            )
            .reading(format!("{}'s crontab lines naming the app, from the source", self.user)),
        ]
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        let lines = x.run("read", "reading the crontab")?;
        x.run_with("write", "writing the crontab", Some(lines.as_bytes()))?;
        Ok(Outcome::plain(format!(
            "{} crontab line(s) of {} on the destination",
            lines.lines().filter(|l| !l.trim().is_empty()).count(),
            self.user
        )))
    }
}
