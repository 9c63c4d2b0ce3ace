//! A config value carried from the source's file to the destination's (a
//! key the app needs to stay the same app: Nextcloud's instanceid, a
//! secret key base). The new file travels on stdin and replaces the old one
//! atomically with its owner and mode; a secret value is never shown.

use migrate_remote::sh_quote;

use super::super::config::{config_get, config_set};
use super::{Cx, Exec, Outcome, Planned, StepKind, outcome};
use crate::plugin::Side;

pub struct Carry<'a> {
    pub file: &'a str,
    pub key: &'a str,
    pub secret: bool,
}

impl StepKind for Carry<'_> {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        let read = |side| format!("cat -- {}", sh_quote(&cx.sides.map_path(side, self.file)));
        let path = cx.sides.map_path(Side::Destination, self.file);
        vec![
            Planned::on("read-source", Side::Source, read(Side::Source)),
            Planned::on("read-destination", Side::Destination, read(Side::Destination)),
            Planned::on(
                "write",
                Side::Destination,
                format!(
                    "f={p}; t=\"$f.migrate-tmp\"; cat > \"$t\" && chown --reference=\"$f\" \"$t\" && chmod --reference=\"$f\" \"$t\" && mv -- \"$t\" \"$f\"",
                    p = sh_quote(&path)
                ),
            )
            .reading(format!(
                "the destination's {} with {} set to the source's value{}",
                self.file,
                self.key,
                if self.secret { " (secret, not shown)" } else { "" }
            ))
            .when_needed(),
        ]
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        let (file, key) = (self.file, self.key);
        let src_text = x.run("read-source", "reading a file")?;
        let dst_text = x.run("read-destination", "reading a file")?;
        let shown = |v: &str| {
            if self.secret {
                "(secret, not shown)".to_string()
            } else {
                format!("{v:?}")
            }
        };
        let value = |v: &str| (!self.secret).then(|| v.to_string());
        let Some(want) = config_get(&src_text, key) else {
            return Ok(Outcome::new(
                format!("the source's {file} has no {key}; nothing to carry"),
                &outcome::Carried::default(),
            ));
        };
        if config_get(&dst_text, key).as_deref() == Some(want.as_str()) {
            return Ok(Outcome::new(
                format!("{key} already equal on both sides {}", shown(&want)),
                &outcome::Carried {
                    carried: false,
                    value: value(&want),
                },
            ));
        }
        let Some(new) = config_set(&dst_text, key, &want) else {
            return Err(format!(
                "the destination's {file} has no {key} line to set; add it by hand"
            ));
        };
        x.run_with("write", "writing a config file", Some(new.as_bytes()))?;
        Ok(Outcome::new(
            format!(
                "{key} set on the destination to the source's value {}",
                shown(&want)
            ),
            &outcome::Carried {
                carried: true,
                value: value(&want),
            },
        ))
    }
}
