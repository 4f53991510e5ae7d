//! The built-in identity rule pack.

use std::collections::{HashMap, HashSet, VecDeque};

use riposte_events::{Account, IdentityEvent, UacFlag};

use crate::alert::{Alert, Entities, EventRef, Severity};
use crate::compromise::Compromise;
use crate::config::DetectConfig;

mod accounts;
mod dcshadow;
mod delegation;
#[cfg(test)]
mod dev_recordings;
mod dirchange;
mod enumeration;
mod forged_tickets;
mod groups;
mod kerb_util;
mod nopac;
mod pass_the_hash;
mod password_set;
mod policy;
mod sid_history;
mod weakened;
mod zerologon;

/// Rule ids, titles and ATT&CK techniques of the pack.
pub mod rules {
    pub const SPRAY: (&str, &str, &str) = (
        "riposte.password_spray",
        "Password spray: failed logons for many accounts from one source",
        "T1110.003",
    );
    pub const BRUTE_FORCE: (&str, &str, &str) = (
        "riposte.brute_force",
        "Brute force: repeated failed logons for one account",
        "T1110.001",
    );
    pub const KERBEROAST: (&str, &str, &str) = (
        "riposte.kerberoasting",
        "Kerberoasting: RC4 service ticket for a user service account",
        "T1558.003",
    );
    pub const ASREP: (&str, &str, &str) = (
        "riposte.asrep_roasting",
        "AS-REP roasting: TGT issued without Kerberos pre-authentication",
        "T1558.004",
    );
    pub const DCSYNC: (&str, &str, &str) = (
        "riposte.dcsync",
        "DCSync: directory replication by an account that is not a domain controller",
        "T1003.006",
    );
    pub const UAC: (&str, &str, &str) = (
        "riposte.account_weakened",
        "Account manipulation: risky userAccountControl flag turned on",
        "T1098",
    );
    pub const GROUP: (&str, &str, &str) = (
        "riposte.sensitive_group_add",
        "Account manipulation: member added to a privileged group",
        "T1098",
    );
    pub const RESET: (&str, &str, &str) = (
        "riposte.password_reset_by_non_admin",
        "Account manipulation: password reset by an account that is not an admin",
        "T1098",
    );
    /// The account that logged on successfully from a spraying or brute-forcing source.
    pub const COMPROMISED_AFTER_SPRAY: (&str, &str, &str) = crate::compromise::RULE;
    pub use super::accounts::{
        ADMIN_LIKE_CREATED, COMPUTER_BY_NON_ADMIN, COMPUTER_LIKE_USER, CREATED_DELETED,
        LOCAL_ACCOUNT, RENAMED_ADMIN_LIKE,
    };
    pub use super::dcshadow::{DCSHADOW_NTDSDSA, DCSHADOW_REPLICATION, DCSHADOW_SPN};
    pub use super::delegation::{CONSTRAINED_DELEGATION, RBCD, SHADOW_CREDENTIALS};
    pub use super::enumeration::{DECOY_READ, USER_ENUMERATION};
    pub use super::forged_tickets::{FORGED_TICKET_FIELDS, TGS_WITHOUT_TGT};
    pub use super::groups::{ADD_BY_NON_ADMIN, ADDED_AND_REMOVED, MEMBERSHIP_BURST, SELF_ADD};
    pub use super::nopac::SAM_NAME_SPOOFING;
    pub use super::pass_the_hash::{PTH_NEW_CREDENTIALS, PTH_NTLM_LOGON};
    pub use super::password_set::{
        DC_MACHINE_RESET, PASSWORD_CHANGED_BY_OTHER, SAMR_NTLM_PASSWORD,
    };
    pub use super::policy::{
        ADMINSDHOLDER, DCSYNC_RIGHTS, DOMAIN_PERMISSIONS, DSRM_PASSWORD, GPO_CHANGED, TRUST_CHANGED,
    };
    pub use super::sid_history::SID_HISTORY;
    pub use super::weakened::USER_SPN;
    pub use super::zerologon::ZEROLOGON;
}

/// DS-Replication-Get-Changes, -Get-Changes-All, -Get-Changes-In-Filtered-Set.
const REPLICATION_GUIDS: [&str; 3] = [
    "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2",
    "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2",
    "89e95b76-444d-4c62-991a-0facbeda640c",
];

