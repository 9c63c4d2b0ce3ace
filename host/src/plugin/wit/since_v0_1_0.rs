//! Contract `migrate:recipe@0.1.0`, frozen (wit/v0.1): its bindings, its
//! imports answered from the host's model, and its answers converted to the
//! newest contract's types. A 0.1 plugin's `setting()` questions are
//! answered from the migration's context (see `settings_of`).

use super::super::engine::State;
use super::latest;

wasmtime::component::bindgen!({
    path: "../wit/v0.1",
    world: "recipe-plugin",
});

use exports::migrate::recipe::{app, examples, layout, upgrade, versions};
use migrate::recipe::{log, planning, types};

impl types::Host for State {}

impl log::Host for State {
    fn log(&mut self, level: log::Level, message: String) {
        self.log(level.into(), &message);
    }
}

impl planning::Host for State {
    fn read_file(&mut self, side: types::Side, path: String) -> Result<String, String> {
        self.read_file(side.into(), &path)
    }
    fn http_get(
        &mut self,
        side: types::Side,
        path: String,
    ) -> Result<planning::HttpResponse, String> {
        self.http_get(side.into(), &path)
            .map(|(status, body)| planning::HttpResponse { status, body })
    }
    fn docker_inspect(&mut self, side: types::Side, name: String) -> Result<String, String> {
        self.docker_inspect(side.into(), &name)
    }
    fn setting(&mut self, key: String) -> Option<String> {
        let answer = self
            .context
            .as_ref()
            .and_then(|ctx| settings_of(ctx).into_iter().find(|(k, _)| *k == key))
            .map(|(_, v)| v);
        tracing::debug!(plugin = %self.plugin, %key, known = answer.is_some(), "0.1 setting");
        answer
    }
}

/// The settings a 0.1 plugin may ask for, as the context says them: the
/// keys the host answered before the context existed (`domain`,
/// `{source,destination}-app-dir`, `{source,destination}-layout`,
/// `target-version`), and the ones it never could (`old-domain`, `stack`,
/// which the 0.1 SDK's Co-op Cloud label probe asks for).
pub fn settings_of(ctx: &nt::Context) -> Vec<(&'static str, String)> {
    let mut s = vec![("domain", ctx.domain.clone())];
    if let Some(old) = &ctx.old_domain {
        s.push(("old-domain", old.clone()));
    }
    for (side, [dir, layout, stack]) in [
        (
            &ctx.source,
            ["source-app-dir", "source-layout", "source-stack"],
        ),
        (
            &ctx.destination,
            [
                "destination-app-dir",
                "destination-layout",
                "destination-stack",
            ],
        ),
    ] {
        s.push((dir, side.app_dir.clone()));
        s.push((layout, super::layout_name(side.layout).to_string()));
        if let Some(name) = &side.stack {
            s.push((stack, name.clone()));
        }
    }
    // The label probe reads the source's stack.
    if let Some(name) = &ctx.source.stack {
        s.push(("stack", name.clone()));
    }
    if let Some(t) = &ctx.target_version {
        s.push(("target-version", t.clone()));
    }
    s
}

// The two contracts' records are the same shapes in different packages;
// these carry values across, field by field.

use latest::exports::migrate::recipe as new;
use latest::migrate::recipe::types as nt;

impl From<log::Level> for latest::migrate::recipe::log::Level {
    fn from(l: log::Level) -> Self {
        use latest::migrate::recipe::log::Level as L;
        match l {
            log::Level::Trace => L::Trace,
            log::Level::Debug => L::Debug,
            log::Level::Info => L::Info,
            log::Level::Warn => L::Warn,
            log::Level::Error => L::Error,
        }
    }
}

impl From<types::Side> for nt::Side {
    fn from(s: types::Side) -> Self {
        match s {
            types::Side::Source => nt::Side::Source,
            types::Side::Destination => nt::Side::Destination,
        }
    }
}

