//! The one harness of the system tests: the real `riposte` binary against the shared lab.
//! `Serve` starts `riposte serve` (the only place that does) and talks to it; `cli` runs one
//! command; `lab` hands out the lab (shared, or alone for tests that disturb it); `events`
//! writes directory events as the lab's DCs do.
// Each module of the binary (and the kerberos test, which includes this harness) uses part of it.
#![allow(dead_code, unused_imports)]

pub mod calls;
pub mod certs;
pub mod cli;
pub mod events;
pub mod graph_double;
pub mod lab;
pub mod serve;

pub use calls::{PASSWORD, Portal};
pub use certs::self_signed_cert;
pub use cli::{BIN, Run, riposte, riposte_config, run, start_paused};
pub use events::{SPRAYED, now_rfc3339, samba_failure, spray};
pub use graph_double::start_graph_double;
pub use lab::{
    LabAlone, SharedLab, config_without_tailing, lab, lab_alone, metadata_version,
    version_step_of_one_disable,
};
pub use serve::{Options, Serve};
