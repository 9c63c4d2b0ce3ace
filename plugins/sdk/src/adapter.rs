//! Binds a [`Plugin`] to the contract's exported interfaces and adds what
//! every plugin gets for free: Co-op Cloud recipe versions.

use std::cmp::Ordering;
use std::marker::PhantomData;

use crate::bindings::exports::migrate::recipe::{app, examples, layout, steps, upgrade, versions};
use crate::coopcloud::RecipeVersion;
use crate::{
    AppInfo, Context, DataItem, Example, Plugin, Probe, Refusal, RefusalKind, SmokeCheck, Step,
    UpgradePlan, UpgradeRequest, Version,
};

/// The type `register_plugin!` exports; never used directly.
pub struct Adapter<P>(PhantomData<P>);

/// If `raw` is not a version the plugin accepts as is, but a Co-op Cloud
/// recipe version whose upstream part it accepts, return that split.
fn recipe_of<P: Plugin>(raw: &str) -> Option<RecipeVersion> {
    if P::parse(raw).is_ok() {
        return None;
    }
    let rv = RecipeVersion::split(raw)?;
    P::parse(&rv.upstream).ok().map(|_| rv)
}

fn parse_any<P: Plugin>(raw: &str) -> Result<Version, Refusal> {
    match P::parse(raw) {
        Ok(v) => Ok(v),
        Err(own) => {
            let Some(rv) = RecipeVersion::split(raw) else {
                return Err(own);
            };
            match P::parse(&rv.upstream) {
                Ok(mut v) => {
                    v.display = format!("Co-op Cloud recipe {} ({})", rv.recipe_part(), v.display);
                    v.raw = raw.to_string();
                    Ok(v)
                }
                // A recipe version whose app part is well formed but no
                // known release: say that (with the plugin's suggestions),
                // not that the whole string is malformed.
                Err(up)
                    if own.kind == RefusalKind::MalformedVersion
                        && up.kind != RefusalKind::MalformedVersion =>
                {
                    Err(Refusal {
                        message: format!("in Co-op Cloud recipe version {raw:?}: {}", up.message),
                        ..up
                    })
                }
                Err(_) => Err(own),
            }
        }
    }
}

fn upgrade_with_recipes<P: Plugin>(req: &UpgradeRequest) -> Result<UpgradePlan, Refusal> {
    let from_recipe = recipe_of::<P>(&req.from);
    let to_recipe = recipe_of::<P>(&req.to);
    if from_recipe.is_none() && to_recipe.is_none() {
        return P::upgrade_path(req);
    }
    if let (Some(f), Some(t)) = (&from_recipe, &to_recipe)
        && t.cmp_recipe(f) == Ordering::Less
    {
        return Err(crate::refuse(
            RefusalKind::Downgrade,
            format!(
                "recipe version {} is older than the deployed {}: Co-op Cloud recipes only move forward",
                t.raw, f.raw
            ),
        ));
    }
    let upstream_req = UpgradeRequest {
        from: from_recipe
            .as_ref()
            .map_or(req.from.clone(), |r| r.upstream.clone()),
        to: to_recipe
            .as_ref()
            .map_or(req.to.clone(), |r| r.upstream.clone()),
        zero_downtime: req.zero_downtime,
        facts: req.facts.clone(),
    };
    let mut path = P::upgrade_path(&upstream_req)?;
    let describe = |r: &Option<RecipeVersion>, raw: &str| match r {
        Some(r) => format!("recipe {} (app {})", r.recipe_part(), r.upstream),
        None => raw.to_string(),
    };
    path.caveats.insert(
        0,
        format!(
            "Co-op Cloud: {} -> {}. The hops are the app's own; deploy each with the recipe \
             version that carries it (`abra app upgrade`), and read the recipe's release notes too.",
            describe(&from_recipe, &req.from),
            describe(&to_recipe, &req.to)
        ),
    );
    if matches!((&from_recipe, &to_recipe), (Some(f), Some(t)) if matches!((&f.scheme, &t.scheme), (crate::coopcloud::Scheme::Legacy(_), crate::coopcloud::Scheme::Current(_))))
    {
        path.caveats.push(
            "The source uses the legacy recipe scheme (`_N`/`~N`); it is ordered before every \
             `X.Y.Z+UPSTREAM` version, which is how the schemes followed each other, not a \
             comparison the recipe guarantees."
                .to_string(),
        );
    }
    Ok(path)
}