/// Well-known privileged groups by SID suffix (domain RIDs) or whole SID (builtin).
const SENSITIVE_RIDS: [&str; 6] = ["-512", "-518", "-519", "-520", "-526", "-527"];
const SENSITIVE_SIDS: [&str; 5] = [
    "S-1-5-32-544",
    "S-1-5-32-548",
    "S-1-5-32-549",
    "S-1-5-32-550",
    "S-1-5-32-551",
];
const SENSITIVE_NAMES: [&str; 12] = [
    "domain admins",
    "enterprise admins",
    "schema admins",
    "administrators",
    "account operators",
    "server operators",
    "backup operators",
    "print operators",
    "group policy creator owners",
    "key admins",
    "enterprise key admins",
    "dnsadmins",
];

/// Flags that weaken an account when turned on, and why.
const RISKY_FLAGS: [(UacFlag, &str); 7] = [
    (
        UacFlag::DontReqPreauth,
        "pre-authentication disabled (AS-REP roastable)",
    ),
    (UacFlag::PasswdNotreqd, "password not required"),
    (UacFlag::DontExpirePassword, "password never expires"),
    (UacFlag::TrustedForDelegation, "unconstrained delegation"),
    (UacFlag::UseDesKeyOnly, "DES-only keys"),
    (
        UacFlag::TrustedToAuthForDelegation,
        "protocol-transition delegation (trusted to authenticate for delegation)",
    ),
    (
        UacFlag::EncryptedTextPwdAllowed,
        "reversible password encryption",
    ),
];

fn unix(ev: &IdentityEvent) -> Option<i64> {
    ev.time.map(|t| t.unix_timestamp())
}

/// Per-key sliding windows with bounded memory: at most `max_groups` keys, at most
/// `max_entries` counted entries per key and `max_refs` event references per key (the oldest
/// go first; counts can only be under-stated, never invented).
struct Windows {
    groups: HashMap<String, Group>,
    max_groups: usize,
    max_entries: usize,
    max_refs: usize,
}

#[derive(Default)]
struct Group {
    /// (time, counted value): what the rule counts.
    entries: VecDeque<(i64, String)>,
    /// The newest events of the window, for the alert (with their DC).
    refs: VecDeque<(EventRef, Option<String>)>,
    last_seen: i64,
    suppressed_until: i64,
    total: u64,
}

impl Windows {
    fn new(max_groups: usize, max_entries: usize, max_refs: usize) -> Self {
        Windows {
            groups: HashMap::new(),
            max_groups: max_groups.max(1),
            max_entries: max_entries.max(1),
            max_refs: max_refs.max(1),
        }
    }

    /// Makes room for a new key: drops expired groups, and if that is not enough the stalest
    /// tenth, so the cost of a full table is paid once per many inserts, not on each.
    fn make_room(&mut self, now: i64, window: i64) {
        self.groups
            .retain(|_, g| g.last_seen >= now - window || g.suppressed_until > now);
        if self.groups.len() >= self.max_groups {
            let mut ages: Vec<i64> = self.groups.values().map(|g| g.last_seen).collect();
            let cut = (self.max_groups / 10).max(1).min(ages.len() - 1);
            let (_, nth, _) = ages.select_nth_unstable(cut);
            let limit = *nth;
            self.groups.retain(|_, g| g.last_seen > limit);
        }
    }

    /// Adds an entry and returns the group after dropping what fell out of the window.
    fn push(
        &mut self,
        key: &str,
        now: i64,
        window: i64,
        value: String,
        ev: &IdentityEvent,
    ) -> &mut Group {
        if !self.groups.contains_key(key) && self.groups.len() >= self.max_groups {
            self.make_room(now, window);
        }
        let g = self.groups.entry(key.to_string()).or_default();
        while g.entries.front().is_some_and(|(t, _)| *t < now - window) {
            g.entries.pop_front();
        }
        while g
            .refs
            .front()
            .is_some_and(|(r, _)| r.time.is_some_and(|t| t.unix_timestamp() < now - window))
        {
            g.refs.pop_front();
        }
        if g.entries.is_empty() {
            g.refs.clear();
            g.total = 0;
        }
        if g.entries.len() >= self.max_entries {
            g.entries.pop_front();
        }
        g.entries.push_back((now, value));
        if g.refs.len() >= self.max_refs {
            g.refs.pop_front();
        }
        g.refs.push_back((EventRef::from(ev), ev.computer.clone()));
        g.total += 1;
        g.last_seen = g.last_seen.max(now);
        g
    }
}

