//! The DNS steps of a migration as a library: plan, lower, wildcard,
//! cutover, restore, verify. The CLI is a thin layer over these, and the
//! `migrate app` plan can call them as steps.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::rr::RecordType;
use serde::Serialize;

use crate::change::{Change, ChangeSet, check_safety};
use crate::discover::{self, Authority, Servers};
use crate::error::{DnsError, Result};
use crate::plan::{self, Observation, PLAN_VERSION, Plan, Source, min_ttl_consequence};
use crate::provider::{Provider, ProviderConfig};
use crate::query;
use crate::record::{MOVED_TYPES, Rrset, fqdn};
use crate::verify::{self, VerifyReport, now_unix};

/// What `plan` needs to know.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub domain: String,
    pub zone: Option<String>,
    /// More names to lower and cut over with the domain (www., etc.).
    pub names: Vec<String>,
    pub to: Vec<IpAddr>,
    /// Asked for explicitly (None: the default 300 s, raised to the provider's minimum).
    pub lowered_ttl: Option<u32>,
    pub servers: Servers,
    pub provider: ProviderConfig,
    pub source: Source,
}

/// Settings shared by every step.
pub struct Dns {
    pub provider: Box<dyn Provider>,
    pub query_timeout: Duration,
    pub verify_timeout: Duration,
    /// Safety limit: refuse changes touching more than this share of the zone.
    pub max_share: f64,
    pub force: bool,
    /// Poll the authoritative servers after each change.
    pub verify: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub changes: ChangeSet,
    pub applied: bool,
    pub dry_run: bool,
    pub verify: Option<VerifyReport>,
    pub notes: Vec<String>,
}

impl Dns {
    pub fn new(provider: Box<dyn Provider>) -> Self {
        Dns {
            provider,
            query_timeout: query::DEFAULT_TIMEOUT,
            verify_timeout: Duration::from_secs(120),
            max_share: 0.3,
            force: false,
            verify: true,
        }
    }

