//! Exit codes are part of the interface: scripts branch on them, so each
//! number means one thing across every subcommand.

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