/// The built-in pack's state.
pub struct BuiltinPack {
    cfg: DetectConfig,
    spray: Windows,
    brute: Windows,
    /// (rule, key) -> suppressed until (unix seconds), for one-event rules.
    seen: HashMap<(String, String), i64>,
    /// Hosts that logged directory-service access events: domain controllers.
    learned_dcs: HashSet<String>,
    /// Last userAccountControl seen per object (Samba logs only the new value).
    uac_seen: HashMap<String, u32>,
    /// Successes from spraying or brute-forcing sources.
    compromise: Compromise,
    /// Latest event time seen: the clock for events that carry none.
    clock: i64,
    /// Computers given DC SPNs (dcshadow.rs).
    dcshadow: dcshadow::DcShadowState,
    /// Deleted halves of 5136 modifies, to diff with the added half (dirchange.rs).
    dir_deleted: dirchange::DeletedValues,
    /// Account creations and renames (accounts.rs).
    accounts: accounts::AccountState,
    /// Group membership changes (groups.rs).
    groups: groups::GroupState,
    /// Kerberos: TGTs and the DCs watched (forged tickets).
    tickets: forged_tickets::TicketState,
    /// Names computers were renamed to without `$` (noPac).
    nopac: nopac::NoPacState,
    /// NTLM network logon sessions that opened SAMR.
    samr: password_set::SamrState,
    /// Unknown Kerberos principals per source.
    enumeration: Windows,
}

/// An EventData field the event really carries, by its Windows name: `-`, empty and
/// `%%1793` (<value not set>) mean nothing. Every family reads fields through this.
pub(super) fn field<'a>(ev: &'a IdentityEvent, name: &str) -> Option<&'a str> {
    let v = ev.data.get(name)?.trim();
    (!(v.is_empty() || v == "-" || v == "%%1793")).then_some(v)
}

fn lower_short(name: &str) -> String {
    let n = name.split('@').next().unwrap_or(name);
    let n = n.rsplit('\\').next().unwrap_or(n);
    n.trim_end_matches('$').to_ascii_lowercase()
}

fn host_label(host: &str) -> String {
    host.split('.').next().unwrap_or(host).to_ascii_lowercase()
}

impl BuiltinPack {
    pub fn new(cfg: DetectConfig) -> Self {
        // Deciding needs only about the threshold's worth of entries per key: keeping a few
        // times that (and twice that in event references) bounds memory per key while a flood
        // from one source still shows every new account it tries.
        let entries = |threshold: usize| (threshold * 4).max(64);
        let refs = |threshold: usize| (threshold * 2).max(10).min(cfg.max_events_per_alert);
        let spray_n = cfg.spray.min_accounts;
        let brute_n = cfg.brute_force.min_failures;
        BuiltinPack {
            spray: Windows::new(cfg.max_groups, entries(spray_n), refs(spray_n)),
            brute: Windows::new(cfg.max_groups, entries(brute_n), refs(brute_n)),
            seen: HashMap::new(),
            learned_dcs: HashSet::new(),
            uac_seen: HashMap::new(),
            compromise: Compromise::new(
                cfg.spray.window_secs.max(cfg.brute_force.window_secs),
                cfg.max_groups,
            ),
            clock: 0,
            dcshadow: Default::default(),
            dir_deleted: Default::default(),
            accounts: accounts::AccountState::default(),
            groups: groups::GroupState::new(&cfg),
            tickets: Default::default(),
            nopac: Default::default(),
            samr: Default::default(),
            enumeration: enumeration::enumeration_windows(
                cfg.max_groups,
                cfg.user_enumeration.min_unknown,
                cfg.max_events_per_alert,
            ),
            cfg,
        }
    }

    /// Windowed groups held (spray sources, brute-forced accounts): for `/metrics`.
    pub fn windows_held(&self) -> usize {
        self.spray.groups.len()
            + self.brute.groups.len()
            + self.enumeration.groups.len()
            + self.groups.windows_held()
    }

