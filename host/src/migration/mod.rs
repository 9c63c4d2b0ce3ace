//! A whole app migration: a definition (flags or a TOML file), a plan built
//! from the recipe, the plugin and probed facts, then a journal of each
//! step, resumable, with before/after test plans and a final report.

pub mod abort;
pub mod around;
pub mod assemble;
pub mod bridge;
pub mod builder;
pub mod checks;
pub mod commands;
pub mod config;
pub mod context;
pub mod definition;
pub mod discover;
pub mod discover_launcher;
pub mod discover_mastodon;
pub mod dns;
pub mod journal;
pub mod launcher;
pub mod launcher_steps;
pub mod layout;
pub mod mailu;
pub mod plan;
pub mod planning;
pub mod pre_sync;
pub mod probe;
pub mod report;
pub mod run;
pub mod secrets;
pub mod sides;
pub mod steps;
