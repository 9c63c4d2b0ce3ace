//! migrate-db: one database mover for PostgreSQL and MariaDB.
//!
//! * [`engine`]: which server (every spelling the tool accepts).
//! * [`sql`]: the one escaping helper per engine, and database names checked once.
//! * [`place`]: where a server runs on its host (host, container, compose or
//!   stack service) and how a client program is run there.
//! * [`client`]: the client commands (one statement, load, dump, backup,
//!   readiness) for an engine at a place, as shell text.
//! * [`counts`]: exact per-table row counts and their comparison.
//! * [`roles`]: the roles, owners, accounts and grants a database needs.
//! * [`runner`]: the capabilities a move needs (run a script on a side,
//!   pipe one side's output into the other's input), injected by the caller.
//! * [`transfer`]: the dump → load orchestration both callers use.
//!
//! Nothing here connects by itself: shell text is rendered here and run by
//! whatever [`runner::Runner`] the caller passes (ssh, or this machine).

pub mod client;
pub mod counts;
pub mod engine;
pub mod error;
pub mod place;
pub mod roles;
pub mod runner;
pub mod sql;
pub mod statements;
pub mod transfer;

pub use client::Client;
pub use engine::Engine;
pub use error::DbError;
pub use place::Place;
pub use sql::DbName;
