//! migrate-copy (being built).