    /// Reads the zone from every authoritative server and builds the plan.
    /// `previous` keeps the original TTLs of a plan whose lowering is not
    /// restored yet: re-planning must never make the lowered TTLs "original".
    pub async fn plan(&self, req: &PlanRequest, previous: Option<Plan>) -> Result<Plan> {
        let domain = fqdn(&req.domain);
        let mut names = vec![domain.clone()];
        for n in &req.names {
            let n = fqdn(n);
            if !names.contains(&n) {
                names.push(n);
            }
        }
        let mut skipped_v6: Vec<String> = Vec::new();
        let (zone, mut authorities) = match req.source {
            Source::Dns => {
                let zone = match &req.zone {
                    Some(z) => fqdn(z),
                    None => discover::find_zone(&req.servers, &domain, self.query_timeout).await?,
                };
                let auth = discover::authorities(&req.servers, &zone, self.query_timeout).await?;
                (zone, auth)
            }
            Source::Provider => {
                let zone = req
                    .zone
                    .as_deref()
                    .map(fqdn)
                    .unwrap_or_else(|| domain.clone());
                (zone, Vec::new())
            }
        };
        for n in &names {
            if !(n == &zone || n.ends_with(&format!(".{zone}"))) {
                return Err(DnsError::Invalid(format!("{n} is not inside zone {zone}")));
            }
        }

        let mut observed = Vec::new();
        let mut soa: Option<query::SoaInfo> = None;
        let mut original: Vec<Rrset> = Vec::new();
        match req.source {
            Source::Dns => {
                // Many hosts have no IPv6 route while nameservers publish
                // AAAA: an unreachable IPv6 address is skipped (with a note)
                // when the same nameserver answers over IPv4.
                let mut usable = Vec::new();
                for a in &authorities {
                    match query::soa(a.addr, &zone, self.query_timeout).await {
                        Ok(_) => usable.push(a.clone()),
                        Err(DnsError::Unreachable { .. })
                            if a.addr.is_ipv6()
                                && !a.name.is_empty()
                                && authorities
                                    .iter()
                                    .any(|b| b.name == a.name && b.addr.is_ipv4()) =>
                        {
                            skipped_v6.push(a.to_string());
                        }
                        Err(e) => return Err(e),
                    }
                }
                authorities = usable;
                for a in &authorities {
                    let s = query::soa(a.addr, &zone, self.query_timeout).await?;
                    soa = Some(match soa {
                        Some(prev) if prev.serial >= s.serial => prev,
                        _ => s,
                    });
                    let sets = read_names(a.addr, &names, self.query_timeout).await?;
                    for set in &sets {
                        match original.iter_mut().find(|o| o.same_key(set)) {
                            // The longest TTL any server gives out is what a
                            // resolver may hold.
                            Some(o) => o.ttl = o.ttl.max(set.ttl),
                            None => original.push(set.clone()),
                        }
                    }
                    observed.push(Observation {
                        server: a.to_string(),
                        serial: Some(s.serial),
                        rrsets: sets,
                    });
                }
            }
            Source::Provider => {
                let all = self.provider.list(&zone).await?.ok_or_else(|| {
                    DnsError::Invalid(format!(
                        "the {} provider cannot list zones; use --source dns",
                        self.provider.name()
                    ))
                })?;
                original = all
                    .into_iter()
                    .filter(|r| names.contains(&r.name) && is_moved(&r.rtype))
                    .collect();
                observed.push(Observation {
                    server: format!("{} API", self.provider.name()),
                    serial: None,
                    rrsets: original.clone(),
                });
            }
        }
        if original.is_empty() {
            return Err(DnsError::UnknownZone {
                domain: domain.clone(),
                detail: format!(
                    "zone {zone} has no A, AAAA, CNAME, MX, TXT, SRV or CAA records at {}",
                    names.join(", ")
                ),
            });
        }
        if !req.to.is_empty()
            && let Some(c) = original
                .iter()
                .find(|r| r.name == domain && r.rtype == "CNAME")
        {
            return Err(DnsError::CnameWhereAddressExpected {
                name: domain.clone(),
                target: c.values.join(", "),
            });
        }

        let provider_min = self.provider.min_ttl(&zone).await?;
        let mut notes = Vec::new();
        if !skipped_v6.is_empty() {
            notes.push(format!(
                "not reachable over IPv6 from here, checked over IPv4 only: {}",
                skipped_v6.join(", ")
            ));
        }
        let max_old_ttl = original.iter().map(|r| r.ttl).max().unwrap_or(0);
        let lowered = match req.lowered_ttl {
            Some(t) if t < provider_min => {
                return Err(DnsError::BelowMinimumTtl {
                    provider: self.provider.name().into(),
                    requested: t,
                    minimum: provider_min,
                    consequence: min_ttl_consequence(t, provider_min, max_old_ttl),
                });
            }
            Some(t) => t,
            None if plan::DEFAULT_LOWERED_TTL < provider_min => {
                notes.push(format!(
                    "{} does not accept TTLs below {provider_min}s, so the TTLs are lowered to {provider_min}s instead of {}s: resolvers may keep sending clients to the old server for up to {provider_min}s after the cutover",
                    self.provider.name(),
                    plan::DEFAULT_LOWERED_TTL
                ));
                provider_min
            }
            None => plan::DEFAULT_LOWERED_TTL,
        };

        let mut plan = Plan {
            version: PLAN_VERSION,
            domain: domain.clone(),
            zone,
            names,
            to: req.to.clone(),
            provider: req.provider.clone(),
            source: req.source,
            authorities,
            soa,
            negative_cache_ttl: soa.map(|s| s.negative_cache_ttl()),
            observed,
            original,
            provider_min_ttl: provider_min,
            lowered_ttl: lowered,
            max_old_ttl,
            created_at: now_unix(),
            lowered_at: None,
            earliest_cutover: None,
            wildcard: Vec::new(),
            wildcard_usable_at: None,
            cutover_at: None,
            restored_at: None,
            notes,
        };
        // Until a restore has run, the first-seen TTLs stay the originals:
        // re-planning after (even a half-failed) lowering must never turn
        // the lowered TTLs into "originals".
        if let Some(prev) = previous
            && prev.restored_at.is_none()
            && prev.zone == plan.zone
        {
            plan.notes.push(format!(
                "kept the original TTLs first recorded on {} (not restored yet)",
                plan::fmt_time(prev.created_at)
            ));
            let mut merged = prev.original.clone();
            for r in &plan.original {
                if !merged.iter().any(|m| m.same_key(r)) {
                    merged.push(r.clone());
                }
            }
            plan.original = merged;
            plan.max_old_ttl = plan.original.iter().map(|r| r.ttl).max().unwrap_or(0);
            plan.lowered_at = prev.lowered_at;
            plan.earliest_cutover = prev.earliest_cutover;
            plan.wildcard = prev.wildcard;
            plan.wildcard_usable_at = prev.wildcard_usable_at;
            plan.cutover_at = prev.cutover_at;
            plan.created_at = prev.created_at;
        }
        Ok(plan)
    }

