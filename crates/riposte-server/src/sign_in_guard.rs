//! What a password guess may cost riposte. Every path that checks a
//! person's password goes through [`SignInGuard::check`]:
//!
//! - failures are counted per client address (an IPv6 address by its /64,
//!   which one host usually holds whole) and per name, in fixed windows; once
//!   either reaches its bound, every attempt for it is refused with 429 and
//!   Retry-After until the window ends, without looking at the password, so a
//!   right password during a lockout says nothing (no oracle);
//! - argon2id runs at most `password_hashing_concurrency` at once; beyond it
//!   the answer is 503 with Retry-After, never a queue;
//! - the audit trail gets the first failure of each (address, name) per
//!   window at once, then one summary of the window (its count) when the
//!   window ends, and one summary of the refusals per locked address or
//!   name: not one permanent row per guess.
//!
//! Memory is bounded: each table holds at most [`MAX_TRACKED`] entries; when
//! full, ended windows go first, then the entry that locks nothing with the
//! fewest failures. A locked entry is never forgotten before its window ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use riposte_core::person_password;
use riposte_store::{NewAuditRecord, Person};
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::AppState;
use crate::limits::Limits;

/// Entries per table (addresses, names, (address, name) pairs).
pub const MAX_TRACKED: usize = 10_000;
/// Entries a full table lets go of at once, so the scan is rare.
const EVICT: usize = MAX_TRACKED / 10;
/// Names are counted by at most this many characters (lower case).
const NAME_KEY_CHARS: usize = 128;

/// Why a sign-in was not let through to the password check, or failed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Too many failures for this address or name: 429 for `retry_after` seconds.
    Throttled { retry_after: u64 },
    /// Every password-hashing slot is taken: 503 for `retry_after` seconds.
    Busy { retry_after: u64 },
    /// Wrong name or password, or the person is disabled.
    Wrong,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
    /// Attempts refused while this entry was locked.
    refused: u32,
}

impl Window {
    fn new(now: Instant) -> Self {
        Window {
            started: now,
            failures: 0,
            refused: 0,
        }
    }
}

struct Pair {
    started: Instant,
    started_at: OffsetDateTime,
    /// The name as typed (trimmed, bounded), for the audit record.
    name: String,
    failures: u32,
    last_why: &'static str,
}

/// An audit record owed for a window that ended (or was pushed out early).
struct Owed(NewAuditRecord);

#[derive(Default)]
struct Tracked {
    addresses: HashMap<IpAddr, Window>,
    names: HashMap<String, Window>,
    pairs: HashMap<(IpAddr, String), Pair>,
    owed: Vec<Owed>,
}

pub struct SignInGuard {
    per_address: u32,
    per_name: u32,
    window: Duration,
    hashing: Arc<Semaphore>,
    tracked: Mutex<Tracked>,
}

/// The address failures are counted by: IPv4 as is (an IPv4-mapped IPv6
/// address too), IPv6 by its /64.
fn address_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The name single sign-on refusals from `remote` are counted under.
fn single_sign_on_key(remote: IpAddr) -> String {
    format!("single-sign-on@{}", address_key(remote))
}

fn bounded_name(name: &str) -> String {
    name.trim().chars().take(NAME_KEY_CHARS).collect()
}

fn name_key(name: &str) -> String {
    bounded_name(name).to_lowercase()
}

fn seconds_left(started: Instant, window: Duration, now: Instant) -> u64 {
    let left = (started + window).saturating_duration_since(now);
    left.as_secs() + u64::from(left.subsec_nanos() > 0)
}