    pub fn process(&mut self, ev: &IdentityEvent) -> Vec<Alert> {
        let now = unix(ev).unwrap_or(self.clock);
        self.clock = self.clock.max(now);
        if self.cfg.learn_dcs_from_events {
            self.learn_dc(ev);
        }
        let mut out = Vec::new();
        match ev.event_id {
            4625 | 4771 | 4768 | 4776 => {
                if ev.auth_failure() {
                    self.spray_rule(ev, now, &mut out);
                    self.brute_rule(ev, now, &mut out);
                    // The sources of a new spray or brute force are attacking: their
                    // successes (since the failures began) name compromised accounts.
                    let attacks: Vec<(String, i64, String)> = out
                        .iter()
                        .flat_map(|a| {
                            let since = a.first_seen.map_or(now, |t| t.unix_timestamp());
                            let why = format!("the source of {}: {}", a.rule_id, a.description);
                            a.entities
                                .sources
                                .iter()
                                .map(move |s| (s.clone(), since, why.clone()))
                        })
                        .collect();
                    for (source, since, why) in attacks {
                        out.extend(self.compromise.attack_seen(&source, since, now, &why));
                    }
                } else if ev.event_id == 4768 {
                    self.asrep_rule(ev, now, &mut out);
                }
                // After the spray correlation, which takes only its own alerts' sources.
                if matches!(ev.event_id, 4768 | 4771) {
                    self.watch_tickets(ev, now, &mut out);
                    if ev.auth_failure() {
                        self.user_enumeration_rule(ev, now, &mut out);
                    }
                }
                if ev.event_id == 4768 {
                    self.spoofed_name_ticket_rule(ev, now, &mut out);
                    self.forged_fields_rule(ev, now, &mut out);
                }
            }
            4769 => {
                self.kerberoast_rule(ev, now, &mut out);
                self.watch_tickets(ev, now, &mut out);
                self.tgs_without_tgt_rule(ev, now);
                self.forged_fields_rule(ev, now, &mut out);
                self.spoofed_name_ticket_rule(ev, now, &mut out);
            }
            4770 => self.watch_tickets(ev, now, &mut out),
            4662 => {
                self.dcsync_rule(ev, now, &mut out);
                self.dcshadow_replication_rule(ev, now, &mut out);
                self.domain_permissions_rule(ev, now, &mut out);
                self.decoy_read_rule(ev, now, &mut out);
            }
            4738 => {
                self.uac_rule(ev, now, &mut out);
                self.protection_removed_rule(ev, now, &mut out);
                self.sid_history_rule(ev, now, &mut out);
                self.constrained_delegation_rule(ev, now, &mut out);
            }
            4742 => {
                self.dcshadow_spn_rule(ev, now, &mut out);
                self.computer_flags_rule(ev, now, &mut out);
                self.protection_removed_rule(ev, now, &mut out);
                self.sid_history_rule(ev, now, &mut out);
                self.constrained_delegation_rule(ev, now, &mut out);
                self.computer_changed_rule(ev, now);
                self.zerologon_rule(ev, now, &mut out);
                self.computer_rename_rule(ev, now, &mut out);
            }
            4765 | 4766 => self.sid_history_rule(ev, now, &mut out),
            5136 => {
                self.dcshadow_spn_rule(ev, now, &mut out);
                self.sid_history_rule(ev, now, &mut out);
                self.ds_flags_rule(ev, now, &mut out);
                self.user_spn_rule(ev, now, &mut out);
                self.constrained_delegation_rule(ev, now, &mut out);
                self.credential_link_rule(ev, now, &mut out);
                self.dcsync_rights_rule(ev, now, &mut out);
                self.adminsdholder_rule(ev, now, &mut out);
                self.gpo_rule(ev, now, &mut out);
            }
            5137 => {
                self.dcshadow_ntdsdsa_rule(ev, now, &mut out);
                self.trust_rule(ev, now, &mut out);
            }
            5141 => self.dcshadow_ntdsdsa_rule(ev, now, &mut out),
            4706 | 4716 | 4865 | 4867 => self.trust_rule(ev, now, &mut out),
            4794 => self.dsrm_rule(ev, now, &mut out),
            4720 => {
                self.remember_uac(ev);
                self.user_created_rule(ev, now, &mut out);
            }
            4728 | 4732 | 4756 => {
                self.group_rule(ev, &mut out);
                self.membership_rules(ev, now, &mut out);
            }
            4729 | 4733 | 4757 => self.membership_rules(ev, now, &mut out),
            4741 => self.computer_created_rule(ev, now, &mut out),
            4726 | 4743 => self.account_deleted_rule(ev, now, &mut out),
            4781 => {
                self.account_renamed_rule(ev, now, &mut out);
                self.ticket_names_renamed(ev);
                self.computer_rename_rule(ev, now, &mut out);
            }
            4724 => {
                self.reset_rule(ev, now, &mut out);
                if !out.iter().any(|a| a.rule_id == rules::RESET.0) {
                    self.password_set_rules(ev, now, &mut out);
                }
            }
            4723 => self.password_set_rules(ev, now, &mut out),
            4624 => {
                self.samr_sessions(ev, now);
                self.forged_fields_rule(ev, now, &mut out);
                self.pass_the_hash_rule(ev, now, &mut out);
            }
            4672 | 4634 => self.forged_fields_rule(ev, now, &mut out),
            5145 => self.samr_sessions(ev, now),
            _ => {}
        }
        if !ev.failed() {
            let failing = ev
                .source()
                .is_some_and(|s| self.spray.groups.contains_key(&s.to_ascii_lowercase()));
            out.extend(self.compromise.process(ev, now, failing));
        }
        out
    }

