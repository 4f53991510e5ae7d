//! Group membership abuse (T1098) beyond the built-in privileged groups of
//! `riposte.sensitive_group_add`: Exchange's and Skype/Lync's privileged groups, more
//! builtin SIDs, bursts of membership changes by one actor, additions by non-admins and
//! accounts adding themselves.

use std::collections::HashMap;

use riposte_events::{IdentityEvent, SourceFormat};

use super::{BuiltinPack, Windows, lower_short};
use crate::alert::{Alert, Severity};

pub const MEMBERSHIP_BURST: (&str, &str, &str) = (
    "riposte.group_membership_burst",
    "Account manipulation: many group membership changes by one account in a short time",
    "T1098",
);
pub const ADD_BY_NON_ADMIN: (&str, &str, &str) = (
    "riposte.group_add_by_non_admin",
    "Account manipulation: member added to a group by an account that is not an admin",
    "T1098",
);
pub const ADDED_AND_REMOVED: (&str, &str, &str) = (
    "riposte.group_member_added_and_removed",
    "Account manipulation: group member added then removed within minutes",
    "T1098",
);
pub const SELF_ADD: (&str, &str, &str) = (
    "riposte.group_self_add",
    "Account manipulation: an account added itself to a group",
    "T1098",
);

/// Builtin groups (whole SIDs) beside mod.rs's: Power Users, Hyper-V Administrators (full
/// control of virtual DCs), Storage Replica Administrators.
const MORE_SENSITIVE_SIDS: [&str; 3] = ["S-1-5-32-547", "S-1-5-32-578", "S-1-5-32-582"];
/// Domain Controllers (-516): its members get replication rights (DCSync).
const MORE_SENSITIVE_RIDS: [&str; 1] = ["-516"];

/// Exchange's and Skype/Lync's groups that hold rights over the domain or every mailbox,
/// by name (they have no fixed RID). Only the distinctive names: "Help Desk" or "Server
/// Management" are also ordinary groups elsewhere.
const PRODUCT_ADMIN_GROUPS: [&str; 22] = [
    "organization management",
    "exchange trusted subsystem",
    "exchange windows permissions",
    "exchange servers",
    "exchange organization administrators",
    "exchange recipient administrators",
    "exchange server administrators",
    "exchange public folder administrators",
    "exchange enterprise servers",
    "exchange domain servers",
    "exchange install domain servers",
    "exchangelegacyinterop",
    "managed availability servers",
    "delegated setup",
    "discovery management",
    "hygiene management",
    "compliance management",
    "recipient management",
    "csadministrator",
    "csuseradministrator",
    "rtcuniversalserveradmins",
    "rtcuniversaluseradmins",
];

/// The built-in groups and product groups this file adds to `sensitive_group`, by
/// upper-case SID or lower-case name.
pub(super) fn more_sensitive(sid: Option<&str>, name: Option<&str>) -> bool {
    sid.is_some_and(|s| {
        MORE_SENSITIVE_SIDS.contains(&s)
            || (s.starts_with("S-1-5-21-") && MORE_SENSITIVE_RIDS.iter().any(|r| s.ends_with(r)))
    }) || name.is_some_and(|n| PRODUCT_ADMIN_GROUPS.contains(&n))
}

/// Exchange setup nesting its own groups and servers: a product group given a product
/// group, or a change made by SYSTEM or a computer account (the Exchange server itself).
pub(super) fn product_setup(ev: &IdentityEvent) -> bool {
    let Some(group) = ev.group.as_ref().and_then(|g| g.name.as_deref()) else {
        return false;
    };
    if !PRODUCT_ADMIN_GROUPS.contains(&group.to_ascii_lowercase().as_str()) {
        return false;
    }
    let member_is_product_group = ev
        .target
        .name
        .as_deref()
        .is_some_and(|m| PRODUCT_ADMIN_GROUPS.contains(&m.to_ascii_lowercase().as_str()));
    member_is_product_group || ev.actor.sid.as_deref() == Some("S-1-5-18") || ev.actor.is_machine()
}

