//! Ingestion counters for `/metrics`: events read and records unparsed per input, alerts per
//! rule, and how far each tailer is behind its log. Bounded: past [`MAX_KEYS`] names per
//! counter, new names count under `other` (input names carry principals, rule ids come from
//! loaded Sigma rules).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Most distinct names kept per counter.
pub const MAX_KEYS: usize = 1024;
const OTHER: &str = "other";

/// What one input brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputCounts {
    /// Records read as identity events.
    pub events: u64,
    /// Records that could not be read.
    pub unparsed: u64,
}

/// How far a tailer is behind its log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TailLag {
    /// Seconds between the newest event's own time and when it was processed (0 when the
    /// event is dated ahead).
    pub seconds: f64,
    /// Bytes of the log not read yet.
    pub bytes_behind: u64,
}

/// A copy of the counters, for rendering.
#[derive(Debug, Clone, Default)]
pub struct IngestSnapshot {
    pub inputs: BTreeMap<String, InputCounts>,
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// Windowed groups the detectors hold now (every input's).
    pub windows_held: usize,
    /// By tailed source name (`tail:<forest>`).
    pub tail: BTreeMap<String, TailLag>,
}

#[derive(Default)]
pub struct IngestStats {
    inner: Mutex<IngestSnapshot>,
}

/// The entry for `key`, or `other` when the map is full.
fn bounded<'a, V: Default>(map: &'a mut BTreeMap<String, V>, key: &str) -> &'a mut V {
    let key = if map.contains_key(key) || map.len() < MAX_KEYS {
        key
    } else {
        OTHER
    };
    map.entry(key.to_string()).or_default()
}

impl IngestStats {
    fn with<R>(&self, f: impl FnOnce(&mut IngestSnapshot) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn events(&self, input: &str, n: u64) {
        self.with(|s| bounded(&mut s.inputs, input).events += n);
    }

    pub fn unparsed(&self, input: &str, n: u64) {
        self.with(|s| bounded(&mut s.inputs, input).unparsed += n);
    }

    pub fn alert(&self, rule: &str) {
        self.with(|s| *bounded(&mut s.alerts_by_rule, rule) += 1);
    }

    /// A tailer's position: bytes left in its log, and the newest event's age if it read any.
    pub fn tail(&self, input: &str, bytes_behind: u64, seconds: Option<f64>) {
        self.with(|s| {
            let lag = bounded(&mut s.tail, input);
            lag.bytes_behind = bytes_behind;
            if let Some(secs) = seconds {
                lag.seconds = secs.max(0.0);
            }
        });
    }

    pub(crate) fn snapshot(&self, windows_held: usize) -> IngestSnapshot {
        let mut s = self.with(|s| s.clone());
        s.windows_held = windows_held;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_beyond_the_bound_count_as_other() {
        let stats = IngestStats::default();
        for i in 0..MAX_KEYS + 5 {
            stats.events(&format!("api:token:{i}"), 1);
        }
        stats.events("api:token:0", 2);
        let s = stats.snapshot(3);
        assert_eq!(s.inputs.len(), MAX_KEYS + 1);
        assert_eq!(s.inputs["other"].events, 5);
        assert_eq!(s.inputs["api:token:0"].events, 3);
        assert_eq!(s.windows_held, 3);
    }
}
