//! Who a Sigma alert names. Sigma rules say nothing about identities, so riposte decides,
//! the same way for every rule, and never from the rule's tags (whoever wrote the rule chose
//! those):
//! - `users` (attacked or changed): the event's target account (`TargetUserName` /
//!   `TargetDomainName` / `TargetSid`; in Samba's records the account authenticated or
//!   changed);
//! - `actors` (who acted): the event's subject (`SubjectUserName` / `SubjectDomainName` /
//!   `SubjectUserSid`);
//! - never `users`: a target anyone can name without any right (a failed authentication, a
//!   lockout, a ticket asked for an account without pre-authentication): it is named in the
//!   description instead, so no automation rule on `users` acts on an account an attacker
//!   picked, whatever the Sigma rule's technique;
//! - correlations name only the identities they are grouped by (a `TargetUserName` group:
//!   users; a `SubjectUserName` group: actors; an `IpAddress` or `WorkstationName` group:
//!   sources), never the other accounts of the event that completed the count.

use riposte_events::IdentityEvent;

use crate::alert::Entities;

/// Whether anyone can make this event name the target account of their choice.
pub(crate) fn anyone_can_name_target(ev: &IdentityEvent) -> bool {
    ev.auth_failure()
        || (ev.event_id == 4769 && ev.failed())
        || ev.event_id == 4740
        || (ev.event_id == 4768 && ev.pre_auth_type == Some(0))
}

/// A detection's entities: the event's, less a target anyone could have named.
pub(crate) fn of_detection(ev: &IdentityEvent) -> (Entities, Option<String>) {
    let mut entities = Entities::default();
    entities.add_event(ev);
    let unvouched = withhold_target(ev, &mut entities);
    (entities, unvouched)
}

/// A correlation's entities: its group key's identities and the event's sources and DCs.
pub(crate) fn of_correlation(
    ev: &IdentityEvent,
    group_key: &[(String, String)],
) -> (Entities, Option<String>) {
    let mut entities = Entities::default();
    if let Some(s) = ev.source() {
        entities.add_source(s);
    }
    if let Some(dc) = &ev.computer {
        entities.add_dc(dc);
    }
    let mut unvouched = None;
    for (field, value) in group_key {
        let value = value.trim();
        if value.is_empty() || value == "-" {
            continue;
        }
        match field.to_ascii_lowercase().as_str() {
            "targetusername" | "targetsid" | "targetusersid" => {
                if anyone_can_name_target(ev) {
                    unvouched = Some(value.to_string());
                } else {
                    entities.add_user(value);
                }
            }
            "subjectusername" | "subjectusersid" => entities.add_actor(value),
            "ipaddress" | "clientaddress" | "workstationname" | "workstation" => {
                entities.add_source(value)
            }
            _ => {}
        }
    }
    (entities, unvouched)
}

fn withhold_target(ev: &IdentityEvent, entities: &mut Entities) -> Option<String> {
    if !anyone_can_name_target(ev) || ev.target.is_empty() {
        return None;
    }
    let named = ev.target.display();
    entities.users.retain(|u| !u.eq_ignore_ascii_case(&named));
    Some(named)
}

#[cfg(test)]
mod tests {
    use super::*;
    use riposte_events::{Location, parse_json_event};

    fn win(id: u32, data: &str) -> IdentityEvent {
        let text = format!(
            r##"{{"Event":{{"System":{{"EventID":{id},"Computer":"dc1.corp","TimeCreated":{{"#attributes":{{"SystemTime":"2026-01-01T10:00:00Z"}}}}}},"EventData":{data}}}}}"##
        );
        parse_json_event(
            text.as_bytes(),
            Location {
                file: "t".into(),
                record: None,
                line: Some(1),
            },
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn targets_are_users_subjects_are_actors_and_attacker_named_targets_are_neither() {
        let changed = win(
            4738,
            r#"{"SubjectUserName":"helpdesk","SubjectDomainName":"CORP","TargetUserName":"ernie","TargetDomainName":"CORP"}"#,
        );
        let (e, unvouched) = of_detection(&changed);
        assert_eq!(e.users, vec!["CORP\\ernie"]);
        assert_eq!(e.actors, vec!["CORP\\helpdesk"]);
        assert_eq!(unvouched, None);
        let failed = win(
            4625,
            r#"{"TargetUserName":"ceo","TargetDomainName":"CORP","IpAddress":"10.0.0.9","Status":"0xC000006D","SubStatus":"0xC000006A"}"#,
        );
        let (e, unvouched) = of_detection(&failed);
        assert!(e.users.is_empty(), "{e:?}");
        assert_eq!(unvouched.as_deref(), Some("CORP\\ceo"));
        assert_eq!(e.sources, vec!["10.0.0.9"]);
        let (e, _) = of_correlation(
            &changed,
            &[
                ("TargetUserName".into(), "ernie".into()),
                ("IpAddress".into(), "10.1.1.1".into()),
            ],
        );
        assert_eq!(e.users, vec!["ernie"]);
        assert!(e.actors.is_empty(), "{e:?}");
        assert!(e.sources.contains(&"10.1.1.1".to_string()));
        let (e, unvouched) = of_correlation(&failed, &[("TargetUserName".into(), "ceo".into())]);
        assert!(e.users.is_empty());
        assert_eq!(unvouched.as_deref(), Some("ceo"));
        let (e, _) = of_correlation(&failed, &[("IpAddress".into(), "10.0.0.9".into())]);
        assert!(e.users.is_empty() && e.actors.is_empty(), "{e:?}");
    }
}