impl SignInGuard {
    pub fn new(limits: &Limits) -> Self {
        SignInGuard {
            per_address: limits.sign_in_failures_per_address,
            per_name: limits.sign_in_failures_per_name,
            window: limits.sign_in_window(),
            hashing: Arc::new(Semaphore::new(limits.password_hashing_concurrency as usize)),
            tracked: Mutex::new(Tracked::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tracked> {
        // A panic elsewhere must not turn sign-in off: the counts stay usable.
        self.tracked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Before any password check: refused while the address or the name is
    /// locked; otherwise a hashing slot, if one is free.
    fn admit(&self, addr: IpAddr, name: &str) -> Result<OwnedSemaphorePermit, Refusal> {
        self.not_locked(addr, name)?;
        self.hashing
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Busy { retry_after: 1 })
    }

    /// Refused while the address or the name is locked.
    fn not_locked(&self, addr: IpAddr, name: &str) -> Result<(), Refusal> {
        let now = Instant::now();
        let addr = address_key(addr);
        let key = name_key(name);
        let mut t = self.lock();
        let window = self.window;
        if let Some(w) = t.addresses.get_mut(&addr)
            && now.duration_since(w.started) < window
            && w.failures >= self.per_address
        {
            w.refused += 1;
            return Err(Refusal::Throttled {
                retry_after: seconds_left(w.started, window, now),
            });
        }
        if let Some(w) = t.names.get_mut(&key)
            && now.duration_since(w.started) < window
            && w.failures >= self.per_name
        {
            w.refused += 1;
            return Err(Refusal::Throttled {
                retry_after: seconds_left(w.started, window, now),
            });
        }
        Ok(())
    }

    /// Single sign-on answers that are refused count like failed passwords,
    /// per address only (their name is the address's own: nobody can lock
    /// single sign-on for everyone else): while the address is locked, a
    /// callback is refused before anything is read or written.
    pub(crate) fn single_sign_on_allowed(&self, remote: IpAddr) -> Result<(), Refusal> {
        self.not_locked(remote, &single_sign_on_key(remote))
    }

    /// Counts a refused single sign-on answer from `remote`. The refusal
    /// writes its own audit record; the window's summary follows as usual.
    pub(crate) fn single_sign_on_refused(&self, remote: IpAddr) {
        let _first = self.failed(
            remote,
            &single_sign_on_key(remote),
            "single sign-on refused",
        );
    }

    /// Counts a failed check; the audit record to write now, if this is the
    /// first failure of (address, name) in its window.
    fn failed(&self, remote: IpAddr, name: &str, why: &'static str) -> Option<NewAuditRecord> {
        let now = Instant::now();
        let addr = address_key(remote);
        let key = name_key(name);
        let mut t = self.lock();
        let t = &mut *t;
        let (window, owed) = (self.window, &mut t.owed);
        let by_address = counter(
            &mut t.addresses,
            addr,
            now,
            (window, self.per_address),
            &mut |a: &IpAddr, w: &Window| owed.push(Owed(address_record(*a, w, window))),
        );
        let by_name = counter(
            &mut t.names,
            key.clone(),
            now,
            (window, self.per_name),
            &mut |n: &String, w: &Window| owed.push(Owed(name_record(n, w, window))),
        );
        for (limit, window) in [(self.per_address, by_address), (self.per_name, by_name)] {
            if let Some(w) = window {
                w.failures = w.failures.saturating_add(1);
                if w.failures == limit {
                    tracing::warn!(
                        client = %addr,
                        "sign-in failures reached the bound; refusing until the window ends"
                    );
                }
            }
        }
        let pair_key = (addr, key);
        if let Some(p) = t.pairs.get_mut(&pair_key)
            && now.duration_since(p.started) < self.window
        {
            p.failures = p.failures.saturating_add(1);
            p.last_why = why;
            return None;
        }
        if let Some(ended) = t.pairs.remove(&pair_key) {
            t.owed.extend(self.pair_summary(addr, ended));
        }
        if t.pairs.len() >= MAX_TRACKED {
            self.sweep_pairs(t, now, false);
        }
        if t.pairs.len() >= MAX_TRACKED {
            // Still full of live windows: the oldest are summed up early.
            let mut oldest: Vec<_> = t
                .pairs
                .iter()
                .map(|(k, p)| (p.started, k.clone()))
                .collect();
            oldest.sort_unstable_by_key(|(started, _)| *started);
            for (_, k) in oldest.into_iter().take(EVICT) {
                if let Some(p) = t.pairs.remove(&k) {
                    t.owed.extend(self.pair_summary(k.0, p));
                }
            }
        }
        t.pairs.insert(
            pair_key,
            Pair {
                started: now,
                started_at: OffsetDateTime::now_utc(),
                name: bounded_name(name),
                failures: 1,
                last_why: why,
            },
        );
        Some(failure_record(
            &bounded_name(name),
            Some(addr),
            serde_json::json!({ "why": why, "count": 1, "first_in_window": true }),
        ))
    }

    /// A right password ends the name's failure count (its refusals, if
    /// any, are still owed to the audit trail).
    fn succeeded(&self, name: &str) {
        let mut t = self.lock();
        let t = &mut *t;
        let key = name_key(name);
        if let Some(w) = t.names.remove(&key)
            && w.refused > 0
        {
            t.owed.push(Owed(name_record(&key, &w, self.window)));
        }
    }

    /// The summary of a pair's window, if it held more than the first failure
    /// (which was written when it happened).
    fn pair_summary(&self, addr: IpAddr, p: Pair) -> Option<Owed> {
        (p.failures > 1).then(|| {
            Owed(failure_record(
                &p.name,
                Some(addr),
                serde_json::json!({
                    "why": p.last_why,
                    "count": p.failures,
                    "summary": true,
                    "window_started": p.started_at.unix_timestamp(),
                    "window_seconds": self.window.as_secs(),
                }),
            ))
        })
    }

    /// Moves ended windows (all, with `all`) out of the pair table into the owed records.
    fn sweep_pairs(&self, t: &mut Tracked, now: Instant, all: bool) {
        let ended: Vec<_> = t
            .pairs
            .iter()
            .filter(|(_, p)| all || now.duration_since(p.started) >= self.window)
            .map(|(k, _)| k.clone())
            .collect();
        for k in ended {
            if let Some(p) = t.pairs.remove(&k) {
                t.owed.extend(self.pair_summary(k.0, p));
            }
        }
    }

    /// The audit records owed for windows that ended (every window, with
    /// `all`, at shutdown); forgets ended windows.
    fn ended(&self, all: bool) -> Vec<NewAuditRecord> {
        let now = Instant::now();
        let mut t = self.lock();
        let t = &mut *t;
        self.sweep_pairs(t, now, all);
        let throttled = |w: &Window| all || now.duration_since(w.started) >= self.window;
        let mut out: Vec<NewAuditRecord> = t.owed.drain(..).map(|Owed(r)| r).collect();
        t.addresses.retain(|addr, w| {
            if !throttled(w) {
                return true;
            }
            if w.refused > 0 {
                out.push(address_record(*addr, w, self.window));
            }
            false
        });
        t.names.retain(|name, w| {
            if !throttled(w) {
                return true;
            }
            if w.refused > 0 {
                out.push(name_record(name, w, self.window));
            }
            false
        });
        out
    }

    /// Checks `name`'s password from `remote`: the person, if it is theirs
    /// and they may sign in. Writes the failure records; the caller writes
    /// the success record.
    pub async fn check(
        state: &AppState,
        remote: IpAddr,
        name: &str,
        password: String,
    ) -> Result<Person, Refusal> {
        let guard = &state.sign_in;
        let permit = guard.admit(remote, name)?;
        let person = match state.people.person_by_name(name.trim()).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "the people store could not be read for a sign-in");
                return Err(Refusal::Busy { retry_after: 5 });
            }
        };
        // A person who signs in by single sign-on has no password here: the
        // decoy costs what a real check costs, and never matches.
        let stored = person
            .as_ref()
            .filter(|p| !p.is_sso())
            .map(|p| p.password_hash.clone())
            .unwrap_or_else(|| person_password::decoy_hash().to_string());
        riposte_core::failpoint::hit("sign-in-hashing").await;
        state.metrics.password_checked();
        // argon2 takes real CPU time by design: keep it off the async workers,
        // and hold the slot until it is done.
        let matches = tokio::task::spawn_blocking(move || {
            let verdict = person_password::verify(&password, &stored);
            drop(permit);
            verdict
        })
        .await
        .unwrap_or(false);
        match person {
            Some(p) if matches && !p.disabled => {
                // With a second factor the sign-in has not succeeded yet: the
                // name's failures (wrong codes among them) count on until the
                // code is right (`second_factor_checked`).
                if !p.totp_enabled {
                    guard.succeeded(name);
                }
                Ok(p)
            }
            other => {
                let why = match &other {
                    None => "no such person",
                    Some(p) if p.disabled => "the person is disabled",
                    Some(p) if p.is_sso() => "the person signs in by single sign-on",
                    Some(_) => "wrong password",
                };
                tracing::info!(name = %bounded_name(name), "sign-in refused");
                if let Some(record) = guard.failed(remote, name, why) {
                    write(state, record).await;
                }
                Err(Refusal::Wrong)
            }
        }
    }