impl From<types::Phase> for nt::Phase {
    fn from(p: types::Phase) -> Self {
        match p {
            types::Phase::Check => nt::Phase::Check,
            types::Phase::Prepare => nt::Phase::Prepare,
            types::Phase::Sync => nt::Phase::Sync,
            types::Phase::Cutover => nt::Phase::Cutover,
            types::Phase::Finish => nt::Phase::Finish,
        }
    }
}

impl From<types::Risk> for nt::Risk {
    fn from(r: types::Risk) -> Self {
        match r {
            types::Risk::ReadOnly => nt::Risk::ReadOnly,
            types::Risk::Reversible => nt::Risk::Reversible,
            types::Risk::Destructive => nt::Risk::Destructive,
        }
    }
}

impl From<types::Command> for nt::Command {
    fn from(c: types::Command) -> Self {
        nt::Command {
            side: c.side.into(),
            service: c.service,
            argv: c.argv,
            env: c.env,
            user: c.user,
            workdir: c.workdir,
        }
    }
}

impl From<types::Action> for nt::Action {
    fn from(a: types::Action) -> Self {
        match a {
            types::Action::Exec(c) => nt::Action::Exec(c.into()),
            types::Action::Carry(c) => nt::Action::Carry(nt::CarrySetting {
                file: c.file,
                key: c.key,
                reason: c.reason,
                secret: c.secret,
            }),
            types::Action::Http(h) => nt::Action::Http(nt::HttpCheck {
                path: h.path,
                expect_status: h.expect_status,
                body_contains: h.body_contains,
                json_field: h.json_field,
                headers: h.headers,
            }),
            types::Action::Tcp(t) => nt::Action::Tcp(nt::TcpCheck {
                port: t.port,
                banner_prefix: t.banner_prefix,
                tls: t.tls,
            }),
            types::Action::Manual(text) => nt::Action::Manual(text),
        }
    }
}

impl From<types::Step> for nt::Step {
    fn from(s: types::Step) -> Self {
        nt::Step {
            id: s.id,
            phase: s.phase.into(),
            title: s.title,
            risk: s.risk.into(),
            action: s.action.into(),
        }
    }
}

impl From<types::SmokeCheck> for nt::SmokeCheck {
    fn from(c: types::SmokeCheck) -> Self {
        nt::SmokeCheck {
            id: c.id,
            title: c.title,
            side: c.side.into(),
            action: c.action.into(),
        }
    }
}

impl From<types::RefusalKind> for nt::RefusalKind {
    fn from(k: types::RefusalKind) -> Self {
        use types::RefusalKind as K;
        match k {
            K::Downgrade => nt::RefusalKind::Downgrade,
            K::MalformedVersion => nt::RefusalKind::MalformedVersion,
            K::UnknownVersion => nt::RefusalKind::UnknownVersion,
            K::NoPath => nt::RefusalKind::NoPath,
            K::ZeroDowntimeUnsupported => nt::RefusalKind::ZeroDowntimeUnsupported,
            K::PreconditionFailed => nt::RefusalKind::PreconditionFailed,
            K::Unsupported => nt::RefusalKind::Unsupported,
        }
    }
}

impl From<types::Refusal> for nt::Refusal {
    fn from(r: types::Refusal) -> Self {
        nt::Refusal {
            kind: r.kind.into(),
            message: r.message,
            suggestions: r.suggestions,
        }
    }
}

impl From<app::AppInfo> for new::app::AppInfo {
    fn from(i: app::AppInfo) -> Self {
        new::app::AppInfo {
            id: i.id,
            display_name: i.display_name,
            plugin_version: i.plugin_version,
            homepage: i.homepage,
            supports: i.supports,
        }
    }
}

impl From<versions::Probe> for new::versions::Probe {
    fn from(p: versions::Probe) -> Self {
        use new::versions::ProbeKind as K;
        new::versions::Probe {
            id: p.id,
            side: p.side.into(),
            kind: match p.kind {
                versions::ProbeKind::HttpJson(x) => K::HttpJson(x),
                versions::ProbeKind::FilePattern(x) => K::FilePattern(x),
                versions::ProbeKind::ImageTag(x) => K::ImageTag(x),
                versions::ProbeKind::DockerLabel(x) => K::DockerLabel(x),
            },
        }
    }
}

