//! Storm mode: a seeded random fault profile applied to most Graph calls
//! (429 with or without Retry-After, 503 with a JSON or an HTML body, slow
//! answers), and the counters a test needs to prove that nothing was lost or
//! applied twice. Test double only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The storm's fault profile. Percentages are of every Graph request (the
/// token endpoint is never stormed) and of every `$batch` sub-request; a
/// `$batch` request as a whole is stormed at `batch_envelope_percent` only,
/// since Graph throttles the sub-requests of a batch one by one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Storm {
    /// The random sequence's seed: the same seed gives the same sequence of draws.
    pub seed: u64,
    /// Answered 429 TooManyRequests.
    pub throttle_percent: u32,
    /// Of the 429s, this share is sent without a Retry-After header.
    pub no_retry_after_percent: u32,
    /// Retry-After is drawn uniformly from 0..=this many seconds.
    pub max_retry_after_secs: u32,
    /// Answered 503 (after the 429 draw).
    pub unavailable_percent: u32,
    /// Of the 503s, this share has an HTML body, as a gateway sends, not Graph's JSON error.
    pub html_unavailable_percent: u32,
    /// Answers delayed (after the work is done) by up to `max_delay_ms`.
    pub slow_percent: u32,
    pub max_delay_ms: u64,
    /// Answers held back `stall_ms` after the work is done (longer than a
    /// client's timeout, this is a write applied whose answer never arrives).
    pub stall_percent: u32,
    pub stall_ms: u64,
    /// The share of whole `$batch` requests the storm draws for.
    pub batch_envelope_percent: u32,
}

impl Default for Storm {
    /// 60% 429 (a fifth of them without Retry-After, the rest 0-2 s), 10%
    /// 503 (a third of them HTML): 70% of calls fail; 20% of answers are
    /// slowed by up to 300 ms; a quarter of `$batch` envelopes are stormed.
    fn default() -> Self {
        Storm {
            seed: 8,
            throttle_percent: 60,
            no_retry_after_percent: 20,
            max_retry_after_secs: 2,
            unavailable_percent: 10,
            html_unavailable_percent: 33,
            slow_percent: 20,
            max_delay_ms: 300,
            stall_percent: 0,
            stall_ms: 0,
            batch_envelope_percent: 25,
        }
    }
}

/// What the storm (or a counted fault) did to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StormFault {
    /// 429 with `Some(seconds)` Retry-After or none.
    Throttle(Option<u32>),
    /// 503, HTML body when true.
    Unavailable { html: bool },
}

/// splitmix64: small, seedable, good enough to scatter faults.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with `percent` % probability (one draw whatever the percent).
    pub(crate) fn chance(&mut self, percent: u32) -> bool {
        self.next() % 100 < u64::from(percent)
    }
}

/// The storm and its random sequence.
#[derive(Debug, Clone)]
pub(crate) struct Running {
    pub(crate) storm: Storm,
    pub(crate) rng: Rng,
}

impl Running {
    pub(crate) fn new(storm: Storm) -> Running {
        Running {
            rng: Rng::new(storm.seed),
            storm,
        }
    }

    /// The fault for one call, if the draw gives one. Two draws per call
    /// always, so the sequence does not depend on the profile's percentages.
    pub(crate) fn fault(&mut self) -> Option<StormFault> {
        let s = self.storm.clone();
        let (a, b) = (self.rng.next() % 100, self.rng.next());
        let a = a as u32;
        if a < s.throttle_percent {
            let without = (b % 100) < u64::from(s.no_retry_after_percent);
            let secs = ((b >> 8) % (u64::from(s.max_retry_after_secs) + 1)) as u32;
            return Some(StormFault::Throttle((!without).then_some(secs)));
        }
        if a < s.throttle_percent + s.unavailable_percent {
            let html = (b % 100) < u64::from(s.html_unavailable_percent);
            return Some(StormFault::Unavailable { html });
        }
        None
    }

    /// Whether a whole `$batch` request is drawn for.
    pub(crate) fn envelope(&mut self) -> bool {
        let p = self.storm.batch_envelope_percent;
        self.rng.chance(p)
    }

    /// A delay for one answer, if any, and whether it is a stall.
    pub(crate) fn delay_ms(&mut self) -> (u64, bool) {
        let (stall, slow) = (self.rng.next() % 100, self.rng.next() % 100);
        let amount = self.rng.next();
        if stall < u64::from(self.storm.stall_percent) {
            return (self.storm.stall_ms, true);
        }
        if slow < u64::from(self.storm.slow_percent) {
            return ((amount % (self.storm.max_delay_ms + 1)).max(1), false);
        }
        (0, false)
    }
}

/// What the double received and what it did, for tests to prove that nothing
/// was lost or applied twice. `GET /_double/stats`; `DELETE` resets it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Graph requests received (authenticated; the token endpoint is not counted).
    pub requests: u64,
    /// `$batch` requests received, and the sub-requests they carried.
    pub batches: u64,
    pub sub_requests: u64,
    /// Tokens issued.
    pub tokens: u64,
    /// 429s answered (whole requests and sub-requests), and those without Retry-After.
    pub throttled: u64,
    pub throttled_without_retry_after: u64,
    /// 503s answered, and those with an HTML body.
    pub unavailable: u64,
    pub unavailable_html: u64,
    /// Answers the storm slowed, and by how much in all; answers it stalled.
    pub slowed: u64,
    pub delay_ms_total: u64,
    pub stalled: u64,
    /// Writes that reached a user's state, by user id (PATCH of accountEnabled
    /// or passwordProfile, revokeSignInSessions, confirmCompromised).
    pub writes_applied: BTreeMap<String, u32>,
    /// Writes refused (4xx after reaching the user), by user id.
    pub writes_refused: BTreeMap<String, u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_storm() {
        let draw = |seed| {
            let mut r = Running::new(Storm {
                seed,
                ..Storm::default()
            });
            (0..200)
                .map(|_| (r.fault(), r.delay_ms().0))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(8), draw(8));
        assert_ne!(draw(8), draw(9));
        let faults = draw(8).iter().filter(|(f, _)| f.is_some()).count();
        assert!(
            (100..180).contains(&faults),
            "{faults} of 200 calls faulted"
        );
    }
}
