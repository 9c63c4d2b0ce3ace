//! Files that live around the app (its systemd units, and the like)
//! carried to the same paths on the destination: read on the source as
//! one tar stream (owners, modes and symlinks kept), written on the
//! destination without replacing anything it already has, then switched
//! on there with the step's `enable` command.

use migrate_remote::sh_quote;
use serde::{Deserialize, Serialize};

use super::{Cx, Exec, Outcome, Planned, StepKind};
use crate::plugin::Side;

pub struct Around<'a> {
    pub what: &'a str,
    pub paths: &'a [String],
    pub enable: Option<&'a str>,
}

/// What the step carried, for the journal and the report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Carried {
    pub carried: Vec<String>,
    /// Already on the destination: left as they were.
    pub kept: Vec<String>,
}

impl Around<'_> {
    /// The paths relative to / (tar's members), quoted.
    fn members(&self) -> String {
        self.paths
            .iter()
            .map(|p| sh_quote(p.trim_start_matches('/')))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl StepKind for Around<'_> {
    fn describe(&self, _cx: &Cx) -> Vec<Planned> {
        let quoted: Vec<String> = self.paths.iter().map(|p| sh_quote(p)).collect();
        let mut v = vec![
            Planned::on(
                "existing",
                Side::Destination,
                format!(
                    "for f in {}; do if test -e \"$f\" || test -L \"$f\"; then echo \"$f\"; fi; done",
                    quoted.join(" ")
                ),
            ),
            Planned::on(
                "read",
                Side::Source,
                format!("tar -cf - -C / -- {} | base64 -w0", self.members()),
            ),
            Planned::on(
                "write",
                Side::Destination,
                "base64 -d | tar -xpf - -C / --skip-old-files",
            )
            .reading(format!(
                "the {} from the source (a tar stream; files the destination has are kept)",
                self.what
            )),
        ];
        if let Some(e) = self.enable {
            v.push(Planned::on("enable", Side::Destination, e));
        }
        v
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        let existing = x.run("existing", "looking for the files on the destination")?;
        let kept: Vec<String> = existing.lines().map(str::to_string).collect();
        let stream = x.run("read", &format!("reading the {}", self.what))?;
        x.run_with(
            "write",
            &format!("writing the {}", self.what),
            Some(stream.trim().as_bytes()),
        )?;
        if self.enable.is_some() {
            x.run("enable", &format!("enabling the {}", self.what))?;
        }
        let carried: Vec<String> = self
            .paths
            .iter()
            .filter(|p| !kept.contains(p))
            .cloned()
            .collect();
        let mut detail = format!("{} carried: {}", self.what, carried.join(", "));
        if !kept.is_empty() {
            detail.push_str(&format!(
                "; already on the destination, left as they were: {}",
                kept.join(", ")
            ));
        }
        Ok(Outcome::new(detail, &Carried { carried, kept }))
    }
}
