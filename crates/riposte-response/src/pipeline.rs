//! The live ingestion pipeline: identity events from tailed Samba audit logs, from
//! forwarders (`POST /api/v1/events`) and from `riposte ingest` go through one shared
//! [`Detector`] (its windowed correlation state spans batches and sources, and is bounded by
//! `DetectConfig`); every alert it raises is stored ([`AlertStore`], append-only) and then
//! published on the **alert hook** ([`Pipeline::subscribe`]).
//!
//! # The alert hook (for automatic response)
//!
//! `Pipeline::subscribe()` returns a `tokio::sync::broadcast::Receiver<StoredAlert>`: every
//! alert, *after* it is stored (so it has its id and can be fetched with
//! `GET /api/v1/alerts/{id}`), in the order raised. The channel holds [`ALERT_HOOK_CAPACITY`]
//! alerts; a subscriber that falls further behind gets `RecvError::Lagged(n)` and should catch
//! up from the store (`AlertStore::list_alerts` with `since`). Nothing is sent when nobody
//! subscribes, and the pipeline never waits for subscribers.
//!
//! # Evidence is kept apart by input
//!
//! Every batch names its [`Input`] (`tail:<forest>`, `api:<principal>`, `file:<principal>`),
//! which each alert records with the sender's credential. With [`Pipeline::per_input`] each
//! input has its own detector state, so events one sender forges never combine with a DC's
//! own log into an alert attributed to the DC log. On live inputs (tailer, API), an event
//! whose time is more than the allowed skew from now is refused as evidence: counted and
//! logged, never moving a detector's windows or suppression forward.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use riposte_core::policy::Principal;
use riposte_detect::{Alert, Detector};
use riposte_events::{IdentityEvent, Location, ParseError, parse_json_event};
use riposte_store::{AlertEntities, AlertStore, NewAlert, StoreError, StoredAlert};
use serde::Serialize;
use tokio::sync::broadcast;
use tracing::{info, warn};

use crate::detectors::Detectors;
use crate::ingest_stats::{IngestSnapshot, IngestStats};
/// How many stored alerts the hook keeps for slow subscribers.
pub const ALERT_HOOK_CAPACITY: usize = 1024;

/// The default allowed distance between a live event's time and now.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// Where a batch of events came from and who sent it: alerts record it, automation trusts by it.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// `tail:<forest>`, `api:<principal>` or `file:<principal>`.
    pub name: String,
    /// The credential that sent the events; `None` for a DC log riposte tails itself.
    pub fed_by: Option<Principal>,
    /// Events arrive as they happen (tailer, API), so their times must be near now.
    pub live: bool,
}

impl Input {
    /// A forest's DC audit log, tailed by riposte itself.
    pub fn tail(forest: &str) -> Self {
        Input {
            name: format!("tail:{forest}"),
            fed_by: None,
            live: true,
        }
    }

    /// A batch posted to `POST /api/v1/events` by `principal`.
    pub fn api(principal: &Principal) -> Self {
        Input {
            name: format!("api:{}", principal.name),
            fed_by: Some(principal.clone()),
            live: true,
        }
    }

    /// Files read by `riposte ingest`, run by `principal` (history: any time is fine).
    pub fn file(principal: &Principal) -> Self {
        Input {
            name: format!("file:{}", principal.name),
            fed_by: Some(principal.clone()),
            live: false,
        }
    }
}

/// Events in, stored alerts out. Shared by every source.
pub struct Pipeline {
    detectors: Mutex<Detectors>,
    alerts: Arc<dyn AlertStore>,
    hook: broadcast::Sender<StoredAlert>,
    max_skew: Duration,
    refused_as_evidence: AtomicU64,
    stats: IngestStats,
}

/// What one batch did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct BatchReport {
    /// Records read as identity events.
    pub accepted: u64,
    /// Records that are fine but not identity events (e.g. Samba `Authorization`).
    pub ignored: u64,
    /// Records that could not be read, with where they were.
    pub unparsed: Vec<Unparsed>,
    /// Events whose time was too far from now (live inputs): kept out of detection.
    pub refused_as_evidence: u64,
    /// Alerts raised and stored.
    pub alerts: Vec<StoredAlert>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Unparsed {
    pub location: Location,
    pub message: String,
}

impl From<ParseError> for Unparsed {
    fn from(e: ParseError) -> Self {
        Unparsed {
            location: e.location,
            message: e.message,
        }
    }
}