    fn single(
        &self,
        rule: (&str, &str, &str),
        severity: Severity,
        description: String,
        ev: &IdentityEvent,
    ) -> Alert {
        let mut entities = Entities::default();
        entities.add_event(ev);
        Alert {
            rule_id: rule.0.into(),
            title: rule.1.into(),
            technique: Some(rule.2.into()),
            severity,
            description,
            entities,
            first_seen: ev.time,
            last_seen: ev.time,
            event_count: 1,
            events: vec![EventRef::from(ev)],
        }
    }

    /// True the first time (rule, key) is seen within the suppression period.
    fn fresh(&mut self, rule: &str, key: String, now: i64) -> bool {
        if self.seen.len() >= self.cfg.max_groups {
            self.seen.retain(|_, until| *until > now);
            if self.seen.len() >= self.cfg.max_groups {
                self.seen.clear();
            }
        }
        let k = (rule.to_string(), key);
        match self.seen.get(&k) {
            Some(until) if *until > now => false,
            _ => {
                self.seen.insert(k, now + self.cfg.suppress_secs);
                true
            }
        }
    }

    fn windowed_alert(
        rule: (&str, &str, &str),
        severity: Severity,
        description: String,
        g: &Group,
        max_events: usize,
    ) -> Alert {
        let mut entities = Entities::default();
        for (r, dc) in &g.refs {
            if let Some(u) = &r.user {
                entities.add_user(u);
            }
            if let Some(s) = &r.source {
                entities.add_source(s);
            }
            if let Some(d) = dc {
                entities.add_dc(d);
            }
        }
        let events: Vec<EventRef> = g
            .refs
            .iter()
            .take(max_events)
            .map(|(r, _)| r.clone())
            .collect();
        Alert {
            rule_id: rule.0.into(),
            title: rule.1.into(),
            technique: Some(rule.2.into()),
            severity,
            description,
            entities,
            first_seen: g.refs.front().and_then(|(r, _)| r.time),
            last_seen: g.refs.back().and_then(|(r, _)| r.time),
            event_count: g.total,
            events,
        }
    }