    /// The current RRsets at the plan's names, from where changes are
    /// made (the update server for RFC 2136, else the first authoritative
    /// server, or the provider's API).
    pub async fn read_current(&self, plan: &Plan, names: &[String]) -> Result<Vec<Rrset>> {
        match plan.source {
            Source::Provider => {
                let all = self.provider.list(&plan.zone).await?.unwrap_or_default();
                Ok(all
                    .into_iter()
                    .filter(|r| names.contains(&r.name) && is_moved(&r.rtype))
                    .collect())
            }
            Source::Dns => {
                let addr = self.read_server(plan)?;
                read_names(addr, names, self.query_timeout).await
            }
        }
    }

    fn read_server(&self, plan: &Plan) -> Result<SocketAddr> {
        if let ProviderConfig::Rfc2136 { server } = &plan.provider {
            return Ok(*server);
        }
        plan.authorities
            .first()
            .map(|a| a.addr)
            .ok_or_else(|| DnsError::Invalid("the plan names no authoritative server".into()))
    }

    pub async fn lower_changes(&self, plan: &Plan) -> Result<ChangeSet> {
        let current = self.read_current(plan, &plan.names).await?;
        let changes = current
            .into_iter()
            .filter(|r| r.ttl > plan.lowered_ttl)
            .map(|r| {
                let mut after = r.clone();
                after.ttl = plan.lowered_ttl;
                Change {
                    before: Some(r),
                    after: Some(after),
                }
            })
            .collect();
        Ok(ChangeSet {
            zone: plan.zone.clone(),
            purpose: format!("lower TTLs to {}s", plan.lowered_ttl),
            changes,
        })
    }

    pub async fn wildcard_changes(&self, plan: &Plan) -> Result<ChangeSet> {
        if plan.to.is_empty() {
            return Err(DnsError::Invalid(
                "the wildcard needs the new server's address: plan with --to ADDRESS".into(),
            ));
        }
        let name = plan.wildcard_name();
        let current = self.read_current(plan, std::slice::from_ref(&name)).await?;
        let mut changes = Vec::new();
        for (rt, vals) in [("A", plan.v4()), ("AAAA", plan.v6())] {
            let before = current.iter().find(|r| r.rtype == rt).cloned();
            let after = (!vals.is_empty()).then(|| Rrset::new(&name, rt, plan.lowered_ttl, vals));
            if before != after && after.is_some() {
                changes.push(Change { before, after });
            }
        }
        Ok(ChangeSet {
            zone: plan.zone.clone(),
            purpose: format!("test wildcard {name} -> new server"),
            changes,
        })
    }

