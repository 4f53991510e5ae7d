//! The shared store conformance suite (`riposte_store::conformance_tests!`:
//! one test per check per backend) and each dialect's own checks, on a real
//! SQLite file and a real PostgreSQL server (each test in its own fresh
//! database, see `riposte_store_sql::testing`), and the SQLite audit trail
//! against edits made behind the store's back.

mod postgres;
mod sqlite;
mod sqlite_audit;
