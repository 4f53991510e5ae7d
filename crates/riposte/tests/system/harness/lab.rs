//! The shared Samba lab: one lock that keeps tests which disturb the whole lab apart from the
//! rest, the lab config without tailing, and replication metadata read through riposte.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use riposte_testlab::Lab;

use super::cli::riposte;

/// Every test of this binary runs on a thread of one process, so what used to keep two test
/// binaries apart (cargo runs them one after the other) is this lock: a test that changes what
/// other tests see of the lab (stops a DC, sprays the KDC while tailing its log, rewrites a
/// seeded account or the Graph double) holds it alone; every other lab test holds it shared.
static LAB: RwLock<()> = RwLock::new(());

/// The lab, shared with the other tests running now (see [`LAB`]).
pub struct SharedLab {
    lab: Lab,
    _turn: RwLockReadGuard<'static, ()>,
}

/// The lab, with no other lab test running (see [`LAB`]).
pub struct LabAlone {
    lab: Lab,
    _turn: RwLockWriteGuard<'static, ()>,
}

/// The lab, for a test that only adds users and OUs of its own or reads seeded ones.
pub fn lab() -> SharedLab {
    // A test that failed while holding the lock has let it go: the lab is whole again.
    let turn = LAB.read().unwrap_or_else(PoisonError::into_inner);
    SharedLab {
        lab: Lab::load(),
        _turn: turn,
    }
}

/// The lab alone, for a test that changes what every other test would see of it.
pub fn lab_alone() -> LabAlone {
    let turn = LAB.write().unwrap_or_else(PoisonError::into_inner);
    LabAlone {
        lab: Lab::load(),
        _turn: turn,
    }
}

impl Deref for SharedLab {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

impl Deref for LabAlone {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

/// The lab config without its `[[ingest]]` tables (so no DC log is tailed), plus `extra`.
pub fn config_without_tailing(lab: &Lab, dir: &Path, extra: &str) -> PathBuf {
    lab.private_config(dir, |t| {
        let mut out = String::new();
        let mut skipping = false;
        for line in t.lines() {
            if line.trim() == "[[ingest]]" {
                skipping = true;
            } else if line.trim().starts_with('[') || line.trim().is_empty() {
                skipping = false;
            }
            if !skipping {
                out.push_str(line);
                out.push('\n');
            }
        }
        out + extra
    })
}

/// The replication metadata version of `attribute` on an account, as riposte reads it.
pub fn metadata_version(lab: &Lab, reference: &str, attribute: &str) -> u64 {
    let shown = riposte(lab, &["--json", "user", "show", reference]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    shown.json()["replication_metadata"]
        .as_array()
        .expect("replication_metadata")
        .iter()
        .find(|m| m["attribute"] == attribute)
        .and_then(|m| m["version"].as_u64())
        .unwrap_or(0)
}

/// How much one riposte disable raises userAccountControl's metadata version
/// on this DC (Samba counts a delete+add modify as more than one change), so a
/// test can tell one write from two.
pub fn version_step_of_one_disable(lab: &Lab) -> u64 {
    let control = lab.create_user("corp", "ctl", 0);
    let before = metadata_version(lab, &control.reference(), "userAccountControl");
    let run = riposte(
        lab,
        &[
            "--json",
            "user",
            "disable",
            &control.reference(),
            "--reason",
            "test: control",
        ],
    );
    assert_eq!(run.outcome(), "verified", "{}", run.stderr);
    let step = metadata_version(lab, &control.reference(), "userAccountControl") - before;
    assert!(step > 0);
    step
}