    /// Checks a second-factor code (after a right password) with `verify`,
    /// counted in the same per-address and per-name windows as passwords: a
    /// wrong (or replayed) code is a failure, and while either is locked no
    /// code is looked at.
    pub async fn check_second_factor<F>(
        state: &AppState,
        remote: IpAddr,
        name: &str,
        verify: F,
    ) -> Result<(), Refusal>
    where
        F: std::future::Future<Output = Result<bool, Refusal>>,
    {
        let guard = &state.sign_in;
        guard.not_locked(remote, name)?;
        if verify.await? {
            guard.succeeded(name);
            return Ok(());
        }
        tracing::info!(name = %bounded_name(name), "second-factor code refused");
        if let Some(record) = guard.failed(remote, name, "wrong second-factor code") {
            write(state, record).await;
        }
        Err(Refusal::Wrong)
    }

    /// Writes the summaries of ended windows every `every` until `stop`, and
    /// all that are left at shutdown.
    pub async fn flush_until_stopped(
        state: AppState,
        every: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let stopping = crate::pause(&mut stop, every).await;
            for record in state.sign_in.ended(stopping) {
                write(&state, record).await;
            }
            if stopping {
                return;
            }
        }
    }
}

/// Finds or makes `key`'s window; `None` when the table is full of locked
/// windows (then `key` is not counted: the other bound still holds). An
/// ended window it replaces goes to `report` first, for its refusals.
fn counter<'t, K: std::hash::Hash + Eq + Clone>(
    table: &'t mut HashMap<K, Window>,
    key: K,
    now: Instant,
    (window, limit): (Duration, u32),
    report: &mut dyn FnMut(&K, &Window),
) -> Option<&'t mut Window> {
    let ended = |w: &Window| now.duration_since(w.started) >= window;
    if table.get(&key).is_some_and(ended)
        && let Some(w) = table.remove(&key)
        && w.refused > 0
    {
        report(&key, &w);
    }
    if !table.contains_key(&key) && table.len() >= MAX_TRACKED {
        // Ended windows with refusals to report stay for the flusher.
        table.retain(|_, w| !(ended(w) && w.refused == 0));
        if table.len() >= MAX_TRACKED {
            // The weakest windows that lock nothing go; locked ones stay.
            let mut weakest: Vec<_> = table
                .iter()
                .filter(|(_, w)| w.failures < limit)
                .map(|(k, w)| ((w.failures, w.started), k.clone()))
                .collect();
            if weakest.is_empty() {
                return None;
            }
            weakest.sort_unstable_by_key(|(rank, _)| *rank);
            for (_, k) in weakest.into_iter().take(EVICT) {
                table.remove(&k);
            }
        }
    }
    Some(table.entry(key).or_insert_with(|| Window::new(now)))
}

