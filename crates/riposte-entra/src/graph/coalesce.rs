//! Coalescing: a tenant's concurrent requests go to Graph together.
//!
//! Every attempt of [`GraphClient::send`] enters one tenant-wide queue. An
//! attempt that finds the tenant idle (no other action under way, no stream
//! of actions begun, nothing in flight, nothing waiting) is sent at once, on
//! its own, exactly as without coalescing: a single action is never slower.
//! One that finds the tenant busy waits, at most [`GATHER`], for others to
//! join it (a bulk's children arrive a few milliseconds apart; a few actions
//! at once go as soon as each has an attempt waiting); then, or as soon as
//! [`BATCH_LIMIT`] wait, the first caller to find one of the
//! [`MAX_IN_FLIGHT`] slots free sends the waiting ones as one `$batch` (one
//! alone goes as a plain request). Each caller gets back what a plain
//! attempt would have given it (an answer, a 429/503 to retry after its
//! Retry-After, a 401, Graph's error), and keeps its own retries, back-off
//! and token renewal in `send`: throttling is still handled per request, and
//! each sub-request counts once against Graph's limits. A sub-request
//! Graph's answer leaves out, or a `$batch` that got no answer, is
//! `Unavailable` to its caller: a read is sent again, a write is settled by
//! reading, never assumed.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

use super::{Attempt, BATCH_LIMIT, EntraError, GraphClient};

/// HTTP requests in the air at once per tenant (plain or `$batch`): as many
/// as a bulk had before coalescing (`[bulk] per_tenant` was 4), each now
/// carrying up to 20 requests.
pub(crate) const MAX_IN_FLIGHT: usize = 4;

/// How long an attempt that found the tenant busy waits for others to go
/// with it (fewer than 20 waiting): a part of one Graph round trip (a bulk's
/// children come a few to a few tens of milliseconds apart, between their
/// ledger writes).
pub(crate) const GATHER: Duration = Duration::from_millis(100);

/// More actions than this begun within [`RECENT`] are a stream (a bulk):
/// their requests gather even between two of them. A few actions at a time
/// are not.
const STREAM: usize = 8;
const RECENT: Duration = Duration::from_secs(1);

/// How long an attempt waits for a slot before it goes anyway: a slow or
/// stalled answer (up to `timeout_secs`) never holds the tenant's other
/// requests back longer than this.
const OVERDUE: Duration = Duration::from_secs(1);

/// One attempt of one request, as `send` would make it.
struct Outgoing {
    method: Method,
    /// The absolute URL, already checked against the configured Graph origin.
    url: String,
    /// The path as the caller gave it (for messages).
    path: String,
    body: Option<Value>,
    /// The URL relative to `graph_url`, as a `$batch` sub-request names it
    /// (`None`: this one can only go on its own).
    relative: Option<String>,
}

struct Queued {
    id: u64,
    since: Instant,
    /// When it may go with fewer than 20: at once if the tenant was idle
    /// when it came, else after [`GATHER`].
    ready_at: Instant,
    request: Outgoing,
    reply: oneshot::Sender<Result<Attempt, EntraError>>,
}

#[derive(Default)]
struct Queue {
    next_id: u64,
    waiting: VecDeque<Queued>,
    in_flight: usize,
    /// When the last `STREAM + 1` actions began.
    action_starts: VecDeque<Instant>,
}

impl Queue {
    /// Whether more than [`STREAM`] actions began within the last [`RECENT`].
    fn in_stream(&self, now: Instant) -> bool {
        self.action_starts.len() > STREAM
            && self
                .action_starts
                .front()
                .is_some_and(|t| now < *t + RECENT)
    }
}

/// The tenant's queue of attempts and its free slots.
#[derive(Default)]
pub(super) struct Coalescer {
    queue: Mutex<Queue>,
    /// Actions (read, write, read back) under way on the tenant ([`Acting`]).
    actions: AtomicUsize,
    /// Told whenever a slot is freed.
    freed: Notify,
}

