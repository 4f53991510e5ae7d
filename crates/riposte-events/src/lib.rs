//! riposte's identity events: one model ([`IdentityEvent`]) and streaming parsers for EVTX
//! files, Windows events as JSON (evtx_dump, Winlogbeat/ECS, flat) and Samba's JSON audit log.
//!
//! [`Ingest`] reads files one record at a time; a record that cannot be read becomes a
//! [`ParseError`] with its location and the rest of the file still goes through.
#![forbid(unsafe_code)]

mod ingest;
mod model;
mod normalize;
mod samba;
mod scan;

pub use ingest::{
    Ingest, IngestStats, InputKind, MAX_JSON_OBJECT, ParseError, detect_kind, evtx_record_count,
    parse_json_event,
};
pub use model::{Account, IdentityEvent, Location, SourceFormat, UacFlag};