fn to_new_alert(a: Alert, input: &Input) -> NewAlert {
    let severity = serde_json::to_value(a.severity)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "medium".into());
    NewAlert {
        rule_id: a.rule_id,
        title: a.title,
        technique: a.technique,
        severity,
        description: a.description,
        entities: AlertEntities {
            users: a.entities.users,
            actors: a.entities.actors,
            sources: a.entities.sources,
            dcs: a.entities.dcs,
            services: a.entities.services,
        },
        first_seen: a.first_seen,
        last_seen: a.last_seen,
        event_count: a.event_count,
        events: serde_json::to_value(&a.events).unwrap_or(serde_json::Value::Null),
        input: input.name.clone(),
        fed_by: input.fed_by.clone(),
    }
}

impl Pipeline {
    /// One detector state for every input.
    pub fn new(detector: Detector, alerts: Arc<dyn AlertStore>) -> Self {
        Self::with_detectors(Detectors::Shared(Box::new(detector)), alerts)
    }

    /// A detector state of its own per input, made by `make` (see the module docs).
    pub fn per_input(
        make: impl Fn() -> Detector + Send + Sync + 'static,
        alerts: Arc<dyn AlertStore>,
    ) -> Self {
        Self::with_detectors(Detectors::per_input(make), alerts)
    }

    fn with_detectors(detectors: Detectors, alerts: Arc<dyn AlertStore>) -> Self {
        let (hook, _) = broadcast::channel(ALERT_HOOK_CAPACITY);
        Pipeline {
            detectors: Mutex::new(detectors),
            alerts,
            hook,
            max_skew: DEFAULT_MAX_SKEW,
            refused_as_evidence: AtomicU64::new(0),
            stats: IngestStats::default(),
        }
    }

    /// How far a live event's time may be from now and still count as evidence.
    pub fn with_max_skew(mut self, max_skew: Duration) -> Self {
        self.max_skew = max_skew;
        self
    }

    /// Live events refused as evidence so far (their time too far from now).
    pub fn refused_as_evidence(&self) -> u64 {
        self.refused_as_evidence.load(Ordering::Relaxed)
    }

    /// Whether a live event's time is within the allowed skew of now (an event without a
    /// time counts at the detector's clock, which only such in-skew events move).
    fn in_time(&self, ev: &IdentityEvent, now: time::OffsetDateTime) -> bool {
        ev.time
            .is_none_or(|t| (t - now).unsigned_abs() <= self.max_skew)
    }

    /// The ingestion counters (what the tailers report besides the events).
    pub fn stats(&self) -> &IngestStats {
        &self.stats
    }

    /// The ingestion counters with the windows the detectors hold now, for `/metrics`.
    pub fn ingest_snapshot(&self) -> IngestSnapshot {
        let held = self
            .detectors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .windows_held();
        self.stats.snapshot(held)
    }

    /// The alert hook: every stored alert, in order (see the module docs).
    pub fn subscribe(&self) -> broadcast::Receiver<StoredAlert> {
        self.hook.subscribe()
    }

    pub fn alert_store(&self) -> &Arc<dyn AlertStore> {
        &self.alerts
    }

    /// Runs events through the input's detector, stores each alert (with its input) and
    /// publishes it on the hook. On a live input, events too far from now are refused as
    /// evidence (see [`Pipeline::process_counted`]).
    pub async fn process(
        &self,
        events: &[IdentityEvent],
        input: &Input,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        Ok(self.process_counted(events, input).await?.0)
    }

    /// [`Pipeline::process`], also returning how many events were refused as evidence.
    pub async fn process_counted(
        &self,
        events: &[IdentityEvent],
        input: &Input,
    ) -> Result<(Vec<StoredAlert>, u64), StoreError> {
        let now = time::OffsetDateTime::now_utc();
        self.stats.events(&input.name, events.len() as u64);
        let mut refused = 0u64;
        let raised: Vec<Alert> = {
            let mut detectors = self.detectors.lock().unwrap_or_else(|p| p.into_inner());
            let detector = detectors.for_input(&input.name);
            let mut raised = Vec::new();
            for ev in events {
                if input.live && !self.in_time(ev, now) {
                    refused += 1;
                    continue;
                }
                raised.extend(detector.process(ev));
            }
            raised
        };
        if refused > 0 {
            self.refused_as_evidence
                .fetch_add(refused, Ordering::Relaxed);
            warn!(
                input = %input.name,
                refused,
                max_skew_secs = self.max_skew.as_secs(),
                "events dated too far from now were refused as evidence (kept out of detection)"
            );
        }
        let mut stored = Vec::with_capacity(raised.len());
        for a in raised {
            self.stats.alert(&a.rule_id);
            let s = self.alerts.append_alert(to_new_alert(a, input)).await?;
            info!(alert = %s.id, rule = %s.alert.rule_id, technique = ?s.alert.technique, "alert raised");
            let _ = self.hook.send(s.clone());
            stored.push(s);
        }
        Ok((stored, refused))
    }

