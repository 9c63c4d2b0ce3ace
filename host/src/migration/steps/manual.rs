//! A step only a person can do. Attended, the run asks whether it is done;
//! unattended, it is shown and left for the report to tick off (the run's
//! gate stops earlier for the ones later steps rely on).

use super::{Cx, Exec, Outcome, Planned, StepKind, outcome};

pub struct Manual<'a> {
    pub text: &'a str,
}

impl StepKind for Manual<'_> {
    fn describe(&self, _cx: &Cx) -> Vec<Planned> {
        vec![Planned::by_hand(self.text)]
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        if x.cx.done.contains(&x.cx.step.id) {
            return Ok(Outcome::new(
                "done by hand (--done)",
                &outcome::Manual { confirmed: true },
            ));
        }
        eprintln!("  BY HAND: {}", self.text);
        if !x.cx.attended() {
            Ok(Outcome::new(
                "shown, not confirmed (unattended run): tick it off in the report",
                &outcome::Manual { confirmed: false },
            ))
        } else if x.cx.ask("Done?") {
            Ok(Outcome::new(
                "done by hand",
                &outcome::Manual { confirmed: true },
            ))
        } else {
            Err("not done yet; rerun when it is".into())
        }
    }
}