/// Samba logs an "Added" whose group is the new user itself when it creates a user: no
/// membership was granted.
fn samba_creation_echo(ev: &IdentityEvent) -> bool {
    ev.format == SourceFormat::Samba
        && ev
            .group
            .as_ref()
            .and_then(|g| g.name.as_deref())
            .zip(ev.target.name.as_deref())
            .is_some_and(|(g, t)| g.eq_ignore_ascii_case(t))
}

impl BuiltinPack {
    /// Every membership change (4728/4729, 4732/4733, 4756/4757): bursts, who added whom,
    /// and members removed soon after being added.
    pub(super) fn membership_rules(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        self.membership_burst_rule(ev, now, out);
        if matches!(ev.event_id, 4728 | 4732 | 4756) {
            self.group_add_actor_rule(ev, now, out);
        }
        self.added_removed_rule(ev, now, out);
    }

    /// A member removed within `created_deleted_window_secs` of being added, by an account
    /// that is not an admin: a grant for one job (or one attack step) then hidden.
    fn added_removed_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        if ev.failed() || ev.actor.is_empty() || self.is_admin(&ev.actor) || samba_creation_echo(ev)
        {
            return;
        }
        let Some(group) = ev
            .group
            .as_ref()
            .and_then(|g| g.sid.clone().or_else(|| g.key()))
        else {
            return;
        };
        let Some(member) = ev.target.sid.clone().or_else(|| ev.target.key()) else {
            return;
        };
        let key = format!(
            "{}|{}",
            group.to_ascii_lowercase(),
            member.to_ascii_lowercase()
        );
        let window = self.cfg.created_deleted_window_secs;
        if matches!(ev.event_id, 4728 | 4732 | 4756) {
            let added = &mut self.groups.added;
            if added.len() >= self.cfg.max_groups && !added.contains_key(&key) {
                added.retain(|_, (t, _)| *t >= now - window);
                if added.len() >= self.cfg.max_groups {
                    // Forgetting only costs a missed pair, never a false alert.
                    added.clear();
                }
            }
            added.insert(key, (now, ev.actor.display()));
            return;
        }
        let Some((at, adder)) = self.groups.added.remove(&key) else {
            return;
        };
        let age = now - at;
        // One alert per actor per suppression period, however many pairs a burst makes.
        if !(0..=window).contains(&age)
            || !self.fresh(ADDED_AND_REMOVED.0, ev.actor.key().unwrap_or_default(), now)
        {
            return;
        }
        let group_name = ev.group.as_ref().map(|g| g.display()).unwrap_or_default();
        let mut alert = self.single(
            ADDED_AND_REMOVED,
            Severity::Medium,
            format!(
                "{} removed {} from {group_name} {} seconds after {adder} added it (on {})",
                ev.actor.display(),
                ev.target.display(),
                age,
                ev.computer.as_deref().unwrap_or("an unknown DC")
            ),
            ev,
        );
        if !alert
            .entities
            .actors
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&adder))
        {
            alert.entities.actors.push(adder);
        }
        alert.first_seen = time::OffsetDateTime::from_unix_timestamp(at)
            .ok()
            .or(ev.time);
        out.push(alert);
    }

    /// Membership changes by one actor, counted over distinct (group, member, change).
    /// Admins (configured, the built-in Administrator, SYSTEM, computer accounts) are
    /// authorised to make many; privileged groups are `sensitive_group_add`'s whoever acts.
    fn membership_burst_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        if ev.failed() || ev.actor.is_empty() || self.is_admin(&ev.actor) || samba_creation_echo(ev)
        {
            return;
        }
        let Some(actor) = ev.actor.key() else { return };
        let group = ev
            .group
            .as_ref()
            .and_then(|g| g.sid.clone().or_else(|| g.key()))
            .unwrap_or_default();
        let member = ev
            .target
            .sid
            .clone()
            .or_else(|| ev.target.key())
            .unwrap_or_default();
        let cfg = self.cfg.group_burst.clone();
        let max_events = self.cfg.max_events_per_alert;
        let change = format!("{}|{group}|{member}", ev.event_id);
        let g = self
            .groups
            .burst
            .push(&actor, now, cfg.window_secs, change, ev);
        let distinct: std::collections::HashSet<&str> =
            g.entries.iter().map(|(_, c)| c.as_str()).collect();
        let n = distinct.len();
        if n >= cfg.min_changes && g.suppressed_until <= now {
            g.suppressed_until = now + cfg.window_secs;
            let mut alert = Self::windowed_alert(
                MEMBERSHIP_BURST,
                Severity::Medium,
                format!(
                    "{} made {n} group membership changes within {} minutes",
                    ev.actor.display(),
                    (cfg.window_secs / 60).max(1)
                ),
                g,
                max_events,
            );
            alert.entities.actors.push(ev.actor.display());
            out.push(alert);
        }
    }

    /// An addition to a group that is not privileged (those are `sensitive_group_add`'s) by
    /// an account adding itself, or, when admins are configured, by one that is not an admin.
    fn group_add_actor_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        let Some(group) = ev.group.clone() else {
            return;
        };
        if samba_creation_echo(ev) {
            return;
        }
        if ev.failed() || ev.actor.is_empty() || self.sensitive_group(&group) {
            return;
        }
        let same_sid = ev.actor.sid.is_some() && ev.actor.sid == ev.target.sid;
        let same_name = ev.target.sid.is_none()
            && ev
                .actor
                .name
                .as_deref()
                .zip(ev.target.name.as_deref())
                .is_some_and(|(a, t)| lower_short(a) == lower_short(t));
        let rule = if (same_sid || same_name) && ev.actor.sid.as_deref() != Some("S-1-5-18") {
            SELF_ADD
        } else if !self.cfg.admins.is_empty() && !self.is_admin(&ev.actor) {
            ADD_BY_NON_ADMIN
        } else {
            return;
        };
        let key = format!(
            "{}|{}|{}",
            ev.actor.key().unwrap_or_default(),
            group.key().unwrap_or_default(),
            ev.target.key().unwrap_or_default()
        );
        if !self.fresh(rule.0, key, now) {
            return;
        }
        let description = if rule == SELF_ADD {
            format!(
                "{} added itself to {} (on {})",
                ev.actor.display(),
                group.display(),
                ev.computer.as_deref().unwrap_or("an unknown DC")
            )
        } else {
            format!(
                "{} added {} to {} and is not a configured admin (on {})",
                ev.actor.display(),
                ev.target.display(),
                group.display(),
                ev.computer.as_deref().unwrap_or("an unknown DC")
            )
        };
        out.push(self.single(rule, Severity::Medium, description, ev));
    }
}

