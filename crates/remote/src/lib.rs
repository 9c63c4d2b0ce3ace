//! migrate-remote: where commands run. A host is an address (`ssh://user@host:port`,
//! `user@host`, an ssh_config alias, or `local`); commands run over one multiplexed
//! system-ssh master per host, so the operator's ~/.ssh/config, agent and known_hosts
//! apply unchanged. `trust` sets up (and tears down) a temporary key so one server can
//! stream straight to another.

pub mod addr;
pub mod error;
pub mod host;
pub mod quote;
pub mod trust;

pub use addr::{HostSpec, Location, parse_location};
pub use error::RemoteError;
pub use host::Host;
pub use quote::sh_quote;