    /// Parses a forwarder's batch (NDJSON, or a JSON array of event objects or Samba log
    /// lines) and processes it. Unreadable records are reported with their location
    /// (`<origin> line N` or `<origin> record N` for array items) and do not stop the rest.
    pub async fn process_batch(
        &self,
        body: &[u8],
        origin: &str,
        input: &Input,
    ) -> Result<BatchReport, StoreError> {
        let mut report = BatchReport::default();
        let mut events = Vec::new();
        let mut take = |r: Result<Option<IdentityEvent>, ParseError>| match r {
            Ok(Some(ev)) => events.push(ev),
            Ok(None) => report.ignored += 1,
            Err(e) => report.unparsed.push(e.into()),
        };
        // A JSON array starts `[` then `{`, `"` or `]`; Samba's log header lines start
        // `[2026/11/26 ...` and are read as lines.
        let trimmed = body.trim_ascii_start();
        let is_array = trimmed.starts_with(b"[")
            && matches!(
                trimmed[1..].trim_ascii_start().first(),
                Some(b'{' | b'"' | b']')
            );
        if is_array {
            match serde_json::from_slice::<Vec<serde_json::Value>>(body) {
                Ok(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let loc = Location {
                            file: origin.to_string(),
                            record: Some(i as u64 + 1),
                            line: None,
                        };
                        take(match item {
                            serde_json::Value::String(line) => parse_line(line.as_bytes(), loc),
                            other => parse_json_event(other.to_string().as_bytes(), loc),
                        });
                    }
                }
                Err(e) => report.unparsed.push(Unparsed {
                    location: Location {
                        file: origin.to_string(),
                        record: None,
                        line: Some(e.line() as u64),
                    },
                    message: format!("not a JSON array of events: {e}"),
                }),
            }
        } else {
            for (i, line) in body.split(|b| *b == b'\n').enumerate() {
                if line.trim_ascii().is_empty() {
                    continue;
                }
                let loc = Location {
                    file: origin.to_string(),
                    record: None,
                    line: Some(i as u64 + 1),
                };
                take(parse_line(line, loc));
            }
        }
        report.accepted = events.len() as u64;
        self.stats
            .unparsed(&input.name, report.unparsed.len() as u64);
        (report.alerts, report.refused_as_evidence) = self.process_counted(&events, input).await?;
        Ok(report)
    }
}

