//! A compose project's or stack's named volume made on the destination,
//! with the labels its compose file or stack gives it, before the copy
//! fills it (a later `up` or deploy then adopts it).

use super::super::layout::Project;
use super::{Cx, Exec, Outcome, Planned, StepKind, outcome};
use crate::plugin::Side;

pub struct CreateVolume<'a> {
    pub compose_dir: &'a str,
    pub project: &'a str,
    pub volume: &'a str,
    pub stack: bool,
}

impl CreateVolume<'_> {
    fn project(&self) -> Project {
        Project {
            dir: self.compose_dir.to_string(),
            project: self.project.to_string(),
            stack: self.stack,
        }
    }
}

impl StepKind for CreateVolume<'_> {
    fn describe(&self, _cx: &Cx) -> Vec<Planned> {
        vec![Planned::on(
            "create",
            Side::Destination,
            self.project().create_volume(self.volume),
        )]
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        x.run("create", "creating the app's volume")?;
        let name = self.project().volume_name(self.volume);
        Ok(Outcome::new(
            format!("volume {name} ready"),
            &outcome::Volume { volume: name },
        ))
    }
}