impl Coalescer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // The queue holds no invariant a panicking holder could break half-way.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues an attempt: its id, when it may go with fewer than 20, and
    /// where its answer will come.
    fn enqueue(
        &self,
        request: Outgoing,
    ) -> (u64, Instant, oneshot::Receiver<Result<Attempt, EntraError>>) {
        let (reply, answer) = oneshot::channel();
        let now = Instant::now();
        let mut q = self.lock();
        q.next_id += 1;
        let id = q.next_id;
        // Busy: another action under way, or a stream of them (a bulk's
        // children, started one after another between their ledger writes),
        // or lookups in flight or waiting (a bulk being planned).
        let busy = self.actions.load(Ordering::Relaxed) > 1
            || q.in_stream(now)
            || q.in_flight > 0
            || !q.waiting.is_empty();
        let ready_at = if busy { now + GATHER } else { now };
        q.waiting.push_back(Queued {
            id,
            since: now,
            ready_at,
            request,
            reply,
        });
        (id, ready_at, answer)
    }

    /// The next flight, if one may go: something waits, it is ready (20
    /// wait, or the first has gathered long enough) and a slot is free (or
    /// the first is overdue). The first waiting attempt, with the batchable
    /// ones after it (up to 20) when it is batchable itself.
    fn take_flight(&self) -> Option<Flight<'_>> {
        let mut q = self.lock();
        let now = Instant::now();
        let front = q.waiting.front()?;
        let overdue = now >= front.since + OVERDUE;
        // A few actions at once (no stream): once each has an attempt
        // waiting, nobody else is about to join.
        let actions = self.actions.load(Ordering::Relaxed);
        let all_waiting = actions > 0 && q.waiting.len() >= actions && !q.in_stream(now);
        let ready = front.ready_at <= now || q.waiting.len() >= BATCH_LIMIT || all_waiting;
        if !overdue && (!ready || q.in_flight >= MAX_IN_FLIGHT) {
            return None;
        }
        let first = q.waiting.pop_front()?;
        let mut entries = vec![first];
        if entries[0].request.relative.is_some() {
            let mut rest = VecDeque::with_capacity(q.waiting.len());
            while let Some(next) = q.waiting.pop_front() {
                if entries.len() < BATCH_LIMIT && next.request.relative.is_some() {
                    entries.push(next);
                } else {
                    rest.push_back(next);
                }
            }
            q.waiting = rest;
        }
        q.in_flight += 1;
        Some(Flight {
            coalescer: self,
            entries,
        })
    }
}

/// Attempts taken from the queue, holding one slot until dropped (even when
/// the caller sending them is cancelled: its slot is freed, and the callers
/// whose attempts it carried see their answer channel closed).
struct Flight<'a> {
    coalescer: &'a Coalescer,
    entries: Vec<Queued>,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.coalescer.lock().in_flight -= 1;
        self.coalescer.freed.notify_waiters();
    }
}

/// An action under way on the tenant, until dropped: while another is, the
/// tenant is busy and attempts gather.
pub(crate) struct Acting<'a>(&'a Coalescer);

impl Drop for Acting<'_> {
    fn drop(&mut self) {
        self.0.actions.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Takes a caller's attempt out of the queue if its caller stops waiting, so
/// nothing is sent for a caller that is gone.
struct Withdraw<'a> {
    coalescer: &'a Coalescer,
    id: u64,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        self.coalescer.lock().waiting.retain(|q| q.id != self.id);
    }
}

