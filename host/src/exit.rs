//! Exit codes are part of the interface: scripts branch on them, so each
//! number means one thing across every subcommand.
//!
//! This file is also the one place that decides which code (and which
//! `--json` error kind) each error type ends the process with: every error
//! a command can end on implements [`Classify`] here, and the CLI turns any
//! of them into its reply with `?` (see `cli::reply`).

use migrate_copy::CopyError;
use migrate_dns::DnsError;
use migrate_docker::DockerError;
use migrate_mail::MailError;
use migrate_remote::RemoteError;

use crate::migration::abort::AbortError;
use crate::migration::builder::BuildError;
use crate::migration::definition::DefinitionError;
use crate::migration::journal::JournalError;
use crate::migration::run::RunError;
use crate::migration::sides::SideError;
use crate::plugin::PluginError;
use crate::plugin::scaffold::ScaffoldError;
use crate::recipe::RecipeError;

/// The command did what was asked.
pub const OK: u8 = 0;
/// Something failed at run time (a remote command, an I/O error).
pub const FAILURE: u8 = 1;
/// The input was wrong: unknown app, malformed version, bad recipe, bad flag.
pub const BAD_INPUT: u8 = 2;
/// The request was understood and refused for a reason the output names
/// (an impossible upgrade path, a safety limit, a missing precondition).
pub const REFUSED: u8 = 3;
/// A plugin is broken: it trapped, ran out of fuel or memory, or does not
/// implement the contract.
pub const PLUGIN_ERROR: u8 = 4;
/// A host could not be reached or authenticated.
pub const UNREACHABLE: u8 = 5;
/// A verification found differences (copy, DNS, mail).
pub const VERIFY_FAILED: u8 = 6;

// Mail errors keep imapsync's numbers (10 connection, 12 TLS, 16 auth, 113
// over quota, 114 APPEND; imapsync README, see facts/peers.md §4), so
// scripts written around imapsync keep working.
/// Mail: a server could not be reached or the connection dropped.
pub const MAIL_CONNECTION: u8 = 10;
/// Mail: TLS failed (certificate not trusted, pin mismatch, no STARTTLS).
pub const MAIL_TLS: u8 = 12;
/// Mail: the server refused the login (or the API its token).
pub const MAIL_AUTH: u8 = 16;
/// Mail: the destination is over quota.
pub const MAIL_QUOTA: u8 = 113;
/// Mail: the destination refused a message or a folder.
pub const MAIL_APPEND: u8 = 114;

/// The table printed by `migrate --help` and the README.
pub const TABLE: &str = "\
Exit codes:
  0  success (a path was found, a copy verified, ...)
  1  run-time failure
  2  bad input (unknown app, malformed version or recipe, bad flag)
  3  refused, with the reason printed (impossible upgrade, safety limit)
  4  a plugin is broken (trap, fuel or memory exhausted, wrong contract)
  5  a host is unreachable or refused authentication
  6  verification found differences
  10 mail: connection failed      12 mail: TLS failed
  16 mail: authentication failed  113 mail: over quota
  114 mail: a message or folder was refused";

/// What an error means to the caller of `migrate`: the exit code it ends
/// the process with, and a short stable name for scripts (`error.kind` in
/// the `--json` envelope, kebab-case). The message stays the error's
/// `Display`; the kind never changes with the wording.
pub trait Classify: std::error::Error {
    fn exit_code(&self) -> u8;
    fn kind(&self) -> &'static str;
    /// What to do about it, where the message itself does not say.
    fn hint(&self) -> Option<&'static str> {
        None
    }
}

impl Classify for RemoteError {
    fn exit_code(&self) -> u8 {
        match self {
            RemoteError::BadAddress { .. } | RemoteError::BadSetting { .. } => BAD_INPUT,
            e if e.is_unreachable() => UNREACHABLE,
            _ => FAILURE,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            RemoteError::BadAddress { .. } => "bad-address",
            RemoteError::Unreachable { .. } => "unreachable",
            RemoteError::AuthRefused { .. } => "auth-refused",
            RemoteError::UnknownHostKey { .. } => "unknown-host-key",
            RemoteError::Disconnected { .. } => "disconnected",
            RemoteError::Command { .. } => "remote-command",
            RemoteError::Trust { .. } => "trust",
            RemoteError::BadSetting { .. } => "bad-setting",
            _ => "remote",
        }
    }
}