impl From<versions::Version> for new::versions::Version {
    fn from(v: versions::Version) -> Self {
        new::versions::Version {
            raw: v.raw,
            canonical: v.canonical,
            display: v.display,
            series: v.series,
            prerelease: v.prerelease,
        }
    }
}

impl From<&new::upgrade::UpgradeRequest> for upgrade::UpgradeRequest {
    fn from(r: &new::upgrade::UpgradeRequest) -> Self {
        upgrade::UpgradeRequest {
            from: r.from.clone(),
            to: r.to.clone(),
            zero_downtime: r.zero_downtime,
            facts: r.facts.clone(),
        }
    }
}

impl From<upgrade::UpgradePlan> for new::upgrade::UpgradePlan {
    fn from(p: upgrade::UpgradePlan) -> Self {
        new::upgrade::UpgradePlan {
            hops: p
                .hops
                .into_iter()
                .map(|h| new::upgrade::Hop {
                    from: h.from,
                    to: h.to,
                    steps: h.steps.into_iter().map(Into::into).collect(),
                    notes: h.notes,
                })
                .collect(),
            preconditions: p
                .preconditions
                .into_iter()
                .map(|c| new::upgrade::Precondition {
                    what: c.what,
                    requirement: c.requirement,
                    met: c.met,
                    reason: c.reason,
                })
                .collect(),
            caveats: p.caveats,
        }
    }
}

impl From<layout::DataItem> for new::layout::DataItem {
    fn from(d: layout::DataItem) -> Self {
        use new::layout::{DataKind as K, DbEngine as E};
        new::layout::DataItem {
            id: d.id,
            kind: match d.kind {
                layout::DataKind::Directory => K::Directory,
                layout::DataKind::Volume => K::Volume,
                layout::DataKind::Database => K::Database,
                layout::DataKind::ConfigFile => K::ConfigFile,
                layout::DataKind::Secret => K::Secret,
            },
            location: d.location,
            engine: match d.engine {
                layout::DbEngine::Postgresql => E::Postgresql,
                layout::DbEngine::Mariadb => E::Mariadb,
                layout::DbEngine::Sqlite => E::Sqlite,
                layout::DbEngine::Redis => E::Redis,
                layout::DbEngine::None => E::None,
            },
            service: d.service,
            description: d.description,
            cache: d.cache,
        }
    }
}

impl From<examples::Example> for new::examples::Example {
    fn from(e: examples::Example) -> Self {
        new::examples::Example {
            from: e.from,
            to: e.to,
            zero_downtime: e.zero_downtime,
            expect: match e.expect {
                examples::Expectation::Hops(h) => new::examples::Expectation::Hops(h),
                examples::Expectation::Refused(k) => new::examples::Expectation::Refused(k.into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_answer_what_the_context_knows_and_nothing_else() {
        let side = |layout, stack: Option<&str>, dir: &str| nt::SideContext {
            layout,
            stack: stack.map(str::to_string),
            app_dir: dir.into(),
        };
        let ctx = nt::Context {
            domain: "new.example.net".into(),
            old_domain: None,
            source: side(nt::LayoutKind::Stack, Some("old_stack"), "/var/www/html"),
            destination: side(nt::LayoutKind::Directory, None, "/srv/nc"),
            target_version: None,
        };
        let s = settings_of(&ctx);
        let get = |k: &str| s.iter().find(|(key, _)| *key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("domain"), Some("new.example.net"));
        assert_eq!(get("stack"), Some("old_stack"));
        assert_eq!(get("source-layout"), Some("stack"));
        assert_eq!(get("destination-layout"), Some("directory"));
        assert_eq!(get("destination-app-dir"), Some("/srv/nc"));
        // Unknown is unanswered, not an empty string.
        assert_eq!(get("old-domain"), None);
        assert_eq!(get("target-version"), None);
        assert_eq!(get("destination-stack"), None);
    }
}