    /// A/AAAA of every planned name that has address records, in one change.
    pub async fn cutover_changes(&self, plan: &Plan, drop_aaaa: bool) -> Result<ChangeSet> {
        if plan.to.is_empty() {
            return Err(DnsError::Invalid(
                "cutover needs the new server's address: plan with --to ADDRESS".into(),
            ));
        }
        let current = self.read_current(plan, &plan.names).await?;
        let mut changes = Vec::new();
        for name in &plan.names {
            let here: Vec<&Rrset> = current.iter().filter(|r| &r.name == name).collect();
            if let Some(c) = here.iter().find(|r| r.rtype == "CNAME") {
                if name == &plan.domain {
                    return Err(DnsError::CnameWhereAddressExpected {
                        name: name.clone(),
                        target: c.values.join(", "),
                    });
                }
                // An alias follows its target; nothing to change here.
                continue;
            }
            let has_addr = here.iter().any(|r| r.rtype == "A" || r.rtype == "AAAA");
            if !has_addr && name != &plan.domain {
                continue;
            }
            for (rt, vals) in [("A", plan.v4()), ("AAAA", plan.v6())] {
                let before = here.iter().find(|r| r.rtype == rt).map(|r| (*r).clone());
                let ttl = before
                    .as_ref()
                    .map(|b| b.ttl.min(plan.lowered_ttl))
                    .unwrap_or(plan.lowered_ttl);
                let after = if vals.is_empty() {
                    if let Some(b) = &before
                        && (!drop_aaaa || rt == "A")
                    {
                        return Err(DnsError::Refused(format!(
                            "{name} has {rt} {} but no new {} address was given: add --to with the new server's {} address, or pass --drop-aaaa to delete the {rt} records",
                            b.values.join(", "),
                            if rt == "A" { "IPv4" } else { "IPv6" },
                            if rt == "A" { "IPv4" } else { "IPv6" },
                        )));
                    }
                    None
                } else {
                    Some(Rrset::new(name, rt, ttl, vals))
                };
                if before != after {
                    changes.push(Change { before, after });
                }
            }
        }
        Ok(ChangeSet {
            zone: plan.zone.clone(),
            purpose: "cutover to the new server".into(),
            changes,
        })
    }

    /// Original TTLs back (values as they are now), wildcard removed.
    pub async fn restore_changes(&self, plan: &Plan) -> Result<ChangeSet> {
        let mut names = plan.names.clone();
        if !plan.wildcard.is_empty() {
            names.push(plan.wildcard_name());
        }
        let current = self.read_current(plan, &names).await?;
        let mut changes = Vec::new();
        for cur in &current {
            if let Some(orig) = plan.original.iter().find(|o| o.same_key(cur)) {
                if cur.ttl != orig.ttl {
                    let mut after = cur.clone();
                    after.ttl = orig.ttl;
                    changes.push(Change {
                        before: Some(cur.clone()),
                        after: Some(after),
                    });
                }
            } else if plan.wildcard.iter().any(|w| w.same_key(cur)) {
                changes.push(Change {
                    before: Some(cur.clone()),
                    after: None,
                });
            } else if plan.cutover_at.is_some() && (cur.rtype == "A" || cur.rtype == "AAAA") {
                // Address records the cutover created (the name had none of
                // this family before) get the TTL of the family it had.
                let sibling = plan
                    .original
                    .iter()
                    .find(|o| o.name == cur.name && (o.rtype == "A" || o.rtype == "AAAA"));
                if let Some(s) = sibling
                    && s.ttl != cur.ttl
                {
                    let mut after = cur.clone();
                    after.ttl = s.ttl;
                    changes.push(Change {
                        before: Some(cur.clone()),
                        after: Some(after),
                    });
                }
            }
        }
        Ok(ChangeSet {
            zone: plan.zone.clone(),
            purpose: "restore the original TTLs".into(),
            changes,
        })
    }

    /// Safety limit, then apply, then poll the authoritative servers.
    pub async fn execute(&self, plan: &Plan, set: &ChangeSet, dry_run: bool) -> Result<Outcome> {
        let mut notes = Vec::new();
        if set.is_empty() {
            return Ok(Outcome {
                changes: set.clone(),
                applied: false,
                dry_run,
                verify: None,
                notes,
            });
        }
        if !self.provider.is_manual() {
            let size = self.provider.list(&plan.zone).await?.map(|v| v.len());
            if let Some(n) = check_safety(set, size, self.max_share, self.force)? {
                notes.push(n);
            }
        }
        if dry_run {
            return Ok(Outcome {
                changes: set.clone(),
                applied: false,
                dry_run,
                verify: None,
                notes,
            });
        }
        match self.provider.apply(set).await {
            Ok(()) => {}
            Err(DnsError::BelowMinimumTtl {
                provider,
                requested,
                minimum,
                consequence,
            }) => {
                return Err(DnsError::BelowMinimumTtl {
                    consequence: format!(
                        "{consequence}. {}",
                        min_ttl_consequence(requested, minimum, plan.max_old_ttl)
                    ),
                    provider,
                    requested,
                    minimum,
                });
            }
            Err(e) => return Err(e),
        }
        let verify = if self.verify && plan.source == Source::Dns {
            Some(
                verify::wait(
                    &plan.authorities,
                    &plan.zone,
                    &set.expected(),
                    &set.removed(),
                    self.verify_timeout,
                    self.query_timeout,
                )
                .await?,
            )
        } else {
            notes.push(
                "not verified on the authoritative servers (--no-verify or --source provider)"
                    .into(),
            );
            None
        };
        Ok(Outcome {
            changes: set.clone(),
            applied: true,
            dry_run,
            verify,
            notes,
        })
    }