impl GraphClient {
    /// Marks an action (several requests one after the other) under way.
    pub(crate) fn acting(&self) -> Acting<'_> {
        self.coalescer.actions.fetch_add(1, Ordering::Relaxed);
        let mut q = self.coalescer.lock();
        q.action_starts.push_back(Instant::now());
        while q.action_starts.len() > STREAM + 1 {
            q.action_starts.pop_front();
        }
        Acting(&self.coalescer)
    }

    /// One attempt of a request: sent on its own, or with others waiting
    /// for the same tenant in one `$batch` (see the module's text).
    pub(super) async fn exchange(
        &self,
        method: &Method,
        url: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Attempt, EntraError> {
        if !self.settings.batch {
            return self.attempt(method, url, path, body).await;
        }
        let request = Outgoing {
            method: method.clone(),
            url: url.to_string(),
            path: path.to_string(),
            body: body.cloned(),
            relative: self.relative(url),
        };
        let (id, ready_at, mut answer) = self.coalescer.enqueue(request);
        let overdue = Instant::now() + OVERDUE;
        // The next look: when this attempt may go with fewer than 20, then
        // when it may go without a free slot, then each OVERDUE after.
        let mut next_look = ready_at;
        let _withdraw = Withdraw {
            coalescer: &self.coalescer,
            id,
        };
        loop {
            match answer.try_recv() {
                Ok(result) => return result,
                Err(oneshot::error::TryRecvError::Closed) => return Err(self.lost_in_flight()),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let freed = self.coalescer.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(flight) = self.coalescer.take_flight() {
                self.fly(flight).await;
                continue;
            }
            tokio::select! {
                result = &mut answer => return result.unwrap_or_else(|_| Err(self.lost_in_flight())),
                _ = &mut freed => {}
                _ = tokio::time::sleep_until(next_look.into()) => {
                    next_look = if Instant::now() < overdue { overdue } else { Instant::now() + OVERDUE };
                }
            }
        }
    }

    /// A request whose sender stopped before Graph answered: it may have run.
    fn lost_in_flight(&self) -> EntraError {
        self.unavailable("the request was sent with others in a $batch whose sender stopped before Graph answered; it may or may not have run")
    }

    /// `url` relative to `graph_url` (`/users/...`), as `$batch` wants it.
    fn relative(&self, url: &str) -> Option<String> {
        let rest = url.strip_prefix(self.settings.graph_url.as_str())?;
        rest.starts_with('/').then(|| rest.to_string())
    }

    /// Sends one flight and answers each of its callers.
    async fn fly(&self, mut flight: Flight<'_>) {
        if flight.entries.len() == 1 {
            let q = flight.entries.pop().expect("one entry");
            let r = &q.request;
            let result = self
                .attempt(&r.method, &r.url, &r.path, r.body.as_ref())
                .await;
            let _ = q.reply.send(result);
            return;
        }
        let entries = std::mem::take(&mut flight.entries);
        let results = self.batch_attempt(&entries).await;
        for (q, result) in entries.into_iter().zip(results) {
            let _ = q.reply.send(result);
        }
        drop(flight);
    }

    /// One `$batch` call carrying `entries`, mapped back to one attempt each.
    async fn batch_attempt(&self, entries: &[Queued]) -> Vec<Result<Attempt, EntraError>> {
        let requests: Vec<Value> = entries
            .iter()
            .enumerate()
            .map(|(n, q)| {
                let r = &q.request;
                let mut sub = json!({
                    "id": (n + 1).to_string(),
                    "method": r.method.as_str(),
                    "url": r.relative.as_deref().unwrap_or_default(),
                });
                if let Some(body) = &r.body {
                    sub["body"] = body.clone();
                    sub["headers"] = json!({ "Content-Type": "application/json" });
                }
                sub
            })
            .collect();
        let envelope = json!({ "requests": requests });
        let each = |result: &Result<Attempt, EntraError>| -> Vec<Result<Attempt, EntraError>> {
            entries.iter().map(|_| copy_attempt(result)).collect()
        };
        let url = match self.url("/$batch") {
            Ok(url) => url,
            Err(e) => return each(&Err(e)),
        };
        let answer = match self
            .attempt(&Method::POST, &url, "/$batch", Some(&envelope))
            .await
        {
            Ok(Attempt::Answer(answer)) => answer,
            // The whole call throttled, refused, unanswered or unreadable:
            // each request carried has that as its own attempt's result.
            other => return each(&other),
        };
        let Some(responses) = answer["responses"].as_array() else {
            return each(&Err(self.malformed("a $batch answer without responses")));
        };
        entries
            .iter()
            .enumerate()
            .map(|(n, q)| {
                let id = (n + 1).to_string();
                match responses.iter().find(|s| s["id"].as_str() == Some(&id)) {
                    Some(sub) => self.sub_attempt(&q.request, sub),
                    None => Err(self.unavailable(format!(
                        "Graph's $batch answer left out {} {}; it may or may not have run",
                        q.request.method, q.request.path
                    ))),
                }
            })
            .collect()
    }

    /// A sub-request's answer as the attempt it stands for.
    fn sub_attempt(&self, request: &Outgoing, sub: &Value) -> Result<Attempt, EntraError> {
        let status = sub["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .and_then(|s| StatusCode::from_u16(s).ok())
            .ok_or_else(|| {
                self.malformed(format!(
                    "{} {}: a $batch sub-answer without a status",
                    request.method, request.path
                ))
            })?;
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            let retry_after = sub["headers"].as_object().and_then(|h| {
                h.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                    .and_then(|(_, v)| {
                        v.as_str()
                            .map(str::to_string)
                            .or(v.as_u64().map(|n| n.to_string()))
                    })
                    .and_then(|v| v.trim().parse::<u64>().ok())
            });
            return Ok(Attempt::Retry {
                status,
                retry_after,
            });
        }
        let body = sub.get("body").cloned().unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(Attempt::Answer(body));
        }
        let error = EntraError::Graph {
            tenant: self.settings.name.clone(),
            status: status.as_u16(),
            code: body["error"]["code"].as_str().unwrap_or("").to_string(),
            message: body["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .to_string(),
        };
        if status == StatusCode::UNAUTHORIZED {
            return Ok(Attempt::Unauthorized(error));
        }
        Err(error)
    }
}

fn copy_attempt(result: &Result<Attempt, EntraError>) -> Result<Attempt, EntraError> {
    match result {
        Ok(Attempt::Answer(v)) => Ok(Attempt::Answer(v.clone())),
        Ok(Attempt::Retry {
            status,
            retry_after,
        }) => Ok(Attempt::Retry {
            status: *status,
            retry_after: *retry_after,
        }),
        Ok(Attempt::Unauthorized(e)) => Ok(Attempt::Unauthorized(e.clone())),
        Err(e) => Err(e.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TenantSettings;
    use secrecy::SecretString;

    fn client() -> GraphClient {
        GraphClient::new(TenantSettings {
            name: "contoso".into(),
            tenant_id: "t".into(),
            client_id: "c".into(),
            client_secret: SecretString::from("s".to_string()),
            authority: "https://login.example".into(),
            graph_url: "https://graph.example/v1.0".into(),
            max_attempts: 3,
            max_backoff: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            batch: true,
        })
        .unwrap()
    }

    fn write() -> Outgoing {
        Outgoing {
            method: Method::PATCH,
            url: "https://graph.example/v1.0/users/x".into(),
            path: "/users/x".into(),
            body: Some(json!({ "accountEnabled": false })),
            relative: Some("/users/x".into()),
        }
    }

    #[test]
    fn a_sub_answer_is_the_attempt_a_plain_answer_would_be() {
        let c = client();
        let throttled =
            json!({ "id": "1", "status": 429, "headers": { "retry-after": "3" }, "body": {} });
        assert!(matches!(
            c.sub_attempt(&write(), &throttled),
            Ok(Attempt::Retry { status, retry_after: Some(3) }) if status == StatusCode::TOO_MANY_REQUESTS
        ));
        let refused = json!({ "id": "1", "status": 400, "body": { "error": { "code": "Request_BadRequest", "message": "on-premises mastered" } } });
        let e = c.sub_attempt(&write(), &refused).err().unwrap();
        assert!(e.is_refusal() && !e.may_have_applied(), "{e}");
        let expired = json!({ "id": "1", "status": 401, "body": {} });
        assert!(matches!(
            c.sub_attempt(&write(), &expired),
            Ok(Attempt::Unauthorized(_))
        ));
        // No status: nobody can tell whether it ran.
        let e = c
            .sub_attempt(&write(), &json!({ "id": "1" }))
            .err()
            .unwrap();
        assert!(e.may_have_applied(), "{e}");
    }

    #[test]
    fn only_urls_under_graph_url_go_in_a_batch() {
        let c = client();
        assert_eq!(
            c.relative("https://graph.example/v1.0/users?$skiptoken=2")
                .as_deref(),
            Some("/users?$skiptoken=2")
        );
        assert_eq!(c.relative("https://graph.example/v1.0x/users"), None);
        assert_eq!(c.relative("https://graph.example/beta/users"), None);
    }

    #[tokio::test]
    async fn a_caller_that_stops_waiting_leaves_nothing_queued() {
        let c = client();
        // Every slot taken: an attempt has to wait.
        c.coalescer.lock().in_flight = MAX_IN_FLIGHT;
        let waiting = c.exchange(
            &Method::PATCH,
            "https://graph.example/v1.0/users/x",
            "/users/x",
            None,
        );
        let gave_up = tokio::time::timeout(Duration::from_millis(20), waiting).await;
        assert!(gave_up.is_err(), "it should still be waiting");
        assert!(
            c.coalescer.lock().waiting.is_empty(),
            "its attempt is still queued"
        );
    }

    #[test]
    fn a_stream_of_actions_makes_the_tenant_busy_a_few_do_not() {
        let c = client();
        let now = Instant::now();
        let two: Vec<_> = (0..STREAM).map(|_| c.acting()).collect();
        assert!(
            !c.coalescer.lock().in_stream(now),
            "a few actions are no stream"
        );
        drop(two);
        let _third = c.acting();
        assert!(c.coalescer.lock().in_stream(Instant::now()));
        assert!(
            !c.coalescer.lock().in_stream(Instant::now() + RECENT),
            "a stream ends when no action has begun for a while"
        );
    }

    #[test]
    fn a_few_actions_go_together_as_soon_as_each_waits() {
        let c = client();
        let (_a, _b) = (c.acting(), c.acting());
        c.coalescer.lock().in_flight = 1;
        let (_, ready_at, _first) = c.coalescer.enqueue(write());
        assert!(
            ready_at > Instant::now(),
            "the tenant is busy: it may gather"
        );
        assert!(
            c.coalescer.take_flight().is_none(),
            "the other action may still come"
        );
        let _second = c.coalescer.enqueue(write());
        let flight = c
            .coalescer
            .take_flight()
            .expect("both actions wait: nobody else will");
        assert_eq!(flight.entries.len(), 2);
    }
}
