//! Mail migrations: mailboxes moved IMAP to IMAP the way imapsync does it
//! (header identity, flags, internal dates, incremental, parallel), users
//! provisioned on Mailu, and the mail cutover as plan steps.

pub mod append;
pub mod conn;
pub mod cutover;
pub mod error;
pub mod folders;
pub mod ident;
pub mod mailu;
pub mod run;
pub mod scan;
pub mod secret;
pub mod server;
pub mod sync;
pub mod tls;
pub mod users;

pub use error::{ErrorKind, MailError, Result};
pub use secret::{PasswordSource, Secret};
pub use server::{Security, Server, Trust};
pub use sync::{AccountReport, FolderReport, Options, Progress};
pub use users::Account;