/// The state of the membership rules, bounded by `max_groups` keys each.
pub(super) struct GroupState {
    /// Changes per actor, for bursts (bounded as the spray windows are).
    burst: Windows,
    /// (group, member) -> when added and by whom, for a removal soon after.
    added: HashMap<String, (i64, String)>,
}

impl GroupState {
    /// Windowed groups held: one per actor whose membership changes are counted.
    pub(super) fn windows_held(&self) -> usize {
        self.burst.groups.len()
    }

    pub(super) fn new(cfg: &crate::config::DetectConfig) -> Self {
        let n = cfg.group_burst.min_changes;
        GroupState {
            burst: Windows::new(
                cfg.max_groups,
                (n * 4).max(64),
                (n * 2).max(10).min(cfg.max_events_per_alert),
            ),
            added: HashMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::accounts::test_support::{alerts, ev, rule_ids, subject};
    use super::*;
    use crate::DetectConfig;

    /// `who` adds (4728/4732/4756) or removes member `rid` to or from group `group` (`gsid`).
    fn change(
        id: u32,
        secs: i64,
        who: &[(&'static str, String); 3],
        group: &str,
        gsid: &str,
        member: &str,
        rid: u32,
    ) -> IdentityEvent {
        let msid = format!("S-1-5-21-1-2-3-{rid}");
        let dn = format!("CN={member},OU=Staff,DC=corp,DC=test");
        ev(
            id,
            secs,
            who,
            &[
                ("TargetUserName", group),
                ("TargetDomainName", "CORP"),
                ("TargetSid", gsid),
                ("MemberName", &dn),
                ("MemberSid", &msid),
            ],
        )
    }

    #[test]
    fn dnsadmins_exchange_and_more_builtin_groups_are_privileged_in_every_form() {
        let who = subject("mallory", 1500);
        for (id, group, gsid) in [
            (4732, "DnsAdmins", "S-1-5-21-1-2-3-1101"),
            (4756, "Organization Management", "S-1-5-21-1-2-3-1190"),
            (4728, "Exchange Windows Permissions", "S-1-5-21-1-2-3-1191"),
            (4732, "Exchange Trusted Subsystem", "S-1-5-21-1-2-3-1192"),
            (4732, "Hyper-V-Administratoren", "S-1-5-32-578"),
            (4728, "Domain Controllers", "S-1-5-21-1-2-3-516"),
        ] {
            let a = alerts(
                DetectConfig::default(),
                &[change(id, 0, &who, group, gsid, "eve", 1600)],
            );
            assert_eq!(a.len(), 1, "{group}");
            assert_eq!(a[0].rule_id, "riposte.sensitive_group_add", "{group}");
            assert_eq!(a[0].technique.as_deref(), Some("T1098"));
            assert_eq!(a[0].entities.actors, vec!["CORP\\mallory".to_string()]);
        }
    }

    #[test]
    fn exchange_setup_nesting_and_ordinary_groups_are_not_privileged() {
        let setup = subject("exadmin", 1100);
        let server = subject("EXCH01$", 1400);
        let events = [
            change(
                4756,
                0,
                &setup,
                "Exchange Windows Permissions",
                "S-1-5-21-1-2-3-1191",
                "Exchange Trusted Subsystem",
                1192,
            ),
            change(
                4756,
                1,
                &server,
                "Exchange Servers",
                "S-1-5-21-1-2-3-1193",
                "EXCH01",
                1400,
            ),
            change(
                4728,
                2,
                &setup,
                "Help Desk",
                "S-1-5-21-1-2-3-1195",
                "bob",
                1601,
            ),
            change(4728, 3, &setup, "Sales", "S-1-5-21-1-2-3-1196", "bob", 1601),
        ];
        assert!(rule_ids(DetectConfig::default(), &events).is_empty());
    }

    #[test]
    fn a_burst_of_membership_changes_by_one_actor_is_reported_once() {
        let who = subject("mallory", 1500);
        let events: Vec<IdentityEvent> = (0..12u32)
            .map(|i| {
                let id = if i % 2 == 0 { 4728 } else { 4729 };
                let g = format!("Team{}", i / 2);
                let gsid = format!("S-1-5-21-1-2-3-{}", 3000 + i / 2);
                change(id, i64::from(i) * 30, &who, &g, &gsid, "eve", 1600)
            })
            .collect();
        let mut a = alerts(DetectConfig::default(), &events);
        // Each removal undoes an addition: one added-and-removed alert beside the burst.
        assert_eq!(
            a.iter().map(|a| a.rule_id.as_str()).collect::<Vec<_>>(),
            vec![ADDED_AND_REMOVED.0, MEMBERSHIP_BURST.0]
        );
        a.remove(0);
        assert_eq!(a[0].event_count, 10);
        assert_eq!(a[0].entities.actors, vec!["CORP\\mallory".to_string()]);
        assert!(a[0].entities.users.contains(&"eve".to_string()));
    }

    #[test]
    fn the_windows_held_count_the_actors_whose_changes_are_counted() {
        let mut detector = crate::Detector::builtin();
        assert_eq!(detector.windows_held(), 0);
        for (i, actor) in ["mallory", "trent"].iter().enumerate() {
            let who = subject(actor, 1500 + i as u32);
            detector.process(&change(
                4728,
                0,
                &who,
                "Team0",
                "S-1-5-21-1-2-3-3000",
                "eve",
                1600,
            ));
        }
        assert_eq!(detector.windows_held(), 2);
    }

    #[test]
    fn onboarding_one_hire_and_slow_changes_are_not_a_burst() {
        let helpdesk = subject("helpdesk1", 1300);
        let mut events: Vec<IdentityEvent> = (0..6u32)
            .map(|i| {
                change(
                    4728,
                    i64::from(i) * 20,
                    &helpdesk,
                    &format!("Team{i}"),
                    &format!("S-1-5-21-1-2-3-{}", 3000 + i),
                    "newhire",
                    1700,
                )
            })
            .collect();
        // Twenty changes an hour apart.
        events.extend((0..20u32).map(|i| {
            change(
                4728,
                10_000 + i64::from(i) * 3600,
                &helpdesk,
                "Sales",
                "S-1-5-21-1-2-3-3100",
                &format!("u{i}"),
                1800 + i,
            )
        }));
        assert!(rule_ids(DetectConfig::default(), &events).is_empty());
        // An authorised admin (configured, or the built-in Administrator) working fast.
        let fast = |who: &[(&'static str, String); 3]| -> Vec<IdentityEvent> {
            (0..20u32)
                .map(|i| {
                    change(
                        if i % 2 == 0 { 4728 } else { 4729 },
                        i64::from(i),
                        who,
                        "Sales",
                        "S-1-5-21-1-2-3-3100",
                        &format!("u{}", i / 2),
                        1800 + i / 2,
                    )
                })
                .collect()
        };
        let cfg = DetectConfig {
            admins: vec!["helpdesk1".into()],
            ..DetectConfig::default()
        };
        assert!(rule_ids(cfg, &fast(&helpdesk)).is_empty());
        assert!(
            rule_ids(
                DetectConfig::default(),
                &fast(&subject("Administrator", 500))
            )
            .is_empty()
        );
        assert_eq!(
            rule_ids(DetectConfig::default(), &fast(&subject("mallory", 1500))),
            vec![
                ADDED_AND_REMOVED.0.to_string(),
                MEMBERSHIP_BURST.0.to_string()
            ]
        );
    }

    /// A Samba groupChange line by the account with RID `rid`.
    fn samba(secs: u32, rid: u32, action: &str, group: &str, user: &str) -> IdentityEvent {
        let line = format!(
            r#"{{"timestamp": "2026-12-08T03:15:{:02}.069219+0000", "type": "groupChange", "groupChange": {{"version": {{"major": 1, "minor": 1}}, "eventId": {}, "statusCode": 0, "status": "Success", "action": "{action}", "remoteAddress": "ipv4:127.0.0.11:48940", "userSid": "S-1-5-21-6-5-3-{rid}", "group": "CN={group},OU=Staff,DC=corp,DC=example,DC=test", "user": "CN={user},OU=Staff,DC=corp,DC=example,DC=test"}}}}"#,
            secs,
            if action == "Added" { 4728 } else { 4729 }
        );
        let loc = riposte_events::Location {
            file: "samba.log".into(),
            record: None,
            line: Some(1),
        };
        riposte_events::parse_json_event(line.as_bytes(), loc)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn samba_bursts_count_and_its_user_creation_echo_does_not() {
        let burst: Vec<IdentityEvent> = (0..10u32)
            .map(|i| {
                samba(
                    i,
                    1105,
                    if i % 2 == 0 { "Added" } else { "Removed" },
                    "Sales",
                    &format!("u{}", i / 2),
                )
            })
            .collect();
        assert_eq!(
            rule_ids(DetectConfig::default(), &burst),
            vec![
                ADDED_AND_REMOVED.0.to_string(),
                MEMBERSHIP_BURST.0.to_string()
            ]
        );
        let cfg = DetectConfig {
            admins: vec!["S-1-5-21-6-5-3-1106".into()],
            ..DetectConfig::default()
        };
        let echoes: Vec<IdentityEvent> = (0..12u32)
            .map(|i| samba(i, 1107, "Added", &format!("u{i}"), &format!("u{i}")))
            .collect();
        assert!(rule_ids(cfg.clone(), &echoes).is_empty());
        // The benign day's helpdesk changes by the built-in Administrator.
        let admin: Vec<IdentityEvent> = (0..20u32)
            .map(|i| {
                samba(
                    i,
                    500,
                    if i % 2 == 0 { "Added" } else { "Removed" },
                    "bd1-helpdesk",
                    &format!("u{}", i / 2),
                )
            })
            .collect();
        assert!(rule_ids(cfg, &admin).is_empty());
    }

    #[test]
    fn a_member_added_then_removed_within_minutes_is_reported_unless_an_admin_did_it() {
        let who = subject("mallory", 1500);
        let a = alerts(
            DetectConfig::default(),
            &[
                change(
                    4728,
                    0,
                    &who,
                    "VPN Users",
                    "S-1-5-21-1-2-3-3200",
                    "eve",
                    1600,
                ),
                change(
                    4729,
                    300,
                    &who,
                    "VPN Users",
                    "S-1-5-21-1-2-3-3200",
                    "eve",
                    1600,
                ),
            ],
        );
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].rule_id, ADDED_AND_REMOVED.0);
        assert_eq!(a[0].entities.users, vec!["eve".to_string()]);
        let admin = subject("Administrator", 500);
        let benign = [
            change(
                4728,
                0,
                &admin,
                "VPN Users",
                "S-1-5-21-1-2-3-3200",
                "eve",
                1600,
            ),
            change(
                4729,
                30,
                &admin,
                "VPN Users",
                "S-1-5-21-1-2-3-3200",
                "eve",
                1600,
            ),
            // A week-long project membership.
            change(
                4728,
                100,
                &who,
                "Project X",
                "S-1-5-21-1-2-3-3201",
                "bob",
                1601,
            ),
            change(
                4729,
                100 + 7 * 86_400,
                &who,
                "Project X",
                "S-1-5-21-1-2-3-3201",
                "bob",
                1601,
            ),
        ];
        assert!(rule_ids(DetectConfig::default(), &benign).is_empty());
    }

    #[test]
    fn self_adds_and_non_admin_adds_are_reported_and_admin_adds_are_not() {
        let eve = subject("eve", 1600);
        assert_eq!(
            rule_ids(
                DetectConfig::default(),
                &[change(
                    4728,
                    0,
                    &eve,
                    "VPN Users",
                    "S-1-5-21-1-2-3-3200",
                    "eve",
                    1600
                )]
            ),
            vec![SELF_ADD.0.to_string()]
        );
        let cfg = DetectConfig {
            admins: vec!["helpdesk1".into()],
            ..DetectConfig::default()
        };
        let helpdesk = subject("helpdesk1", 1300);
        let mallory = subject("mallory", 1500);
        let events = [
            change(
                4728,
                0,
                &helpdesk,
                "VPN Users",
                "S-1-5-21-1-2-3-3200",
                "bob",
                1601,
            ),
            change(
                4728,
                1,
                &mallory,
                "VPN Users",
                "S-1-5-21-1-2-3-3200",
                "carl",
                1602,
            ),
        ];
        assert_eq!(rule_ids(cfg, &events), vec![ADD_BY_NON_ADMIN.0.to_string()]);
        // Without configured admins, nobody can be told apart: no alert.
        assert!(rule_ids(DetectConfig::default(), &events).is_empty());
    }
}
