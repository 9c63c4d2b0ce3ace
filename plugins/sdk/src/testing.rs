//! Native test helpers: the [`Context`] a migration would pass, built in a
//! line, and files the planning import `host::read_file` answers with.
//!
//! ```
//! use migrate_plugin_sdk::prelude::*;
//! use migrate_plugin_sdk::testing;
//!
//! let ctx = testing::context("forum.example.net")
//!     .old_domain("talk.example.org")
//!     .source_stack("talk_example_org", "/shared")
//!     .build();
//! assert_eq!(ctx.domain_change(), Some(("talk.example.org", "forum.example.net")));
//! assert_eq!(ctx.source.stack_name(), Some("talk_example_org"));
//! ```

#[cfg(not(target_arch = "wasm32"))]
use crate::Side;
use crate::{Context, LayoutKind, SideContext};

/// A context for `domain`: both sides plain directories at `/srv/app`, no
/// domain change, no target version. Change what the rule under test reads.
pub fn context(domain: &str) -> ContextBuilder {
    let side = SideContext {
        layout: LayoutKind::Directory,
        stack: None,
        app_dir: "/srv/app".to_string(),
    };
    ContextBuilder(Context {
        domain: domain.to_string(),
        old_domain: None,
        source: side.clone(),
        destination: side,
        target_version: None,
    })
}

#[must_use]
pub struct ContextBuilder(Context);

impl ContextBuilder {
    /// The app moves from this domain to the context's domain.
    pub fn old_domain(mut self, old: &str) -> Self {
        self.0.old_domain = Some(old.to_string());
        self
    }

    pub fn target_version(mut self, version: &str) -> Self {
        self.0.target_version = Some(version.to_string());
        self
    }

    /// The source's layout and app directory (for a stack, see
    /// [`source_stack`](Self::source_stack)).
    pub fn source(mut self, layout: LayoutKind, app_dir: &str) -> Self {
        self.0.source = side(layout, None, app_dir);
        self
    }

    pub fn destination(mut self, layout: LayoutKind, app_dir: &str) -> Self {
        self.0.destination = side(layout, None, app_dir);
        self
    }

    /// The source is the Co-op Cloud stack `name`; `app_dir` is the app's
    /// directory inside its container.
    pub fn source_stack(mut self, name: &str, app_dir: &str) -> Self {
        self.0.source = side(LayoutKind::Stack, Some(name), app_dir);
        self
    }

    pub fn destination_stack(mut self, name: &str, app_dir: &str) -> Self {
        self.0.destination = side(LayoutKind::Stack, Some(name), app_dir);
        self
    }

    pub fn build(self) -> Context {
        self.0
    }
}

fn side(layout: LayoutKind, stack: Option<&str>, app_dir: &str) -> SideContext {
    SideContext {
        layout,
        stack: stack.map(str::to_string),
        app_dir: app_dir.to_string(),
    }
}

/// Run `f` with `host::read_file` answering these files (side, path as the
/// app sees it, content); any other path is an error, as on a server that
/// lacks it. Native only: inside the host the real servers answer.
#[cfg(not(target_arch = "wasm32"))]
pub fn with_files<T>(files: &[(Side, &str, &str)], f: impl FnOnce() -> T) -> T {
    let map = files
        .iter()
        .map(|(s, p, c)| ((side_key(*s), p.to_string()), c.to_string()))
        .collect();
    let previous = FILES.with(|m| m.replace(map));
    let out = f();
    FILES.with(|m| m.replace(previous));
    out
}

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static FILES: std::cell::RefCell<std::collections::BTreeMap<(u8, String), String>> =
        const { std::cell::RefCell::new(std::collections::BTreeMap::new()) };
}

#[cfg(not(target_arch = "wasm32"))]
fn side_key(s: Side) -> u8 {
    match s {
        Side::Source => 0,
        Side::Destination => 1,
    }
}

/// What [`with_files`] put there, for `host::read_file` natively.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn fake_file(side: Side, path: &str) -> Option<String> {
    FILES.with(|m| m.borrow().get(&(side_key(side), path.to_string())).cloned())
}
