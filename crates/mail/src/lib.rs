//! migrate-mail (being built).
