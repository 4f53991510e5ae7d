use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use riposte_events::{IdentityEvent, Location};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// Who and what an alert is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entities {
    /// Accounts attacked or changed (targets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Accounts that acted (subjects), e.g. who ran DCSync or reset a password.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actors: Vec<String>,
    /// Source addresses or workstation names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// The hosts (domain controllers) that logged the events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dcs: Vec<String>,
    /// Services (Kerberos SPN accounts) involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
}

fn add(v: &mut Vec<String>, s: Option<String>) {
    if let Some(s) = s
        && !v.iter().any(|x| x.eq_ignore_ascii_case(&s))
    {
        v.push(s);
    }
}

impl Entities {
    pub fn add_user(&mut self, u: &str) {
        add(&mut self.users, Some(u.to_string()));
    }

    pub fn add_source(&mut self, s: &str) {
        add(&mut self.sources, Some(s.to_string()));
    }

    pub fn add_actor(&mut self, a: &str) {
        add(&mut self.actors, Some(a.to_string()));
    }

    pub fn add_dc(&mut self, d: &str) {
        add(&mut self.dcs, Some(d.to_string()));
    }

    /// Adds the event's target, actor, source and DC.
    pub fn add_event(&mut self, ev: &IdentityEvent) {
        if !ev.target.is_empty() {
            add(&mut self.users, Some(ev.target.display()));
        }
        if !ev.actor.is_empty() {
            add(&mut self.actors, Some(ev.actor.display()));
        }
        add(&mut self.sources, ev.source().map(str::to_string));
        add(&mut self.dcs, ev.computer.clone());
        if let Some(s) = &ev.service {
            add(&mut self.services, s.name.clone());
        }
    }
}

/// An event behind an alert, by reference (where to find it) with the key facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRef {
    pub origin: Location,
    pub event_id: u32,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub time: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl From<&IdentityEvent> for EventRef {
    fn from(ev: &IdentityEvent) -> Self {
        EventRef {
            origin: ev.origin.clone(),
            event_id: ev.event_id,
            time: ev.time,
            user: (!ev.target.is_empty()).then(|| ev.target.display()),
            source: ev.source().map(str::to_string),
        }
    }
}

/// One detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub rule_id: String,
    pub title: String,
    /// MITRE ATT&CK technique id, e.g. `T1110.003`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technique: Option<String>,
    pub severity: Severity,
    /// What was seen, in one sentence.
    pub description: String,
    pub entities: Entities,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub first_seen: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_seen: Option<OffsetDateTime>,
    /// How many events the rule counted (may exceed `events.len()`, which is capped).
    pub event_count: u64,
    pub events: Vec<EventRef>,
}
