//! migrate-copy: server-to-server tree copies. Manifests made by `find` on
//! each server drive every pass; GNU tar streams carry the data, several in
//! parallel; the job runs detached on the source server and resumes from
//! what fully arrived.

pub mod dry_run;
pub mod error;
pub mod exclude;
pub mod job;
pub mod link;
pub mod manifest;
pub mod plan;
pub mod remote_cmds;
pub mod report;
pub mod script;
pub mod sent;
pub mod status;
pub mod verify;

pub use error::CopyError;
pub use job::{CopyOptions, Outcome, Progress, Summary, run};
/// The job list moved to `migrate_remote::registry` (pipes use it too).
pub use migrate_remote::registry;
