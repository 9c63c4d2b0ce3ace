//! migrate-docker (being built).
