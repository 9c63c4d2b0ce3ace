//! The mailboxes as a Mailu admin counts them: for each account (each
//! maildir under the project's `mail/`, Dovecot's `mail_location =
//! maildir:/mail/%u`), its messages (files in `cur/` and `new/` of every
//! folder) and their bytes, on the old server and on the new one after the
//! final copy. Any difference stops the run before the destination starts.

use migrate_remote::sh_quote;
use serde::{Deserialize, Serialize};

use super::{Cx, Exec, Outcome, Planned, StepKind};
use crate::plugin::Side;

pub struct Mailboxes;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Mailbox {
    pub account: String,
    pub messages: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counted {
    pub source: Vec<Mailbox>,
    pub destination: Vec<Mailbox>,
}

fn script(cx: &Cx, s: Side) -> String {
    let dir = format!("{}/mail", cx.sides.def(s).root);
    format!(
        "cd {} 2>/dev/null || exit 0; for d in */; do a=${{d%/}}; find \"$a\" -type f \\( -path '*/cur/*' -o -path '*/new/*' \\) -printf '%s\\n' | awk -v a=\"$a\" '{{n++; b+=$1}} END {{printf \"%s %d %d\\n\", a, n, b}}'; done",
        sh_quote(&dir)
    )
}

fn parse(text: &str) -> Vec<Mailbox> {
    let mut v: Vec<Mailbox> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.rsplitn(3, ' ');
            let bytes = f.next()?.parse().ok()?;
            let messages = f.next()?.parse().ok()?;
            Some(Mailbox {
                account: f.next()?.to_string(),
                messages,
                bytes,
            })
        })
        .collect();
    v.sort_by(|a, b| a.account.cmp(&b.account));
    v
}

impl StepKind for Mailboxes {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        vec![
            Planned::on("source", Side::Source, script(cx, Side::Source)),
            Planned::on(
                "destination",
                Side::Destination,
                script(cx, Side::Destination),
            ),
        ]
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        let source = parse(&x.run("source", "counting the mailboxes")?);
        let destination = parse(&x.run("destination", "counting the mailboxes")?);
        if source != destination {
            let show = |v: &[Mailbox]| {
                v.iter()
                    .map(|m| format!("{} {} messages {} bytes", m.account, m.messages, m.bytes))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(format!(
                "the mailboxes differ after the final copy: old server {}; new server {}",
                show(&source),
                show(&destination)
            ));
        }
        let detail = format!(
            "{} mailboxes moved, the same on both servers: {}",
            source.len(),
            source
                .iter()
                .map(|m| format!(
                    "{} {} messages ({})",
                    m.account,
                    m.messages,
                    super::super::plan::human_bytes(m.bytes)
                ))
                .collect::<Vec<_>>()
                .join("; ")
        );
        Ok(Outcome::new(
            detail,
            &Counted {
                source,
                destination,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_per_account() {
        let v = super::parse("b@x.test 2 300\na@x.test 10 4096\njunk\n");
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].account, "a@x.test");
        assert_eq!((v[0].messages, v[0].bytes), (10, 4096));
    }
}
