//! migrate-remote (being built).
