//! The DNS steps, by the dns crate: TTLs lowered ahead, the names pointed
//! at the destination once the old TTL has expired everywhere, the TTLs
//! restored. The plan they share (with the original TTLs) is kept beside
//! the journal, so a resumed run never takes lowered TTLs for originals.

use super::super::dns as plan_dns;
use super::{Cx, Exec, Outcome, Planned, StepKind, outcome};

pub enum Dns {
    Lower,
    Cutover,
    Restore,
}

impl StepKind for Dns {
    fn describe(&self, cx: &Cx) -> Vec<Planned> {
        let d = &cx.plan.migration.domain;
        vec![Planned::operator(
            "dns",
            match self {
                Dns::Lower => format!("migrate dns lower --domain {d}"),
                Dns::Cutover => {
                    format!("migrate dns cutover --domain {d} (after the old TTL expired)")
                }
                Dns::Restore => format!("migrate dns restore --domain {d}"),
            },
        )]
    }

    fn execute(&self, x: &mut Exec) -> Result<Outcome, String> {
        x.planned("dns")?;
        let cx = &x.cx;
        let def = cx
            .plan
            .migration
            .dns
            .as_ref()
            .ok_or_else(|| "the migration has no [dns] section".to_string())?;
        let d = plan_dns::dns(def)?;
        let dir = &cx.journal()?.dir;
        let rt = &cx.sides.rt;
        match self {
            Dns::Lower => {
                let req = plan_dns::request(&cx.plan.migration.domain, def)?;
                // A plan saved by an interrupted run keeps the original
                // TTLs: a fresh read would take the lowered ones for the
                // originals.
                let previous = plan_dns::load_saved(dir);
                let mut p = rt
                    .block_on(d.plan(&req, previous))
                    .map_err(|e| e.to_string())?;
                plan_dns::save(dir, &p)?;
                let out = rt
                    .block_on(d.lower(&mut p, false))
                    .map_err(|e| e.to_string())?;
                plan_dns::save(dir, &p)?;
                Ok(Outcome::new(
                    format!(
                        "TTLs lowered to {} s ({}); earliest safe cutover {}",
                        p.lowered_ttl,
                        if out.applied {
                            "changed"
                        } else {
                            "already low"
                        },
                        p.earliest_cutover
                            .map(migrate_dns::plan::fmt_time)
                            .unwrap_or_default()
                    ),
                    &outcome::DnsLowered {
                        ttls: plan_dns::ttl_lines(&p),
                    },
                ))
            }
            Dns::Cutover => {
                let mut p = plan_dns::load_saved(dir)
                    .ok_or("no stored DNS plan: the dns-lower step did not run")?;
                if let Some(t) = p.earliest_cutover {
                    let now = migrate_dns::verify::now_unix();
                    if t > now {
                        eprintln!(
                            "        waiting {} s until resolvers have dropped the old TTL",
                            t - now
                        );
                        std::thread::sleep(std::time::Duration::from_secs(t - now));
                    }
                }
                let out = rt
                    .block_on(d.cutover(&mut p, false, false, false))
                    .map_err(|e| e.to_string())?;
                plan_dns::save(dir, &p)?;
                Ok(Outcome::new(
                    format!(
                        "{} now points at {}",
                        cx.plan.migration.domain,
                        def.to.join(", ")
                    ),
                    &outcome::DnsCutover {
                        changes: serde_json::to_value(out.changes.diff()).unwrap_or_default(),
                    },
                ))
            }
            Dns::Restore => {
                let mut p = plan_dns::load_saved(dir)
                    .ok_or("no stored DNS plan: the dns-lower step did not run")?;
                rt.block_on(d.restore(&mut p, false))
                    .map_err(|e| e.to_string())?;
                plan_dns::save(dir, &p)?;
                let restored: Vec<String> = p
                    .original
                    .iter()
                    .map(|r| format!("{} {} TTL {}", r.name, r.rtype, r.ttl))
                    .collect();
                Ok(Outcome::new(
                    format!("TTLs restored: {}", restored.join(", ")),
                    &outcome::DnsRestored { restored },
                ))
            }
        }
    }
}