fn failure_record(name: &str, addr: Option<IpAddr>, details: serde_json::Value) -> NewAuditRecord {
    NewAuditRecord {
        actor: format!("user:{name}"),
        source: "portal".into(),
        remote_addr: addr.map(|a| a.to_string()),
        event: "sign-in-failed".into(),
        target: Some(format!("user:{name}")),
        job_id: None,
        result: "failure".into(),
        details,
    }
}

/// Refusals while an address was locked.
fn address_record(addr: IpAddr, w: &Window, window: Duration) -> NewAuditRecord {
    throttled_record("anonymous".into(), None, Some(addr), w, window)
}

/// Refusals while a name was locked, from any address.
fn name_record(name: &str, w: &Window, window: Duration) -> NewAuditRecord {
    let user = format!("user:{name}");
    throttled_record(user.clone(), Some(user), None, w, window)
}

fn throttled_record(
    actor: String,
    target: Option<String>,
    addr: Option<IpAddr>,
    w: &Window,
    window: Duration,
) -> NewAuditRecord {
    NewAuditRecord {
        actor,
        source: "portal".into(),
        remote_addr: addr.map(|a| a.to_string()),
        event: "sign-in-throttled".into(),
        target,
        job_id: None,
        result: "failure".into(),
        details: serde_json::json!({
            "count": w.refused,
            "failures": w.failures,
            "window_seconds": window.as_secs(),
        }),
    }
}