impl Classify for CopyError {
    fn exit_code(&self) -> u8 {
        match self {
            CopyError::Remote(r) => r.exit_code(),
            CopyError::MissingPath { .. }
            | CopyError::BadInput(_)
            | CopyError::BadExclude { .. } => BAD_INPUT,
            CopyError::MissingTool { .. }
            | CopyError::DestinationNotEmpty { .. }
            | CopyError::NotEnoughSpace { .. }
            | CopyError::AlreadyRunning { .. } => REFUSED,
            _ => FAILURE,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            CopyError::Remote(r) => r.kind(),
            CopyError::MissingPath { .. } => "missing-path",
            CopyError::BadInput(_) | CopyError::BadExclude { .. } => "bad-input",
            CopyError::MissingTool { .. } => "missing-tool",
            CopyError::DestinationNotEmpty { .. } => "destination-not-empty",
            CopyError::NotEnoughSpace { .. } => "not-enough-space",
            CopyError::AlreadyRunning { .. } => "already-running",
            CopyError::DiskFull { .. } => "disk-full",
            CopyError::Interrupted { .. } => "interrupted",
            _ => "copy-failed",
        }
    }
}

impl Classify for DockerError {
    fn exit_code(&self) -> u8 {
        match self {
            DockerError::Remote(r) => r.exit_code(),
            DockerError::Copy(c) => c.exit_code(),
            DockerError::NotIdentical { .. } | DockerError::RowCounts(_) => VERIFY_FAILED,
            e if e.is_bad_input() => BAD_INPUT,
            e if e.is_refusal() => REFUSED,
            _ => FAILURE,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            DockerError::Remote(r) => r.kind(),
            DockerError::Copy(c) => c.kind(),
            DockerError::NotInstalled { .. } => "docker-not-installed",
            DockerError::NotRunning { .. } => "docker-not-running",
            DockerError::SocketPermission { .. } => "docker-socket-permission",
            DockerError::NoSuchVolume { .. } => "no-such-volume",
            DockerError::NoSuchContainer { .. } => "no-such-container",
            DockerError::NotRunningContainer { .. } => "container-not-running",
            DockerError::VolumeNotEmpty { .. } => "volume-not-empty",
            DockerError::DatabaseNotEmpty { .. } => "database-not-empty",
            DockerError::DumpFailed { .. } => "dump-failed",
            DockerError::RowCounts(_) => "row-counts-differ",
            DockerError::Timeout { .. } => "timeout",
            DockerError::NotIdentical { .. } => "differences",
            DockerError::BadInput(_) => "bad-input",
            DockerError::Refused(_) => "refused",
            _ => "docker-failed",
        }
    }
}

impl Classify for DnsError {
    fn exit_code(&self) -> u8 {
        match self.kind() {
            migrate_dns::ErrorKind::Failure => FAILURE,
            migrate_dns::ErrorKind::BadInput => BAD_INPUT,
            migrate_dns::ErrorKind::Refused => REFUSED,
            migrate_dns::ErrorKind::Unreachable => UNREACHABLE,
            migrate_dns::ErrorKind::VerifyFailed => VERIFY_FAILED,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            DnsError::Unreachable { .. } => "unreachable",
            DnsError::Query { .. } => "query",
            DnsError::UnknownZone { .. } => "unknown-zone",
            DnsError::TsigRejected { .. } => "tsig-rejected",
            DnsError::UpdateRefused { .. } => "update-refused",
            DnsError::BadKey(_) => "bad-key",
            DnsError::CnameWhereAddressExpected { .. } => "cname",
            DnsError::BelowMinimumTtl { .. } => "below-minimum-ttl",
            DnsError::SafetyLimit { .. } => "safety-limit",
            DnsError::Api { .. } => "api",
            DnsError::Refused(_) => "refused",
            DnsError::Invalid(_) => "bad-input",
            DnsError::NoPlan { .. } => "no-plan",
            DnsError::Io { .. } => "io",
            DnsError::Verify(_) => "differences",
        }
    }
}

