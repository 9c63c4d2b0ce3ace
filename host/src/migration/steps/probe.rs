//! A plugin's HTTP or TCP step: the destination must answer (through the
//! production hostname), made from this machine like the test plan's checks.

use super::super::checks;
use super::super::plan::{Action, CheckKind, CheckSpec};
use super::{Cx, Exec, Outcome, Planned, StepKind};
use crate::plugin::Side;

pub struct Probe<'a> {
    pub action: &'a Action,
}

impl Probe<'_> {
    fn spec(&self, cx: &Cx) -> CheckSpec {
        let kind = match self.action {
            Action::Http {
                path,
                expect_status,
                body_contains,
                json_field,
                headers,
            } => CheckKind::Http {
                path: path.clone(),
                status: *expect_status,
                contains: body_contains.clone(),
                json: json_field.clone(),
                headers: headers.clone(),
            },
            Action::Tcp {
                port,
                banner_prefix,
            } => CheckKind::Tcp {
                port: *port,
                banner: banner_prefix.clone(),
            },
            _ => CheckKind::Tcp {
                port: 0,
                banner: None,
            },
        };
        CheckSpec {
            id: cx.step.id.clone(),
            title: cx.step.title.clone(),
            origin: cx.step.origin.clone(),
            kind,
        }
    }
}

impl StepKind for Probe<'_> {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        vec![Planned::operator(
            "probe",
            checks::describe(cx.sides, Side::Destination, &self.spec(cx)),
        )]
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        x.planned("probe")?;
        let spec = self.spec(&x.cx);
        let r = checks::run_one(x.cx.sides, Side::Destination, &spec, &mut |_, _| {
            Err("not a command check".into())
        });
        if r.pass {
            Ok(Outcome::plain(r.detail))
        } else {
            Err(r.detail)
        }
    }
}
