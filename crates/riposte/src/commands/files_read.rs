//! What `riposte detect` and `riposte ingest` say after reading files, and their exit status:
//! one summary, so both commands count and fail the same way.

use std::collections::BTreeMap;
use std::fmt::Display;

use riposte_events::IngestStats;

/// What came of reading the files given on the command line.
pub struct FilesRead<'a, E> {
    pub stats: &'a IngestStats,
    /// The first unreadable records (at most what the command chose to keep).
    pub errors: &'a [E],
    /// Files of which nothing at all could be read.
    pub whole_files_failed: u64,
    /// Alerts raised, per technique.
    pub by_technique: &'a BTreeMap<String, u64>,
}

impl<E: Display> FilesRead<'_, E> {
    /// Prints the summary on stderr (`alerts` says what became of the alerts, e.g.
    /// "alert(s) stored"); the exit status fails only when no file could be read at all.
    pub fn report(&self, command: &str, alerts: &str) -> u8 {
        let st = self.stats;
        eprintln!(
            "riposte {command}: {} file(s), {} record(s), {} event(s), {} unreadable, {} ignored (not identity events)",
            st.files, st.records, st.events, st.errors, st.ignored
        );
        for e in self.errors {
            eprintln!("  unreadable: {e}");
        }
        if st.errors as usize > self.errors.len() {
            eprintln!("  ... and {} more", st.errors as usize - self.errors.len());
        }
        let total: u64 = self.by_technique.values().sum();
        eprintln!("riposte {command}: {total} {alerts}");
        for (technique, n) in self.by_technique {
            eprintln!("  {technique}: {n}");
        }
        if self.whole_files_failed > 0 && self.whole_files_failed == st.files {
            crate::exit::FAILED
        } else {
            crate::exit::OK
        }
    }
}