/// Mail keeps imapsync's numbers (see the constants above).
impl Classify for MailError {
    fn exit_code(&self) -> u8 {
        mail_code(self.kind())
    }
    fn kind(&self) -> &'static str {
        use migrate_mail::ErrorKind as K;
        match self.kind() {
            K::Connection => "connection",
            K::Tls => "tls",
            K::Auth => "auth",
            K::Quota => "quota",
            K::Append => "append",
            K::Protocol => "protocol",
            K::Input => "input",
            K::Api => "api",
            K::Refused => "refused",
        }
    }
    fn hint(&self) -> Option<&'static str> {
        Some(MailError::hint(self))
    }
}

/// The exit code of a mail error's kind (a sync ends on its accounts'
/// worst, which is a kind, not an error at hand).
pub fn mail_code(kind: migrate_mail::ErrorKind) -> u8 {
    use migrate_mail::ErrorKind as K;
    match kind {
        K::Connection => MAIL_CONNECTION,
        K::Tls => MAIL_TLS,
        K::Auth => MAIL_AUTH,
        K::Quota => MAIL_QUOTA,
        K::Append => MAIL_APPEND,
        K::Input => BAD_INPUT,
        K::Refused => REFUSED,
        K::Protocol | K::Api => FAILURE,
    }
}

impl Classify for PluginError {
    fn exit_code(&self) -> u8 {
        match self {
            PluginError::Unknown { .. } | PluginError::Dir { .. } => BAD_INPUT,
            PluginError::Override { .. } => REFUSED,
            _ => PLUGIN_ERROR,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            PluginError::Unknown { .. } => "unknown-plugin",
            PluginError::Dir { .. } => "plugin-dir",
            PluginError::Override { .. } => "plugin-override",
            _ => "plugin-error",
        }
    }
}

impl Classify for ScaffoldError {
    fn exit_code(&self) -> u8 {
        match self {
            ScaffoldError::Io { .. } => FAILURE,
            _ => BAD_INPUT,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            ScaffoldError::BadName(_) => "bad-name",
            ScaffoldError::Exists(_) => "exists",
            _ => "io",
        }
    }
}

impl Classify for RecipeError {
    fn exit_code(&self) -> u8 {
        BAD_INPUT
    }
    fn kind(&self) -> &'static str {
        match self {
            RecipeError::Unknown { .. } => "unknown-recipe",
            _ => "recipe",
        }
    }
}

impl Classify for DefinitionError {
    fn exit_code(&self) -> u8 {
        BAD_INPUT
    }
    fn kind(&self) -> &'static str {
        "definition"
    }
}

impl Classify for JournalError {
    fn exit_code(&self) -> u8 {
        FAILURE
    }
    fn kind(&self) -> &'static str {
        "journal"
    }
}

impl Classify for SideError {
    fn exit_code(&self) -> u8 {
        match self {
            SideError::Remote(r) => r.exit_code(),
            _ => FAILURE,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            SideError::Remote(r) => r.kind(),
            _ => "remote",
        }
    }
}

impl Classify for BuildError {
    fn exit_code(&self) -> u8 {
        match self {
            BuildError::Refused { .. } => REFUSED,
            BuildError::Unreachable(_) => UNREACHABLE,
            BuildError::Plugin(p) => p.exit_code(),
            _ => FAILURE,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            BuildError::Refused { kind, .. } => kind,
            BuildError::Unreachable(_) => "unreachable",
            BuildError::Plugin(p) => p.kind(),
            _ => "remote",
        }
    }
}

impl Classify for RunError {
    fn exit_code(&self) -> u8 {
        match self {
            // The destination answered the test plan differently.
            RunError::Step { step, .. } if step == "test-destination" => VERIFY_FAILED,
            RunError::Declined { .. } => REFUSED,
            RunError::Unreachable(_) => UNREACHABLE,
            _ => FAILURE,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            RunError::Declined { .. } => "declined",
            RunError::Unreachable(_) => "unreachable",
            RunError::Journal(_) => "journal",
            _ => "step-failed",
        }
    }
}

impl Classify for AbortError {
    fn exit_code(&self) -> u8 {
        match self {
            AbortError::PastNoReturn(_) => REFUSED,
            _ => FAILURE,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            AbortError::PastNoReturn(_) => "past-no-return",
            AbortError::Journal(_) => "journal",
            _ => "abort",
        }
    }
}