impl<P: Plugin> app::Guest for Adapter<P> {
    fn info() -> AppInfo {
        P::info()
    }
}

impl<P: Plugin> versions::Guest for Adapter<P> {
    fn probes(ctx: Context) -> Vec<Probe> {
        P::probes(&ctx)
    }
    fn parse_probe(probe_id: String, raw: String) -> Result<String, Refusal> {
        P::parse_probe(&probe_id, &raw)
    }
    fn parse(raw: String) -> Result<Version, Refusal> {
        parse_any::<P>(&raw)
    }
    fn known() -> Vec<String> {
        P::known()
    }
}

impl<P: Plugin> upgrade::Guest for Adapter<P> {
    fn upgrade_path(req: UpgradeRequest) -> Result<UpgradePlan, Refusal> {
        upgrade_with_recipes::<P>(&req)
    }
}

impl<P: Plugin> layout::Guest for Adapter<P> {
    fn data_layout() -> Vec<DataItem> {
        P::data_layout()
    }
}

impl<P: Plugin> steps::Guest for Adapter<P> {
    fn pre_copy(ctx: Context) -> Vec<Step> {
        P::pre_copy(&ctx)
    }
    fn post_copy(ctx: Context) -> Vec<Step> {
        P::post_copy(&ctx)
    }
    fn cache_clears(ctx: Context) -> Vec<Step> {
        P::cache_clears(&ctx)
    }
    fn smoke_checks(ctx: Context) -> Vec<SmokeCheck> {
        P::smoke_checks(&ctx)
    }
    fn manual_follow_ups() -> Vec<String> {
        P::manual_follow_ups()
    }
}

impl<P: Plugin> examples::Guest for Adapter<P> {
    fn examples() -> Vec<Example> {
        P::examples()
    }
}

/// Run the SDK's recipe-version handling natively, for plugin unit tests.
pub fn upgrade_path_native<P: Plugin>(req: &UpgradeRequest) -> Result<UpgradePlan, Refusal> {
    upgrade_with_recipes::<P>(req)
}

/// Parse like the host sees it (recipe versions included), for unit tests.
pub fn parse_native<P: Plugin>(raw: &str) -> Result<Version, Refusal> {
    parse_any::<P>(raw)
}

/// Run every declared example natively, the way the host would, and
/// describe each one that does not hold (empty when all hold). Plugin unit
/// tests assert on this; `migrate plugin test` does the same through the
/// real component.
pub fn example_failures<P: Plugin>() -> Vec<String> {
    let mut failures = Vec::new();
    for ex in P::examples() {
        let req = UpgradeRequest {
            from: ex.from.clone(),
            to: ex.to.clone(),
            zero_downtime: ex.zero_downtime,
            facts: Vec::new(),
        };
        let got = upgrade_with_recipes::<P>(&req);
        let ok = match (&ex.expect, &got) {
            (crate::Expectation::Hops(want), Ok(plan)) => {
                plan.hops.iter().map(|h| &h.to).eq(want.iter())
            }
            (crate::Expectation::Refused(want), Err(r)) => *want == r.kind,
            _ => false,
        };
        if !ok {
            let got = match got {
                Ok(plan) => format!(
                    "hops {:?}",
                    plan.hops.iter().map(|h| &h.to).collect::<Vec<_>>()
                ),
                Err(r) => format!("refused {:?}: {}", r.kind, r.message),
            };
            failures.push(format!(
                "{} -> {} (zero downtime: {}): expected {:?}, got {got}",
                ex.from, ex.to, ex.zero_downtime, ex.expect
            ));
        }
    }
    failures
}