async fn write(state: &AppState, record: NewAuditRecord) {
    if let Err(e) = state.runner.store().append(record).await {
        tracing::error!(error = %e, "a sign-in could not be written to the audit trail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(per_address: u32, per_name: u32) -> SignInGuard {
        SignInGuard::new(&Limits {
            sign_in_failures_per_address: per_address,
            sign_in_failures_per_name: per_name,
            sign_in_window_seconds: 3600,
            password_hashing_concurrency: 1,
            ..Limits::default()
        })
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_spray_of_names_keeps_the_tables_bounded_and_the_address_locked() {
        let g = guard(u32::MAX, 3);
        let attacker: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..(MAX_TRACKED + 500) {
            let _ = g.failed(attacker, &format!("name{i}"), "no such person");
        }
        let t = g.lock();
        assert!(t.names.len() <= MAX_TRACKED, "{}", t.names.len());
        assert!(t.pairs.len() <= MAX_TRACKED, "{}", t.pairs.len());
        assert_eq!(t.addresses.len(), 1);
        drop(t);
        // A locked name is kept however many others come after it.
        for _ in 0..3 {
            let _ = g.failed("192.0.2.2".parse().unwrap(), "victim", "wrong password");
        }
        for i in 0..(MAX_TRACKED + 500) {
            let _ = g.failed(attacker, &format!("other{i}"), "no such person");
        }
        assert!(matches!(
            g.admit("198.51.100.1".parse().unwrap(), "Victim"),
            Err(Refusal::Throttled { .. })
        ));
    }

    #[test]
    fn one_record_per_pair_then_a_summary_with_the_count() {
        let g = guard(100, 100);
        let from: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(g.failed(from, "alice", "wrong password").is_some());
        for _ in 0..4 {
            assert!(g.failed(from, "alice", "wrong password").is_none());
        }
        assert!(g.failed(from, "bob", "no such person").is_some());
        assert!(g.ended(false).is_empty(), "the windows have not ended");
        let summaries = g.ended(true);
        assert_eq!(
            summaries.len(),
            1,
            "bob failed once: his first record says it all"
        );
        assert_eq!(summaries[0].details["count"], 5);
        assert_eq!(summaries[0].actor, "user:alice");
    }
}
