//! migrate-remote: where commands run. A host is an address (`ssh://user@host:port`,
//! `user@host`, an ssh_config alias, or `local`); commands run over one multiplexed
//! system-ssh master per host, so the operator's ~/.ssh/config, agent and known_hosts
//! apply unchanged. `trust` sets up (and tears down) a temporary key so one server can
//! stream straight to another; `pipe` is the one server-to-server stream built on it,
//! recorded in `registry` for `migrate cleanup`. Shell text is built from `script`'s
//! types, which quote on construction; an ssh command line is an `ssh::SshCommand`.

pub mod addr;
pub mod error;
pub mod host;
pub mod jobdir;
pub mod pipe;
pub mod quote;
pub mod registry;
pub mod script;
pub mod ssh;
pub mod trust;

pub use addr::{HostSpec, Location, parse_location};
pub use error::RemoteError;
pub use host::Host;
pub use jobdir::JobId;
pub use pipe::{OnBytes, Pipe, PipeError, Route, Transfer};
pub use quote::sh_quote;
pub use script::{Script, ShellWord, WordError};
pub use ssh::{SshCommand, SshOpt};
