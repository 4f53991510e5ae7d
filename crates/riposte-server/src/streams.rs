//! Server-sent event streams held open per caller. Each stream reads the
//! ledger at each change of its job (and every few seconds as a safety
//! net, `[server] job_poll_secs`) while it lives, so one caller opening thousands would tie up the
//! server: a caller holds at most `event_streams_per_caller` at once (the
//! next gets 429), and a stream with nothing new for
//! `event_stream_idle_seconds` ends (the client may open it again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Open streams per caller (the principal's name); an entry leaves with its last stream.
pub struct StreamLimiter {
    per_caller: u32,
    open: Mutex<HashMap<String, u32>>,
}

/// One open stream; dropping it (the stream ended or the client left) frees its place.
pub struct StreamSlot {
    limiter: Arc<StreamLimiter>,
    caller: String,
}

impl StreamLimiter {
    pub fn new(per_caller: u32) -> Self {
        StreamLimiter {
            per_caller,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for one more stream of `caller`, or `None` at the bound.
    pub fn open(self: &Arc<Self>, caller: &str) -> Option<StreamSlot> {
        let mut open = self.table();
        let count = open.entry(caller.to_string()).or_insert(0);
        if *count >= self.per_caller {
            return None;
        }
        *count += 1;
        Some(StreamSlot {
            limiter: self.clone(),
            caller: caller.to_string(),
        })
    }

    pub fn per_caller(&self) -> u32 {
        self.per_caller
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.limiter.table();
        if let Some(count) = open.get_mut(&self.caller) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_holds_at_most_the_bound_and_a_closed_stream_frees_its_place() {
        let limiter = Arc::new(StreamLimiter::new(2));
        let a = limiter.open("token:a").unwrap();
        let _b = limiter.open("token:a").unwrap();
        assert!(limiter.open("token:a").is_none());
        assert!(limiter.open("user:other").is_some(), "per caller");
        drop(a);
        assert!(limiter.open("token:a").is_some());
        drop(_b);
        assert!(limiter.table().is_empty(), "no entry outlives its streams");
    }
}
