//! The shared store conformance suite and each dialect's own checks, on a
//! real SQLite file and a real PostgreSQL server (each test in its own fresh
//! database, see `riposte_store_sql::testing`).
//!
//! Each dialect module has the fixtures the suite's generator takes:
//! `open(label)` a fresh, empty store and what keeps it (a directory, a
//! database), `open_second(&guard)` a second node on the same ledger, and
//! `close(guard)` removing what `open` made.

mod postgres;
mod sqlite;
mod sqlite_audit;