    pub async fn lower(&self, plan: &mut Plan, dry_run: bool) -> Result<Outcome> {
        let set = self.lower_changes(plan).await?;
        let out = self.execute(plan, &set, dry_run).await?;
        if !dry_run {
            let t = out
                .verify
                .as_ref()
                .and_then(|v| v.done_at)
                .unwrap_or_else(now_unix);
            if plan.lowered_at.is_none() || out.applied {
                plan.lowered_at = Some(t);
                plan.earliest_cutover = Some(t + u64::from(plan.max_old_ttl));
            }
        }
        Ok(out)
    }

    pub async fn wildcard(&self, plan: &mut Plan, dry_run: bool) -> Result<Outcome> {
        let set = self.wildcard_changes(plan).await?;
        let out = self.execute(plan, &set, dry_run).await?;
        if out.applied {
            let t = out
                .verify
                .as_ref()
                .and_then(|v| v.done_at)
                .unwrap_or_else(now_unix);
            for c in &set.changes {
                if let Some(a) = &c.after
                    && !plan.wildcard.iter().any(|w| w.same_key(a))
                    && c.before.is_none()
                {
                    plan.wildcard.push(a.clone());
                }
            }
            plan.wildcard_usable_at = Some(t + u64::from(plan.negative_cache_ttl.unwrap_or(0)));
        }
        Ok(out)
    }

    /// `now`: cut over before the safe time (the operator accepts that some
    /// clients keep reaching the old server until their cache expires).
    pub async fn cutover(
        &self,
        plan: &mut Plan,
        dry_run: bool,
        now: bool,
        drop_aaaa: bool,
    ) -> Result<Outcome> {
        let set = self.cutover_changes(plan, drop_aaaa).await?;
        if !now && !dry_run && !set.is_empty() {
            match plan.earliest_cutover {
                None => {
                    return Err(DnsError::Refused(format!(
                        "the TTLs were not lowered yet (old TTL up to {}s): run `migrate dns lower` and wait, or pass --now to cut over anyway",
                        plan.max_old_ttl
                    )));
                }
                Some(t) if now_unix() < t => {
                    return Err(DnsError::Refused(format!(
                        "not safe yet: resolvers may hold the old TTL until {} ({}s from now); pass --now to cut over anyway",
                        plan::fmt_time(t),
                        t - now_unix()
                    )));
                }
                Some(_) => {}
            }
        }
        let out = self.execute(plan, &set, dry_run).await?;
        if out.applied {
            plan.cutover_at = Some(
                out.verify
                    .as_ref()
                    .and_then(|v| v.done_at)
                    .unwrap_or_else(now_unix),
            );
        }
        Ok(out)
    }

    pub async fn restore(&self, plan: &mut Plan, dry_run: bool) -> Result<Outcome> {
        let set = self.restore_changes(plan).await?;
        let out = self.execute(plan, &set, dry_run).await?;
        if !dry_run {
            plan.restored_at = Some(now_unix());
            if out.applied {
                plan.wildcard.clear();
            }
        }
        Ok(out)
    }

