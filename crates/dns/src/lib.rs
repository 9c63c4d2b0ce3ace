//! migrate-dns (being built).
