//! The end-to-end tests of `migrate`, one test binary: one module per
//! subject, the helpers they share in `support`. The binary under test is
//! `CARGO_BIN_EXE_migrate`, built fresh by cargo.
//!
//! libtest runs the tests of all modules side by side. Those that use the
//! two-server lab take turns at it (`support::lab::enter`): a module's tests
//! together, never beside another module's. The others start their own
//! servers (Knot, PowerDNS, Dovecot, fake HTTP APIs) on free loopback ports
//! and run beside anything.

mod support;

mod app_compose;
mod app_discourse;
mod app_discovery;
mod app_hometown;
mod app_mailu;
mod app_mastodon;
mod app_mastodon_s3;
mod app_nextcloud;
mod app_stack;
mod around_cron_certs;
mod build_wasm_target;
mod cli_copy_exclude;
mod cli_flags;
mod cli_shell;
mod copy_e2e;
mod discovery_mastodon;
mod discovery_nextcloud;
mod dns_knot;
mod dns_pdns;
mod dns_providers_http;
mod dns_token_http;
mod docker_lab;
mod dry_run;
mod hostile_plugins;
mod json_envelope;
mod mail_cli;
mod mail_sync;
mod mail_users;
mod nothing_lost;
mod plugin_sandbox;
mod plugin_scaffold;
mod progress;
mod progress_app;
mod progress_copy_wait;
mod progress_mail_sync;
mod readme_blocks;
mod recipes;
mod streams_follow_the_link;
mod trust_keys;
mod upgrade_paths_mastodon_discourse;
mod upgrade_paths_nextcloud_mailu;
mod verify_after_window;