    /// Every authoritative server serves what the plan's current state says
    /// (as the update source serves it) with one serial.
    pub async fn verify_now(&self, plan: &Plan) -> Result<VerifyReport> {
        let mut names = plan.names.clone();
        if !plan.wildcard.is_empty() {
            names.push(plan.wildcard_name());
        }
        let expected = self.read_current(plan, &names).await?;
        verify::wait(
            &plan.authorities,
            &plan.zone,
            &expected,
            &[],
            self.verify_timeout,
            self.query_timeout,
        )
        .await
    }
}

fn is_moved(rtype: &str) -> bool {
    MOVED_TYPES.iter().any(|t| t.to_string() == rtype)
}

/// Every moved-type RRset at `names` as `server` serves it.
pub async fn read_names(
    server: SocketAddr,
    names: &[String],
    timeout: Duration,
) -> Result<Vec<Rrset>> {
    let mut out = Vec::new();
    for name in names {
        for rt in MOVED_TYPES {
            let a = query::query(server, name, rt, false, timeout).await?;
            if rt != RecordType::CNAME
                && out
                    .iter()
                    .any(|r: &Rrset| &r.name == name && r.rtype == "CNAME")
            {
                continue;
            }
            out.extend(a.rrsets(name, rt));
        }
    }
    Ok(out)
}

/// Convenience for callers that only want the authoritative servers.
pub async fn authorities_of(
    servers: &Servers,
    zone: &str,
    timeout: Duration,
) -> Result<Vec<Authority>> {
    discover::authorities(servers, zone, timeout).await
}

/// One DNS step of a migration plan, for the `migrate app` runbook and
/// journal: each has a phase, a sentence, and runs through [`Dns::run_step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Lower the TTLs well before the window.
    Lower,
    /// Publish *.DOMAIN -> new server for testing.
    Wildcard,
    /// Point A/AAAA at the new server; `now` skips the safe-time check.
    Cutover { now: bool },
    /// Put the original TTLs back, remove the wildcard.
    Restore,
    /// Every authoritative server serves the same data.
    Verify,
}

impl Step {
    /// The migration phase the step belongs to (check, prepare, sync, cutover, finish).
    pub fn phase(&self) -> &'static str {
        match self {
            Step::Lower | Step::Wildcard => "prepare",
            Step::Cutover { .. } => "cutover",
            Step::Restore => "finish",
            Step::Verify => "check",
        }
    }

    /// The human sentence for a runbook.
    pub fn describe(&self, plan: &Plan) -> String {
        let to = plan
            .to
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        match self {
            Step::Lower => format!(
                "Lower the TTLs of {} to {}s (from up to {}s); cutover is safe {}s after every authoritative server serves them",
                plan.names.join(", "),
                plan.lowered_ttl,
                plan.max_old_ttl,
                plan.max_old_ttl
            ),
            Step::Wildcard => format!(
                "Publish {} -> {to} for testing; names asked before it existed resolve after {}s (negative caching)",
                plan.wildcard_name(),
                plan.negative_cache_ttl.unwrap_or(0)
            ),
            Step::Cutover { .. } => format!(
                "Point {} at {to} in one change and wait until every authoritative server serves it",
                plan.names.join(", ")
            ),
            Step::Restore => format!(
                "Put the original TTLs back on {} and remove the test wildcard",
                plan.names.join(", ")
            ),
            Step::Verify => format!(
                "Check that every authoritative server of {} serves the same data and serial",
                plan.zone
            ),
        }
    }
}

impl Dns {
    /// Runs one step against the plan (the caller stores the plan after).
    pub async fn run_step(&self, step: Step, plan: &mut Plan, dry_run: bool) -> Result<Outcome> {
        match step {
            Step::Lower => self.lower(plan, dry_run).await,
            Step::Wildcard => self.wildcard(plan, dry_run).await,
            Step::Cutover { now } => self.cutover(plan, dry_run, now, false).await,
            Step::Restore => self.restore(plan, dry_run).await,
            Step::Verify => {
                let report = self.verify_now(plan).await?;
                Ok(Outcome {
                    changes: ChangeSet {
                        zone: plan.zone.clone(),
                        purpose: "verify".into(),
                        changes: vec![],
                    },
                    applied: false,
                    dry_run,
                    verify: Some(report),
                    notes: vec![],
                })
            }
        }
    }
}