/// One line of a Samba log or NDJSON: the JSON object starts at its first `{` (Samba writes a
/// header line, then the record indented). Lines without `{` are log text, not records.
fn parse_line(line: &[u8], loc: Location) -> Result<Option<IdentityEvent>, ParseError> {
    match line.iter().position(|b| *b == b'{') {
        Some(start) => parse_json_event(&line[start..], loc),
        None if line.trim_ascii().starts_with(b"[") => Ok(None),
        None => Err(ParseError {
            location: loc,
            message: "no JSON object on this line".into(),
            whole_file: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_input() -> Input {
        Input {
            name: "test".into(),
            fed_by: None,
            live: false,
        }
    }

    #[tokio::test]
    async fn stored_alerts_reach_the_hook_and_state_spans_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            riposte_store_sql::SqliteStore::open(&dir.path().join("l.sqlite"))
                .await
                .unwrap(),
        );
        let pipeline = Pipeline::new(Detector::builtin(), store.clone());
        let mut hook = pipeline.subscribe();
        let line = |user: &str| {
            format!(
                "{{\"timestamp\": \"2026-11-26T19:23:44.936260+0000\", \"type\": \"Authentication\", \"Authentication\": {{\"version\": {{\"major\": 1, \"minor\": 2}}, \"eventId\": 4625, \"logonType\": 3, \"status\": \"NT_STATUS_WRONG_PASSWORD\", \"remoteAddress\": \"ipv4:10.1.2.3:5000\", \"clientAccount\": \"{user}@CORP.EXAMPLE.TEST\", \"becameAccount\": \"{user}\", \"becameDomain\": \"CORP\"}}}}\n"
            )
        };
        // Three accounts in one batch, three in the next: one spray across batches.
        let first: String = ["a1", "a2", "a3"].iter().map(|u| line(u)).collect();
        let second: String = ["a4", "a5", "a6"].iter().map(|u| line(u)).collect();
        let r1 = pipeline
            .process_batch(first.as_bytes(), "b1", &test_input())
            .await
            .unwrap();
        assert_eq!((r1.accepted, r1.alerts.len()), (3, 0));
        let r2 = pipeline
            .process_batch(second.as_bytes(), "b2", &test_input())
            .await
            .unwrap();
        assert_eq!(r2.alerts.len(), 1, "{r2:?}");
        let sent = hook.try_recv().expect("the stored alert on the hook");
        assert_eq!(sent.id, r2.alerts[0].id);
        assert_eq!(sent.alert.technique.as_deref(), Some("T1110.003"));
        assert_eq!(store.get_alert(sent.id).await.unwrap(), Some(sent));
    }

    fn failure_at(user: &str, from: &str, at: time::OffsetDateTime) -> String {
        let ts = at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        format!(
            "{{\"timestamp\": \"{ts}\", \"type\": \"Authentication\", \"Authentication\": {{\"version\": {{\"major\": 1, \"minor\": 2}}, \"eventId\": 4625, \"logonType\": 3, \"status\": \"NT_STATUS_WRONG_PASSWORD\", \"remoteAddress\": \"ipv4:{from}:5000\", \"clientAccount\": \"{user}@CORP.EXAMPLE.TEST\", \"becameAccount\": \"{user}\", \"becameDomain\": \"CORP\"}}}}\n"
        )
    }

    fn batch(users: &[&str], from: &str, at: time::OffsetDateTime) -> String {
        users.iter().map(|u| failure_at(u, from, at)).collect()
    }

    #[tokio::test]
    async fn live_events_far_from_now_never_move_windows_and_inputs_never_mix() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            riposte_store_sql::SqliteStore::open(&dir.path().join("l.sqlite"))
                .await
                .unwrap(),
        );
        let pipeline = Pipeline::per_input(Detector::builtin, store.clone())
            .with_max_skew(Duration::from_secs(300));
        let now = time::OffsetDateTime::now_utc();
        let users = ["a1", "a2", "a3", "a4", "a5"];
        let api = Input {
            name: "api:token:fwd".into(),
            fed_by: None,
            live: true,
        };
        // A spray dated tomorrow would set the source's suppression a day ahead and hide
        // today's real spray: it is refused as evidence instead.
        let ahead = batch(&users, "10.5.5.5", now + Duration::from_secs(86_400));
        let r = pipeline
            .process_batch(ahead.as_bytes(), "b", &api)
            .await
            .unwrap();
        assert_eq!((r.accepted, r.refused_as_evidence), (5, 5), "{r:?}");
        assert!(r.alerts.is_empty(), "{r:?}");
        let today = batch(&users, "10.5.5.5", now);
        let r = pipeline
            .process_batch(today.as_bytes(), "b", &api)
            .await
            .unwrap();
        assert_eq!(r.alerts.len(), 1, "today's spray is seen: {r:?}");
        assert_eq!(r.alerts[0].alert.input, "api:token:fwd");
        assert_eq!(pipeline.refused_as_evidence(), 5);
        // Three failures forged through the API and three in a DC's log never add up
        // to an alert attributed to the DC log.
        let forged = batch(&["b1", "b2", "b3"], "10.6.6.6", now);
        let logged = batch(&["b4", "b5", "b6"], "10.6.6.6", now);
        assert!(
            pipeline
                .process_batch(forged.as_bytes(), "b", &api)
                .await
                .unwrap()
                .alerts
                .is_empty()
        );
        let r = pipeline
            .process_batch(logged.as_bytes(), "b", &Input::tail("corp"))
            .await
            .unwrap();
        assert!(r.alerts.is_empty(), "{r:?}");
        // Files are history: any time counts.
        let old = batch(&users, "10.7.7.7", now - Duration::from_secs(86_400 * 30));
        let file = Input {
            name: "file:cli:alice@host".into(),
            fed_by: None,
            live: false,
        };
        let r = pipeline
            .process_batch(old.as_bytes(), "f", &file)
            .await
            .unwrap();
        assert_eq!((r.refused_as_evidence, r.alerts.len()), (0, 1), "{r:?}");
    }
}
