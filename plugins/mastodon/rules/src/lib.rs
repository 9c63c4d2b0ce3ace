//! Mastodon's rules from the project's app notes (facts §1): release
//! lines, version parsing, dependency minimums, upgrade hops, data layout
//! and checks. Used by the `mastodon` plugin and, for the base, by the
//! `hometown` plugin.

pub mod deps;
pub mod ops;
pub mod path;
pub mod probe;
pub mod release;
pub mod version;