    fn spray_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        let (Some(src), Some(account)) = (ev.source(), ev.target.key()) else {
            return;
        };
        let src = src.to_ascii_lowercase();
        let cfg = self.cfg.spray.clone();
        let max_events = self.cfg.max_events_per_alert;
        let g = self.spray.push(&src, now, cfg.window_secs, account, ev);
        let distinct: HashSet<&str> = g.entries.iter().map(|(_, a)| a.as_str()).collect();
        let n = distinct.len();
        if n >= cfg.min_accounts && g.suppressed_until <= now {
            g.suppressed_until = now + cfg.window_secs;
            out.push(Self::windowed_alert(
                rules::SPRAY,
                Severity::High,
                format!(
                    "{n} distinct accounts failed to authenticate from {src} within {} minutes",
                    cfg.window_secs / 60
                ),
                g,
                max_events,
            ));
        }
    }

    fn brute_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        let Some(account) = ev.target.key() else {
            return;
        };
        let cfg = self.cfg.brute_force.clone();
        let max_events = self.cfg.max_events_per_alert;
        let g = self
            .brute
            .push(&account, now, cfg.window_secs, String::new(), ev);
        let n = g.entries.len();
        if n >= cfg.min_failures && g.suppressed_until <= now {
            g.suppressed_until = now + cfg.window_secs;
            out.push(Self::windowed_alert(
                rules::BRUTE_FORCE,
                Severity::Medium,
                format!(
                    "{n} failed authentications for {account} within {} minutes",
                    cfg.window_secs / 60
                ),
                g,
                max_events,
            ));
        }
    }

    fn kerberoast_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        let rc4 = matches!(ev.ticket_encryption, Some(0x17 | 0x18));
        if !rc4 || ev.failed() {
            return;
        }
        let Some(service) = ev.service.as_ref().and_then(|s| s.name.as_deref()) else {
            return;
        };
        let svc = service.to_ascii_lowercase();
        // Tickets for krbtgt are TGT renewals; machine accounts have random 120-character
        // passwords that cannot be cracked: neither is kerberoasting.
        if svc == "krbtgt" || svc.starts_with("krbtgt/") || svc.ends_with('$') {
            return;
        }
        let requester = ev.target.name.as_deref().unwrap_or("");
        if requester.split('@').next().unwrap_or("").ends_with('$') {
            return;
        }
        let key = format!("{}|{svc}", lower_short(requester));
        if self.fresh(rules::KERBEROAST.0, key, now) {
            out.push(self.single(
                rules::KERBEROAST,
                Severity::High,
                format!(
                    "{} requested an RC4 (0x{:x}) service ticket for {service}",
                    ev.target.display(),
                    ev.ticket_encryption.unwrap_or(0)
                ),
                ev,
            ));
        }
    }

    fn asrep_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        if ev.pre_auth_type != Some(0) || ev.failed() {
            return;
        }
        let Some(account) = ev.target.key() else {
            return;
        };
        let key = format!("{account}|{}", ev.source().unwrap_or("-"));
        if self.fresh(rules::ASREP.0, key, now) {
            out.push(self.single(
                rules::ASREP,
                Severity::High,
                format!(
                    "a TGT for {} was issued without pre-authentication to {}",
                    ev.target.display(),
                    ev.source().unwrap_or("an unknown source")
                ),
                ev,
            ));
        }
    }

    /// A domain controller acts through its machine account (`NAME$`). A `$` alone proves
    /// nothing (every computer has one, and DCSync from a compromised computer account is
    /// the case that matters), so a machine account counts as a DC only when it is listed in
    /// `domain_controllers`, is the host that logged the event, or has itself logged events
    /// only DCs log (KDC or directory-service access) in this stream.
    fn is_dc(&self, actor: &Account, logged_by: Option<&str>) -> bool {
        if matches!(actor.sid.as_deref(), Some("S-1-5-18" | "S-1-5-9")) {
            return true;
        }
        let Some(name) = actor.name.as_deref() else {
            return false;
        };
        if !name.ends_with('$') {
            return false;
        }
        let short = lower_short(name);
        // Both heuristics trust what the event says; live detection turns them off
        // (`learn_dcs_from_events`) and takes DCs from the directory.
        (self.cfg.learn_dcs_from_events && logged_by.is_some_and(|h| host_label(h) == short))
            || self.learned_dcs.contains(&short)
            || self
                .cfg
                .domain_controllers
                .iter()
                .any(|d| host_label(&lower_short(d)) == short)
    }

    /// Hosts that log KDC events (4768/4769/4771) or directory-service access are DCs.
    fn learn_dc(&mut self, ev: &IdentityEvent) {
        let dc_only = matches!(ev.event_id, 4768 | 4769 | 4771)
            || (ev.event_id == 4662 && ev.data.get("ObjectServer").is_some_and(|s| s == "DS"));
        if dc_only
            && let Some(c) = &ev.computer
            && self.learned_dcs.len() < 10_000
            && !self.learned_dcs.contains(&host_label(c))
        {
            self.learned_dcs.insert(host_label(c));
        }
    }

    fn listed(list: &[String], a: &Account) -> bool {
        list.iter().any(|x| {
            let x = x.trim();
            a.sid.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(x))
                || a.name
                    .as_deref()
                    .is_some_and(|n| lower_short(n) == lower_short(x) && !x.is_empty())
        })
    }

    fn dcsync_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        let replication = ev
            .properties
            .iter()
            .any(|p| REPLICATION_GUIDS.contains(&p.as_str()));
        if !replication
            || self.is_dc(&ev.actor, ev.computer.as_deref())
            || Self::listed(&self.cfg.replication_allowed, &ev.actor)
        {
            return;
        }
        let key = ev.actor.key().unwrap_or_default();
        if self.fresh(rules::DCSYNC.0, key, now) {
            out.push(self.single(
                rules::DCSYNC,
                Severity::Critical,
                if ev.actor.is_machine() {
                    format!(
                        "{} used directory replication rights (DS-Replication-Get-Changes) and is not a known domain controller (if it is one, list it in domain_controllers)",
                        ev.actor.display()
                    )
                } else {
                    format!(
                        "{} used directory replication rights (DS-Replication-Get-Changes) and is not a domain controller",
                        ev.actor.display()
                    )
                },
                ev,
            ));
        }
    }

    /// Records the value of an event that gives only the new UAC (Samba); returns the one
    /// seen before for the same object, if any.
    fn remember_uac(&mut self, ev: &IdentityEvent) -> Option<u32> {
        let (Some(new), None) = (ev.new_uac, ev.old_uac) else {
            return None;
        };
        let key = ev
            .data
            .get("dn")
            .map(|d| d.to_ascii_lowercase())
            .or_else(|| ev.target.key())?;
        if self.uac_seen.len() >= self.cfg.max_groups && !self.uac_seen.contains_key(&key) {
            // Forgetting only costs a missed diff on a later change, never a false alert.
            self.uac_seen.clear();
        }
        self.uac_seen.insert(key, new)
    }

    /// 4738 (and Samba's user changes): the risky flags turned on, judged and
    /// reported by the one rule of weakened.rs (`flags_alert`), as 4742 and 5136 are.
    fn uac_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        let mut enabled = ev.uac_enabled.clone();
        if let (Some(old), Some(new)) = (self.remember_uac(ev), ev.new_uac) {
            enabled.extend(
                UacFlag::ALL
                    .into_iter()
                    .filter(|f| new & f.bit() != 0 && old & f.bit() == 0),
            );
        }
        let target = ev.target.display();
        self.flags_alert(ev, now, &target, &enabled, out);
    }

    fn sensitive_group(&self, g: &Account) -> bool {
        let sid = g.sid.as_deref().map(str::to_ascii_uppercase);
        let name = g.name.as_deref().map(str::to_ascii_lowercase);
        if groups::more_sensitive(sid.as_deref(), name.as_deref()) {
            return true;
        }
        if let Some(sid) = g.sid.as_deref() {
            let up = sid.to_ascii_uppercase();
            if SENSITIVE_SIDS.contains(&up.as_str())
                || (up.starts_with("S-1-5-21-") && SENSITIVE_RIDS.iter().any(|r| up.ends_with(r)))
            {
                return true;
            }
        }
        g.name.as_deref().is_some_and(|n| {
            let n = n.to_ascii_lowercase();
            SENSITIVE_NAMES.contains(&n.as_str())
                || self
                    .cfg
                    .sensitive_groups
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(&n))
        })
    }

    fn group_rule(&mut self, ev: &IdentityEvent, out: &mut Vec<Alert>) {
        let Some(group) = &ev.group else { return };
        if ev.failed() || !self.sensitive_group(group) || groups::product_setup(ev) {
            return;
        }
        out.push(self.single(
            rules::GROUP,
            Severity::High,
            format!(
                "{} added {} to {}",
                ev.actor.display(),
                ev.target.display(),
                group.display()
            ),
            ev,
        ));
    }

    /// Admins by configuration; always the built-in Administrator (RID 500), SYSTEM and
    /// machine accounts (services acting as the computer).
    fn is_admin(&self, a: &Account) -> bool {
        let sid = a.sid.as_deref().unwrap_or("");
        sid == "S-1-5-18"
            || (sid.starts_with("S-1-5-21-") && sid.ends_with("-500"))
            || a.is_machine()
            || Self::listed(&self.cfg.admins, a)
    }

    fn reset_rule(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        if ev.failed() || self.is_admin(&ev.actor) || ev.actor.is_empty() {
            return;
        }
        let same = match (ev.actor.key(), ev.target.key()) {
            (Some(a), Some(t)) => a == t,
            _ => false,
        } || (ev.actor.sid.is_some() && ev.actor.sid == ev.target.sid);
        if same {
            return;
        }
        let key = format!(
            "{}|{}",
            ev.actor.key().unwrap_or_default(),
            ev.target.key().unwrap_or_default()
        );
        if self.fresh(rules::RESET.0, key, now) {
            out.push(self.single(
                rules::RESET,
                Severity::High,
                format!(
                    "{} reset the password of {} and is not a configured admin",
                    ev.actor.display(),
                    ev.target.display()
                ),
                ev,
            ));
        }
    }
}
