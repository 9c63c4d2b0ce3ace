//! A Co-op Cloud stack's swarm secrets created in the destination swarm
//! under the same (versioned) names before the stack is deployed there.
//! abra keeps secrets in the swarm store, write-only, so each is read
//! where the source's own containers see it; values travel on stdin and
//! stdout only (base64, one per line), through this process's memory, and
//! the journal keeps names.

use migrate_remote::sh_quote;

use super::super::secrets::{Mounted, parse_mounts, renamed};
use super::{Cx, Exec, Outcome, Planned, StepKind, outcome, tail};
use crate::plugin::Side;

pub struct StackSecrets<'a> {
    pub from: &'a str,
    pub to: &'a str,
}

impl StepKind for StackSecrets<'_> {
    fn describe(&self, _cx: &Cx) -> Vec<Planned> {
        let list = format!(
            "for s in $(docker service ls -q --filter label=com.docker.stack.namespace={f}); do docker service inspect -f '{{{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}}}{{{{.SecretName}}}} {{{{.File.Name}}}} {{{{$.Spec.Name}}}}{{{{println}}}}{{{{end}}}}' \"$s\" || exit 1; done",
            f = sh_quote(self.from)
        );
        let present = "while read -r n; do docker secret inspect -- \"$n\" >/dev/null 2>&1 && printf '%s\\n' \"$n\"; done; true";
        let read = "while read -r svc path; do c=$(docker ps -q --filter label=com.docker.swarm.service.name=\"$svc\" | head -n 1); [ -n \"$c\" ] || { echo \"no running container of $svc to read $path in: start the source app\" >&2; exit 1; }; docker exec \"$c\" cat -- \"$path\" < /dev/null | base64 -w0 || exit 1; echo; done";
        let create = format!(
            "while read -r n v; do printf %s \"$v\" | base64 -d | docker secret create --label com.docker.stack.namespace={} \"$n\" - >/dev/null || exit 1; done",
            sh_quote(self.to)
        );
        vec![
            Planned::on("list", Side::Source, list),
            Planned::on("present", Side::Destination, present)
                .reading("the destination's names of those secrets"),
            Planned::on("read", Side::Source, read)
                .reading("the service and path of each secret the destination lacks"),
            Planned::on("create", Side::Destination, create)
                .reading("each secret's name and value (never shown)")
                .when_needed(),
        ]
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        let mounts = parse_mounts(&x.run("list", "listing the stack's secrets")?);
        let mut seen = std::collections::BTreeSet::new();
        let wanted: Vec<(&Mounted, String)> = mounts
            .iter()
            .filter(|m| seen.insert(m.name.clone()))
            .map(|m| (m, renamed(&m.name, self.from, self.to)))
            .collect();
        let names: String = wanted.iter().map(|(_, n)| format!("{n}\n")).collect();
        let there = x.run_with("present", "looking for the secrets", Some(names.as_bytes()))?;
        // Swarm secrets are immutable; one already there is the one the
        // destination's stack will use.
        let present: Vec<String> = there.lines().map(str::to_string).collect();
        let missing: Vec<&(&Mounted, String)> = wanted
            .iter()
            .filter(|(_, n)| !present.contains(n))
            .collect();
        let mut created = Vec::new();
        if !missing.is_empty() {
            let ask: String = missing
                .iter()
                .map(|(m, _)| format!("{} {}\n", m.service, m.path))
                .collect();
            let values = x
                .run_with("read", "reading the secrets", Some(ask.as_bytes()))
                .map_err(|e| tail(&e))?;
            let values: Vec<&str> = values.lines().collect();
            if values.len() != missing.len() {
                return Err(format!(
                    "read {} of the {} secrets the destination lacks; nothing was created",
                    values.len(),
                    missing.len()
                ));
            }
            let mut feed = String::new();
            for ((_, name), v) in missing.iter().zip(values) {
                feed.push_str(&format!("{name} {v}\n"));
                created.push(name.clone());
            }
            x.run_with("create", "creating the secrets", Some(feed.as_bytes()))
                .map_err(|e| tail(&e))?;
        }
        Ok(Outcome::new(
            format!(
                "{} secret(s) created on the destination{}",
                created.len(),
                if present.is_empty() {
                    String::new()
                } else {
                    format!(", {} already there (kept)", present.len())
                }
            ),
            &outcome::Secrets { created, present },
        ))
    }
}
