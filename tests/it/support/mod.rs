//! Helpers shared by the end-to-end tests, one job a file:
//!
//! - `cli`: the `migrate` binary under test, with a home of its own; the
//!   operator's side of one `migrate app` run.
//! - `lab`: the two-server lab: whose turn it is (tests of different
//!   modules never use it at once), commands and files on its servers.
//! - `http`: a minimal HTTP client and a fake server for API contracts.
//! - `fixtures`: workspace paths, wasm builds, free ports, certificates.
//! - `dns`: Knot and PowerDNS servers started by a test.
//! - `mail`: Dovecot servers started by a test, an independent IMAP client.
//! - `masto_compose`: the Mastodon stand-in as a compose project on src
//!   and the migration file moving it (Mastodon and Hometown tests).
//! - `nc_compose`: the Nextcloud stand-in plainly on src, an unstarted
//!   compose project on dst, and the migration file between them.
//! - `nc_maria`: the Nextcloud stand-in with MariaDB as a compose project
//!   on src, the project unstarted on dst; the rows query for MariaDB.
//! - `nc_stack`: the Nextcloud stand-in as a Co-op Cloud stack on src.
//! - `nc_plain`: the Nextcloud stand-in plainly under /var/www on src, for
//!   discovery, and the `php` shim.
//! - `progress`: counters and task lines read from captured progress
//!   output; a tree of known size on src.
//! - `tmux`: a terminal of the test's own, for bars and prompts.
#![allow(dead_code)]

pub mod cli;
pub mod dns;
pub mod fixtures;
pub mod http;
pub mod lab;
pub mod mail;
pub mod masto_compose;
pub mod nc_compose;
pub mod nc_maria;
pub mod nc_plain;
pub mod nc_stack;
pub mod progress;
pub mod tmux;
