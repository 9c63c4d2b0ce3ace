//! A whole app migration: a definition (flags or a TOML file), a plan built
//! from the recipe, the plugin and probed facts, then a journal of each
//! step, resumable, with before/after test plans and a final report.

pub mod abort;
pub mod builder;
pub mod checks;
pub mod commands;
pub mod context;
pub mod dbmove;
pub mod dbpipe;
pub mod definition;
pub mod dns;
pub mod journal;
pub mod layout;
pub mod plan;
pub mod planning;
pub mod report;
pub mod run;
pub mod secrets;
pub mod sides;
