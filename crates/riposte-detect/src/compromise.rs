//! Compromised after a spray or brute force: an account that authenticated
//! successfully from a source that was just failing logons for many accounts (or
//! many times for one). The victims of a spray are *attacked*: anyone can make
//! their logons fail. An account whose logon then *succeeds* from the attacking
//! source is the one whose password the attacker found: that is the account to
//! contain, and the one this rule names (as `users`).

use std::collections::{HashMap, VecDeque};

use riposte_events::IdentityEvent;

use crate::alert::{Alert, Entities, EventRef, Severity};

pub const RULE: (&str, &str, &str) = (
    "riposte.compromised_after_spray",
    "Valid account: successful logon from a source that was spraying or brute-forcing",
    "T1078",
);

/// Most successes remembered per failing source (from before its attack was
/// recognised), and most sources followed: bounded whatever the input.
const SUCCESSES_PER_SOURCE: usize = 32;

/// A success worth remembering: whose, when, and the event behind it.
struct Success {
    time: i64,
    account: String,
    display: String,
    event: EventRef,
    dc: Option<String>,
}

#[derive(Default)]
struct SourceState {
    /// The source is attacking (a spray or brute-force alert named it) from `since` until `until`.
    attack: Option<(i64, i64, String)>,
    /// Successes seen while the source had failures but no alert yet.
    successes: VecDeque<Success>,
    last_seen: i64,
}

/// The correlation's state, per source address.
pub struct Compromise {
    window: i64,
    max_sources: usize,
    sources: HashMap<String, SourceState>,
    /// (source, account) -> no second alert until.
    reported: HashMap<(String, String), i64>,
}

/// A successful authentication of a person's account (not a computer's, not anonymous).
fn user_success(ev: &IdentityEvent) -> Option<(String, String)> {
    if !matches!(ev.event_id, 4624 | 4768 | 4776) || ev.failed() || ev.status.is_none() {
        return None;
    }
    if ev.target.is_machine() || ev.target.sid.as_deref() == Some("S-1-5-7") {
        return None;
    }
    let account = ev.target.key()?;
    if account == "anonymous logon" || account.is_empty() {
        return None;
    }
    let source = ev.source()?.to_ascii_lowercase();
    Some((source, account))
}

impl Compromise {
    pub fn new(window: i64, max_sources: usize) -> Self {
        Compromise {
            window: window.max(1),
            max_sources: max_sources.max(1),
            sources: HashMap::new(),
            reported: HashMap::new(),
        }
    }

    fn room(&mut self, now: i64) {
        if self.sources.len() >= self.max_sources {
            let window = self.window;
            self.sources.retain(|_, s| {
                s.last_seen >= now - window
                    || s.attack.as_ref().is_some_and(|(_, until, _)| *until > now)
            });
            if self.sources.len() >= self.max_sources {
                self.sources.clear();
            }
        }
        if self.reported.len() >= self.max_sources {
            self.reported.retain(|_, until| *until > now);
            if self.reported.len() >= self.max_sources {
                self.reported.clear();
            }
        }
    }

    /// A spray or brute-force alert named `source`, whose failures began at `since`:
    /// successes from it since then (and for the next window) are compromises.
    pub fn attack_seen(&mut self, source: &str, since: i64, now: i64, why: &str) -> Vec<Alert> {
        let source = source.to_ascii_lowercase();
        self.room(now);
        let state = self.sources.entry(source.clone()).or_default();
        state.attack = Some((since, now + self.window, why.to_string()));
        state.last_seen = state.last_seen.max(now);
        let earlier: Vec<Success> = state
            .successes
            .drain(..)
            .filter(|s| s.time >= since && s.time <= now)
            .collect();
        earlier
            .into_iter()
            .filter_map(|s| self.alert(&source, s, why, now))
            .collect()
    }

    /// Feeds one event. `failing`: the source has failures in a spray or brute-force
    /// window (so its successes are worth remembering until an alert decides).
    pub fn process(&mut self, ev: &IdentityEvent, now: i64, failing: bool) -> Vec<Alert> {
        let Some((source, account)) = user_success(ev) else {
            return Vec::new();
        };
        let success = Success {
            time: now,
            account,
            display: ev.target.display(),
            event: EventRef::from(ev),
            dc: ev.computer.clone(),
        };
        if let Some(state) = self.sources.get_mut(&source)
            && let Some((since, until, why)) = state.attack.clone()
            && now >= since
            && now <= until
        {
            state.last_seen = state.last_seen.max(now);
            return self
                .alert(&source, success, &why, now)
                .into_iter()
                .collect();
        }
        if failing {
            self.room(now);
            let state = self.sources.entry(source).or_default();
            if state.successes.len() >= SUCCESSES_PER_SOURCE {
                state.successes.pop_front();
            }
            state.successes.push_back(success);
            state.last_seen = state.last_seen.max(now);
        }
        Vec::new()
    }

    fn alert(&mut self, source: &str, s: Success, why: &str, now: i64) -> Option<Alert> {
        let key = (source.to_string(), s.account.clone());
        if self.reported.get(&key).is_some_and(|until| *until > now) {
            return None;
        }
        self.reported.insert(key, now + self.window);
        let mut entities = Entities::default();
        entities.add_user(&s.display);
        entities.add_source(source);
        if let Some(dc) = &s.dc {
            entities.add_dc(dc);
        }
        Some(Alert {
            rule_id: RULE.0.into(),
            title: RULE.1.into(),
            technique: Some(RULE.2.into()),
            severity: Severity::Critical,
            description: format!(
                "{} authenticated successfully from {source}, which was {why}: its password is likely known to the attacker",
                s.display
            ),
            entities,
            first_seen: s.event.time,
            last_seen: s.event.time,
            event_count: 1,
            events: vec![s.event],
        })
    }
}
